"""Every benchmark `make bench` runs (the Makefile's bench target) runs to its end at tiny sizes and
writes the results it should: a benchmark that nothing runs rots (issue 23: a data module that
predated prepare_data/setup stopped two of them, and the GPU check's planning stage with them).

Each script's `main` runs in this process with tiny arguments (`--tiny`: 4×4 images and tiny
networks for the image benchmarks; fewer samples, sizes and repeats for the others), and so do the
child processes the scripts start for their own peak memory (`python -m benchmarks.X --one ...`:
the same `main` with the child's arguments, its printed JSON handed back); debug_run.py's
`src/train.py` run stays a process of its own, the thing it measures. The figures mean nothing.
The benchmarks are modules of the `benchmarks` package, imported from the repository root (the
working directory of `python -m pytest`).

The GPU check's CPU dry run (`scripts/gpu_check.sh --dry-run`: every stage, the planning one
included) runs in the slow suite: it takes about 3 minutes (its pytest stage alone about 20 s)."""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import image_models

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

METRICS = "callbacks.representation_metrics"
# benchmark -> (its tiny arguments, keys its JSON must hold)
CASES = {
    "training_speed": (
        ["--repeats", "1", "--samples", "256"],
        {"data_epoch", "epoch_mim", "epoch_vae", "distributions_mim_epoch", "epoch_means_lightning_epoch"},
    ),
    "metrics_pass": (
        [
            "--repeats=1",
            "--ksg-sizes=100,200",
            "data.n_train=200",
            "data.n_val=200",
            "data.n_test=200",
            f"{METRICS}.mi_pairs=200",
            f"{METRICS}.nll_samples=10",
            f"{METRICS}.knn_train=200",
            f"{METRICS}.consistency_pairs=20",
            f"{METRICS}.consistency_samples=10",
        ],
        {"metrics_pass", "ksg", "vamp_pass", "torch_threads"},
    ),
    "image_training": (
        ["--tiny", "--steps", "1", "--models", "pixelhvae", "--objectives", "amim"],
        {"batch", "steps", "pixelhvae/amim", "pixelhvae/sampler_s_per_batch"},
    ),
    "image_nll": (
        ["--tiny", "--images", "1", "--samples", "100", "--models", "convhvae"],
        {"samples", "image_source", "conv_measured_gflops", "convhvae"},
    ),
    "grid_time": (
        ["--tiny", "--steps", "1", "--samples", "20", "--nll-passes", "1", "--metric-fraction", "0.01"]
        + ["--consistency-pairs", "2"],
        {"convhvae/mim", "pixelhvae/amim", "ksg_s", "knn_s", "tsne_s", "device", "plan"},
    ),
    "sampler": (
        ["--tiny", "--chains", "2"],
        {"per_pixel_s_per_100", "folded_s_per_100", "same_draws", "ops_per_step"},
    ),
    "debug_run": (
        ["--combination", "model=mlp", "data=gmm2d"],
        {"limits", "within_limits", "slowest", "largest", "runs"},
    ),
}


def test_every_benchmark_of_make_bench_has_a_smoke_test():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^bench:.*?\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    assert set(re.findall(r"-m benchmarks\.(\w+)", recipe)) == set(CASES)


@pytest.mark.parametrize("name", ["convhvae", "pixelhvae"])
def test_the_image_benchmarks_keep_their_sizes_unless_tiny(name):
    # the benchmarks' figures stay comparable: without --tiny, the networks of the modules' own
    # defaults (z1 = z2 = 40, 300 wide, 64 channels, 8 PixelCNN layers), weight for weight
    from mimkit.model.autoencoder import build_autoencoder

    assert image_models.X_SHAPE == [1, 28, 28] and image_models.PRIOR["pseudo_inputs"] == 500
    decoder = image_models.model_config(name)["decoder"]["_target_"]
    plain = {
        "z1_dim": 40,
        "z2_dim": 40,
        "encoder": {"_target_": "mimkit.model.nets.conv_encoder.TwoLevelConvEncoder", "x_shape": [1, 28, 28]},
        "conditional_prior": {
            "_target_": "mimkit.model.nets.heads.GatedGaussianMLP",
            "in_dim": 40,
            "out_dim": 40,
        },
        "decoder": {"_target_": decoder, "x_shape": [1, 28, 28]},
    }
    built = []
    for config in (image_models.model_config(name), plain):
        torch.manual_seed(0)
        built.append(build_autoencoder(config, image_models.PRIOR).state_dict())
    assert built[0].keys() == built[1].keys()
    assert all(torch.equal(built[0][key], built[1][key]) for key in built[0])


@pytest.fixture
def in_process(monkeypatch):
    """Benchmarks run in this process, their `python -m benchmarks.X ...` children too, and leave
    no trace in it: image sizes, torch threads, the global RNG, logging levels, malloc settings."""
    saved = copy.deepcopy((image_models.X_SHAPE, image_models.PRIOR, image_models.SIZES))
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    lightning_level = logging.getLogger("lightning.pytorch").level
    monkeypatch.setattr("mimkit.app.allocator.configure_allocator", lambda: None)  # (metrics_pass: on import)
    torch.set_num_threads(1)  # tiny work: threads only wait for each other (more so on a busy machine)
    real_run = subprocess.run

    def run_main(name: str, argv: list[str]) -> str:
        """`python -m benchmarks.<name> argv...` in this process: what it printed."""
        module = importlib.import_module(f"benchmarks.{name}")
        if hasattr(module, "configure_allocator"):
            monkeypatch.setattr(module, "configure_allocator", lambda: None)
        printed = io.StringIO()
        with monkeypatch.context() as patch, contextlib.redirect_stdout(printed):
            patch.setattr(sys, "argv", [str(BENCH / f"{name}.py"), *argv])
            module.main()
        return printed.getvalue()

    def run(command, *args, **kwargs):
        if command[:2] == [sys.executable, "-m"] and command[2].startswith("benchmarks."):
            printed = run_main(command[2].removeprefix("benchmarks."), list(command[3:]))
            return subprocess.CompletedProcess(command, 0, printed, "")
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    yield run_main
    # in place: the benchmarks hold these very objects (`from benchmarks.image_models import PRIOR`)
    image_models.X_SHAPE[:] = saved[0]
    for now, before in zip((image_models.PRIOR, image_models.SIZES), saved[1:]):
        now.clear()
        now.update(before)
    torch.set_num_threads(threads)
    torch.random.set_rng_state(rng)
    logging.getLogger("lightning.pytorch").setLevel(lightning_level)


@pytest.mark.parametrize("name", CASES)
def test_each_benchmark_runs_at_tiny_sizes(in_process, tmp_path, name):
    args, keys = CASES[name]
    out = tmp_path / f"{name}.json"
    printed = in_process(name, ["--out", str(out), *args])
    assert f"written to {out}" in printed
    results = json.loads(out.read_text())
    assert keys <= set(results), keys - set(results)
    if name == "debug_run":  # the train.py run itself succeeded
        assert [run["rc"] for run in results["runs"]] == [0], results["runs"]
    if name == "sampler":  # the folded sampler draws what the per-pixel one does
        assert results["same_draws"] is True
    if name == "grid_time":
        assert {"convhvae/grid_s", "pixelhvae/grid_s"} <= set(results["plan"])
    if name == "image_training":
        assert set(results["pixelhvae/amim"]) >= {"bare", "app", "app_bf16", "app_over_bare"}


MNIST = "MNIST/raw/train-images-idx3-ubyte.gz"


@pytest.mark.slow
def test_the_gpu_check_dry_run_passes_every_stage(tmp_path):
    # the script's own choice of MNIST: MNIST_ROOT (default ../shared/data), else the project's data/
    roots = [Path(os.environ.get("MNIST_ROOT", ROOT.parent / "shared" / "data")), ROOT / "data"]
    if not any((root / MNIST).exists() for root in roots):
        pytest.skip("no MNIST under MNIST_ROOT or data/ (the comparison stage trains on it)")
    out = tmp_path / "gpu_check"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    done = subprocess.run(
        [str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run"],
        cwd=ROOT,
        env={**env, "GPU_CHECK_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-5000:]
    stages = (out / "stages.md").read_text()
    for stage in ("setup", "gpu_tests", "grid_time", "comparison"):
        assert f"| {stage} | ok |" in stages, stages
    plan = json.loads((out / "grid_time.json").read_text())["plan"]
    assert {"convhvae/vae/mnist", "convhvae/mim/omniglot", "convhvae/grid_s"} <= set(plan)
    tables = (out / "tables.md").read_text()
    assert "| objective=vae seed=1 | 1 |" in tables and "| objective=mim seed=1 | 1 |" in tables, tables
    assert "(dry run:" in (out / "summary.md").read_text()
