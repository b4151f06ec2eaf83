"""The grid-time plan of benchmarks/grid_time.py from given rates, by hand, and the merge of
concurrent measurements; the MOSES plan by hand and its measurement at tiny sizes."""

import json
import sys

import pytest
import torch

from benchmarks import grid_time
from benchmarks.grid_time import plan, plan_moses, slowest, without_options


def test_plan_by_hand():
    rates = {
        f"{m}/{o}": {"train_step_s": 2.0, "val_batch_s": 0.5, "test_batch_s": 1.0}
        for m, objectives in (("convhvae", ("vae", "mim")), ("pixelhvae", ("vae", "amim")))
        for o in objectives
    }
    rates.update({"convhvae/nll_s_per_image": 10.0, "pixelhvae/nll_s_per_image": 1.0})
    rates.update({"convhvae/pictures_s": 3.0, "pixelhvae/pictures_s": 30.0})
    rates.update({"convhvae/consistency_s": 7.0, "pixelhvae/consistency_s": 70.0})
    rates.update({"ksg_s": 11.0, "knn_s": 13.0, "tsne_s": 17.0})
    out = plan(rates, epochs=3, jobs_per_device=4)
    # MNIST: 500 training steps of 2 s + 100 validation batches of 0.5 s per epoch; the test: 100
    # test batches of 1 s, 10,000 NLL images at 10 s, pictures 3 s, consistency 7 s, KSG + K-NN +
    # t-SNE 41 s
    assert out["convhvae/vae/mnist"] == {
        "epoch_s": 1050.0,
        "train_s": 3150.0,
        "nll_s": 100000.0,
        "test_s": 100 + 100000 + 3 + 7 + 41,
    }
    # Omniglot: 230 steps + 13.45 batches; 8,115 test images (81.15 batches), pictures 30, consistency 70
    assert out["pixelhvae/amim/omniglot"]["epoch_s"] == pytest.approx(460 + 6.725)
    assert out["pixelhvae/amim/omniglot"]["test_s"] == pytest.approx(81.15 + 8115 + 30 + 70 + 41)
    # per architecture: 2 objectives × 2 priors × 10 seeds of each data set
    mnist = 3 * 1050 + 100 + 100000 + 51
    omniglot = 3 * (460 + 6.725) + 81.15 + 81150 + 51
    assert out["convhvae/grid_s"] == pytest.approx(2 * 20 * (2 * mnist + omniglot))
    assert out["convhvae/grid_wall_s"] == pytest.approx(out["convhvae/grid_s"] / 4)  # 4 jobs at once


def test_concurrent_copies_keep_the_slowest():
    copies = [
        {"a/vae": {"train_step_s": 2.0, "train_images_per_s": 50.0}, "ksg_s": 3.0, "a/nll_passes": 12},
        {"a/vae": {"train_step_s": 2.5, "train_images_per_s": 40.0}, "ksg_s": 1.0, "a/nll_passes": 10},
    ]
    assert slowest(copies) == {
        "a/vae": {"train_step_s": 2.5, "train_images_per_s": 40.0},
        "ksg_s": 3.0,
        "a/nll_passes": 12,
    }


def test_copies_get_the_other_arguments():
    argv = ["--steps", "4", "--jobs-per-device", "4", "--out=x.json", "--threads", "1"]
    assert without_options(argv, "--jobs-per-device", "--out") == ["--steps", "4", "--threads", "1"]


def test_moses_plan_by_hand():
    rates = {f"moses/{o}": {"train_molecules_per_s": 1000.0} for o in ("vae", "amim")}
    rates["moses/mim"] = {"train_molecules_per_s": 500.0}
    rates.update({"decode_s_per_molecule": 0.001, "nll_s_per_molecule": 0.1})
    out = plan_moses(rates, epochs=2, train_size=1_584_663, seeds=3, jobs_per_device=2)
    # 34,000 decodes (30,000 samples, 4,000 greedy) at 1 ms, 500 NLL molecules at 0.1 s
    vae = {"epoch_s": 1584.663, "train_s": 3169.326, "nll_s": 50.0, "test_s": 84.0}
    assert out["moses/vae"] == pytest.approx(vae) and out["moses/amim"] == pytest.approx(vae)
    assert out["moses/mim"]["epoch_s"] == pytest.approx(3169.326)
    # 3 seeds of each objective's 2 epochs and test
    assert out["moses/grid_s"] == pytest.approx(3 * (4 * 3169.326 + 3 * 84))
    assert out["moses/grid_wall_s"] == pytest.approx(out["moses/grid_s"] / 2)


def test_moses_measurement_runs_at_tiny_sizes(monkeypatch, tmp_path, capsys):
    out = tmp_path / "moses.json"
    tiny = ["--batch", "8", "--hidden", "16", "--latent", "4", "--decoder-layers", "1", "--steps", "1"]
    argv = ["grid_time", "--grid", "moses", *tiny, "--sample-batches", "1", "--nll-passes", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--epochs", "2", "--out", str(out)])
    monkeypatch.setattr(grid_time, "configure_allocator", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        grid_time.main()
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "moses grid (9 jobs)" in printed and f"written to {out}" in printed
    results = json.loads(out.read_text())
    assert {"moses/vae", "moses/amim", "moses/mim", "moses/grid_s", "moses/grid_wall_s"} == set(
        results["plan"]
    )
    assert results["moses/mim"]["train_molecules_per_s"] > 0 and results["nll_s_per_molecule"] > 0
