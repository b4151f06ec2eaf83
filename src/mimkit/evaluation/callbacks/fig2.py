"""Writes the paper's Fig. 2 (`mimkit.evaluation.plots.plot_2d_model`) of the tested model at the end
of testing.

Only for 2-D data with a 2-D latent space; for any other model it does nothing. The image goes
to `path` (default: `<trainer.default_root_dir>/fig2.png`) and, when a WandbLogger is attached,
to W&B as `test/fig2`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import lightning as L
import torch
from pydantic import Field, Strict

from mimkit.evaluation.callbacks.wandb_images import log_images
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

MAX_TEST_POINTS = 10000
# inset quantities: (metric logged during testing, name shown)
INSET = (("test/mi", "MI"), ("test/recon", "recon. error"))


def collect_test_inputs(trainer: L.Trainer, limit: int = MAX_TEST_POINTS) -> torch.Tensor | None:
    """Up to `limit` test inputs x: the datamodule's `test` tensors, else the test dataloaders."""
    datamodule = getattr(trainer, "datamodule", None)
    test = getattr(datamodule, "test", None)
    if isinstance(test, (tuple, list)) and test and torch.is_tensor(test[0]):
        return test[0][:limit]
    loaders = getattr(trainer, "test_dataloaders", None)
    if loaders is None:
        return None
    if not isinstance(loaders, (list, tuple)):
        loaders = [loaders]
    parts, count = [], 0
    for loader in loaders:
        for batch in loader:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not torch.is_tensor(x):
                return None
            parts.append(x[: limit - count])
            count += len(parts[-1])
            if count >= limit:
                return torch.cat(parts)
    return torch.cat(parts) if parts else None


# display names of the image models' decoders and priors (the paper's)
IMAGE_ARCHITECTURES = {"ConvDecoder": "convHVAE", "PixelDecoder": "PixelHVAE"}
IMAGE_PRIORS = {"StandardNormalPrior": "standard prior", "VampPrior": "VampPrior"}


def describe(pl_module: L.LightningModule) -> str | None:
    """A title such as "MIM, H = 50" (toy models) or "A-MIM, PixelHVAE, VampPrior" (image
    models) from the module's hyper-parameters, where it has them."""
    hparams = getattr(pl_module, "hparams", {}) or {}
    objective, model = hparams.get("objective") or {}, hparams.get("model") or {}
    target = str(objective.get("_target_", ""))
    if not target:
        return None
    name = target.rsplit(".", 1)[-1]
    if name == "MIM" and objective.get("symmetric") is False:
        name = "A-MIM"
    if model.get("x_shape"):
        decoder = str((model.get("decoder") or {}).get("_target_", ""))
        prior = str((hparams.get("prior") or {}).get("_target_", ""))
        arch = IMAGE_ARCHITECTURES.get(decoder.rsplit(".", 1)[-1], "")
        prior_name = IMAGE_PRIORS.get(prior.rsplit(".", 1)[-1], "")
        return ", ".join(part for part in (name, arch, prior_name) if part)
    hidden = model.get("hidden")
    return f"{name}, H = {hidden}" if hidden is not None else name


class Fig2Plot(L.Callback):
    """At the end of testing, plot q(x) level sets, reconstructions and q(z|x) ellipses.

    path: the PNG to write (None: `<trainer.default_root_dir>/fig2.png`).
    n_points, grid, samples: test points reconstructed, density mesh size, importance samples
    per mesh point (see `plot_2d_model`).
    """

    def __init__(
        self,
        path: str | None = None,
        n_points: PositiveInt = 500,
        n_ellipses: NonNegativeInt = 200,
        grid: Annotated[int, Strict(), Field(ge=2)] = 80,
        samples: PositiveInt = 32,
        wandb_key: str = "test/fig2",
    ):
        self.path = path
        self.n_points = n_points
        self.n_ellipses = n_ellipses
        self.grid = grid
        self.samples = samples
        self.wandb_key = wandb_key
        self.written: Path | None = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        model = getattr(pl_module, "model", None)
        if model is None or getattr(model, "latent_dim", None) != 2:
            return
        with torch.no_grad():  # the q(x) level sets need a density on the plane: Gaussian decoders
            if not model.decoder(torch.zeros(1, 2, device=pl_module.device)).has_rsample:
                return
        x = collect_test_inputs(trainer)
        if x is None or tuple(x.shape[1:]) != (2,):
            return
        from mimkit.evaluation.plots import plot_2d_model  # matplotlib only when a plot is due

        path = Path(self.path) if self.path else Path(trainer.default_root_dir) / "fig2.png"
        metrics = trainer.callback_metrics
        stats = {name: float(metrics[key]) for key, name in INSET if key in metrics}
        self.written = plot_2d_model(
            model,
            x,
            path,
            title=describe(pl_module),
            grid=self.grid,
            samples=self.samples,
            n_points=self.n_points,
            n_ellipses=self.n_ellipses,
            stats=stats or None,
        )
        log.info("Fig. 2 plot written to %s", self.written)
        log_images(trainer, {self.wandb_key: self.written})
