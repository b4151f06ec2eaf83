"""Training speed of the image models (docs/maths.md §5) at batch 100, 1×28×28 binary images, β = 1.

    .venv/bin/python -m benchmarks.image_training --out outputs/bench/image_training.json \
        [--ref /tmp/vp]   # a patched snapshot of jmtomczak/vae_vampprior, see below

For each model (convHVAE, PixelHVAE; VampPrior K = 500, z1 = z2 = 40) and objective, in one run:
1. bare: a minimal eager-PyTorch loop over the same model and loss (forward, backward, per-tensor
   gradient normalisation, Adam) — the floor for this model in eager PyTorch;
2. app: the Lightning module, as `python src/train.py` trains it (callbacks, logging, the
   datamodule's batches), timed per step from inside the training loop; and the same with
   `trainer.precision=bf16-mixed` (networks in bf16, densities in fp32);
3. reference (optional, `--ref`): the public VampPrior code's own training step, timed by
   ../shared/tools/ref_vampprior_bench.py in a subprocess of this run (its docstring says how to
   extract and patch the snapshot outside the repository).
Medians over `--steps` steps after 2 warm-up steps. Each (model, objective) runs in its own
subprocess so its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch
from hydra.utils import instantiate

from benchmarks import image_models
from benchmarks.common import child_json, machine, peak_rss_mb, reference, timed, timed_fit, write_results
from benchmarks.image_models import PRIOR, X_SHAPE, latent_dim, model_config
from mimkit.app.allocator import configure_allocator
from mimkit.data.batches import TensorDataModule
from mimkit.model.autoencoder import build_autoencoder
from mimkit.training.gradients import normalize_per_tensor
from mimkit.training.module import AutoencoderModule

BATCH = 100
OPTIM = {"lr": 5e-4, "schedule": "constant", "warmup": 0, "grad_norm": "per_tensor"}
OBJECTIVES = {
    "vae": {"_target_": "mimkit.model.objectives.vae.VAE"},
    "amim": {"_target_": "mimkit.model.objectives.mim.MIM", "symmetric": False},
    "mim": {"_target_": "mimkit.model.objectives.mim.MIM", "decoder_z": "prior"},
}


class RandomImages(TensorDataModule):
    """Binary images in memory: the datamodule path of the app without reading files."""

    def __init__(self, n: int):
        super().__init__(BATCH, BATCH, seed=0)
        self.x_shape = tuple(X_SHAPE)
        self.images = torch.bernoulli(torch.full((n, *X_SHAPE), 0.3))
        self.labels = torch.zeros(n, dtype=torch.long)

    def load(self) -> None:
        """The validation and test sets: the training images (validation is off in the timed fits)."""
        self._val = self._test = (self.images, self.labels)

    @property
    def n_train(self) -> int:
        return len(self.images)

    def train_epoch(self, epoch: int):
        return self.images, self.labels

    def train_fixed(self):
        return self.images, self.labels


def bare_steps(model_name: str, objective_name: str, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = build_autoencoder(model_config(model_name), PRIOR)
    objective = instantiate(OBJECTIVES[objective_name])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    x = torch.bernoulli(torch.full((BATCH, *X_SHAPE), 0.3))

    def step():
        loss = objective(model, x, 1.0)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        normalize_per_tensor(model)
        optimizer.step()

    return [timed(step)[0] for _ in range(steps + 2)][2:]


def app_steps(
    model_name: str, objective_name: str, steps: int, precision: str = "32-true", accelerator: str = "cpu"
) -> list[float]:
    torch.manual_seed(0)
    module = AutoencoderModule(model_config(model_name), PRIOR, OBJECTIVES[objective_name], OPTIM)
    images = RandomImages(BATCH * (steps + 2))
    options = {"max_steps": steps + 2, "accelerator": accelerator, "devices": 1, "precision": precision}
    return timed_fit(module, images, "batch", **options)[2:]


def measure(model_name: str, objective_name: str, kind: str, steps: int) -> dict:
    if kind == "bare":
        times = bare_steps(model_name, objective_name, steps)
    else:
        times = app_steps(
            model_name, objective_name, steps, "bf16-mixed" if kind == "app-bf16" else "32-true"
        )
    step = statistics.median(times)
    return {
        "step_s": step,
        "images_per_s": BATCH / step,
        "peak_rss_mb": peak_rss_mb(),
    }


def sampler_seconds(chains: int = BATCH) -> float:
    """One draw of `chains` PixelHVAE images (784 sequential steps): the extra cost symmetric MIM
    pays in every training step (and validation batch) with this decoder."""
    torch.manual_seed(0)
    model = build_autoencoder(model_config("pixelhvae"), PRIOR)
    z = torch.randn(chains, latent_dim())
    return timed(lambda: model.decoder(z).sample())[0]


def reference_step(ref: Path, model_name: str, steps: int) -> dict | None:
    """The public VampPrior code's own training step (its VAE loss)."""
    options = ("--steps", str(steps), "--nll-images", "0")
    step = reference(ref, model_name, r"train step median ([\d.]+) s", *options)
    return None if step is None else {"step_s": step, "images_per_s": BATCH / step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--models", default="convhvae,pixelhvae")
    parser.add_argument("--objectives", default="vae,amim")
    parser.add_argument("--ref", type=Path, default=None, help="patched vae_vampprior snapshot")
    parser.add_argument(
        "--tiny", action="store_true", help="4x4 images, tiny networks: a smoke test (figures mean nothing)"
    )
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "OBJECTIVE", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_allocator()
    if args.tiny:
        image_models.shrink()
    if args.one:
        print(json.dumps(measure(*args.one, args.steps)))
        return
    results: dict = {"batch": BATCH, "steps": args.steps, **machine()}
    options = ("--steps", str(args.steps), *(["--tiny"] if args.tiny else []))
    print(f"training step at batch {BATCH}, median of {args.steps} (images/s; peak RSS)")
    for model_name in args.models.split(","):
        ref = reference_step(args.ref, model_name, args.steps) if args.ref else None
        if ref:
            results[f"{model_name}/reference"] = ref
            print(f"  {model_name:<9} reference (VAE loss)     {ref['images_per_s']:6.1f} img/s")
        for objective_name in args.objectives.split(","):
            bare, app, bf16 = (
                child_json(__spec__.name, *options, "--one", model_name, objective_name, kind)
                for kind in ("bare", "app", "app-bf16")
            )
            row = {
                "bare": bare,
                "app": app,
                "app_bf16": bf16,
                "app_over_bare": app["images_per_s"] / bare["images_per_s"],
                "app_bf16_over_bare": bf16["images_per_s"] / bare["images_per_s"],
            }
            if ref and objective_name == "vae":
                row["app_over_reference"] = app["images_per_s"] / ref["images_per_s"]
                row["app_bf16_over_reference"] = bf16["images_per_s"] / ref["images_per_s"]
            results[f"{model_name}/{objective_name}"] = row
            extra = (
                f"  vs the reference: app {row['app_over_reference']:.2f}x, bf16 "
                f"{row['app_bf16_over_reference']:.2f}x"
                if "app_over_reference" in row
                else ""
            )
            print(
                f"  {model_name:<9} {objective_name:<5} bare {bare['images_per_s']:6.1f}  app "
                f"{app['images_per_s']:6.1f}  app bf16-mixed {bf16['images_per_s']:6.1f} img/s  "
                f"app/bare {row['app_over_bare']:.2f}  peak {app['peak_rss_mb']:.0f} MB "
                f"(bf16 {bf16['peak_rss_mb']:.0f} MB){extra}"
            )
    if "pixelhvae" in args.models.split(","):
        results["pixelhvae/sampler_s_per_batch"] = sampler_seconds()
        print(
            f"  pixelhvae sampler: {results['pixelhvae/sampler_s_per_batch']:.1f} s for {BATCH} "
            f"images ({math.prod(X_SHAPE[1:])} steps), added to every symmetric-MIM training step"
        )
    write_results(results, args.out)


if __name__ == "__main__":
    main()
