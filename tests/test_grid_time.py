"""The grid-time plan of benchmarks/grid_time.py from given rates, by hand, and the merge of
concurrent measurements."""

import pytest

from benchmarks.grid_time import plan, slowest, without_options


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
