"""How long the Tables 1–2 grid takes on this machine: measured rates, then the plan.

    .venv/bin/python benchmarks/grid_time.py --out outputs/bench/grid_time.json [--threads 2]

Measures, on the GPU when there is one (else the CPU), at batch 100 with VampPrior K = 500:
the app's training step per (model, objective) of the grid (convHVAE: VAE, MIM; PixelHVAE: VAE,
A-MIM), a validation batch (the β = 1 objective without gradients, plus convHVAE's two
reconstruction errors), and the IS-NLL per image at S = `--samples` scaled to S = 5000 (the
passes are of a fixed size, so the time is linear in S). From them, per data set (spec §4 sizes),
the time of one job per 100 epochs and of its test NLL, and of the two grids (10 seeds × 2 priors
× 3 data sets × 2 objectives per architecture), for `--epochs` epochs per job.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_models import PRIOR, X_SHAPE, model_config
from image_training import BATCH, OBJECTIVES, app_steps
from results import write_results

from mimkit.allocator import configure_allocator
from mimkit.autoencoder import build_autoencoder
from mimkit.metrics.nll import nll_per_example
from mimkit.module import reconstruction_error

# the grid's cells: architecture -> its objectives (conf/experiment/table1_*.yaml)
GRID = {"convhvae": ("vae", "mim"), "pixelhvae": ("vae", "amim")}
JOBS_PER_OBJECTIVE = 10 * 2 * 3  # seeds × priors × data sets
DATA = {
    "mnist": (50000, 10000, 10000),
    "fmnist": (50000, 10000, 10000),
    "omniglot": (23000, 1345, 8115),
}  # (train, validation, test) images, conf/data/*.yaml
OBJECTIVES = {**OBJECTIVES, "mim": {**OBJECTIVES["mim"], "decoder_z": "anchor", "x_per_z": 2}}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def validation_seconds(model_name: str, objective_name: str, device: torch.device, repeats: int) -> float:
    """One validation batch of 100: the β = 1 objective and, for convHVAE, the reconstructions."""
    from hydra.utils import instantiate

    torch.manual_seed(0)
    model = build_autoencoder(model_config(model_name), PRIOR).to(device)
    objective = instantiate(OBJECTIVES[objective_name])
    x = torch.bernoulli(torch.full((BATCH, *X_SHAPE), 0.3, device=device))
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            objective(model, x, 1.0)
            if model_name == "convhvae":  # model.eval_recon (PixelHVAE's is off: 784-step sampler)
                reconstruction_error(model, x, sample=True)
                reconstruction_error(model, x, sample=False)
            synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def nll_seconds_per_image(model_name: str, device: torch.device, samples: int, images: int) -> float:
    """IS-NLL seconds per image at S = 5000, timed at S = `samples` on `images` images."""
    torch.manual_seed(0)
    model = build_autoencoder(model_config(model_name), PRIOR).to(device).eval()
    x = torch.bernoulli(torch.full((images, *X_SHAPE), 0.3, device=device))
    nll_per_example(model, x[:1], 100, progress_every=None)  # warm-up (kernels, VampPrior cache)
    synchronize(device)
    start = time.perf_counter()
    nll_per_example(model, x, samples, progress_every=None)
    synchronize(device)
    return (time.perf_counter() - start) / images * 5000 / samples


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:,.0f} days"


def plan(rates: dict, epochs: int) -> dict:
    """Per job and per grid: training + validation for `epochs` epochs, and the test NLL."""
    out: dict = {}
    for model_name, objectives in GRID.items():
        grid_s = 0.0
        for objective_name in objectives:
            rate = rates[f"{model_name}/{objective_name}"]
            for data, (n_train, n_val, n_test) in DATA.items():
                epoch = n_train / BATCH * rate["train_step_s"] + n_val / BATCH * rate["val_batch_s"]
                nll = n_test * rates[f"{model_name}/nll_s_per_image"]
                job = {"epoch_s": epoch, "train_s": epochs * epoch, "nll_s": nll}
                out[f"{model_name}/{objective_name}/{data}"] = job
                grid_s += (job["train_s"] + nll) * JOBS_PER_OBJECTIVE / len(DATA)
        out[f"{model_name}/grid_s"] = grid_s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--samples", type=int, default=500, help="S timed (scaled to 5000)")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument(
        "--epochs",
        type=int,
        default=100,
        help="epochs per job in the plan (100: the β warm-up alone; the cap is 2000)",
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    configure_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = (
        torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {name}; batch {BATCH}; VampPrior K = 500")
    rates: dict = {"device": name, "batch": BATCH, "epochs": args.epochs}
    for model_name, objectives in GRID.items():
        for objective_name in objectives:
            step = statistics.median(
                app_steps(
                    model_name,
                    objective_name,
                    args.steps,
                    accelerator="gpu" if device.type == "cuda" else "cpu",
                )
            )
            val = validation_seconds(model_name, objective_name, device, args.steps)
            rates[f"{model_name}/{objective_name}"] = {
                "train_step_s": step,
                "val_batch_s": val,
                "train_images_per_s": BATCH / step,
            }
            print(
                f"  {model_name:<9} {objective_name:<4} training {BATCH / step:8.1f} img/s, "
                f"validation {BATCH / val:8.1f} img/s"
            )
        rates[f"{model_name}/nll_s_per_image"] = nll_seconds_per_image(
            model_name, device, args.samples, args.images
        )
        print(f"  {model_name:<9} IS-NLL S = 5000: {rates[f'{model_name}/nll_s_per_image']:.3f} s/image")
    rates["plan"] = plan(rates, args.epochs)
    print(f"plan, {args.epochs} epochs per job ({JOBS_PER_OBJECTIVE} jobs per objective per architecture):")
    for key, job in rates["plan"].items():
        if key.endswith("grid_s"):
            print(f"  {key.split('/')[0]} grid ({2 * JOBS_PER_OBJECTIVE} jobs): {hours(job)}")
        else:
            print(
                f"  {key:<24} epoch {job['epoch_s']:8.1f} s  training {hours(job['train_s']):>9}  "
                f"test NLL {hours(job['nll_s']):>9}"
            )
    write_results(rates, args.out)


if __name__ == "__main__":
    main()
