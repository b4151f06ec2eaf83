"""Pictures of an image model's latent space at the end of testing: interpolations between pairs
of test images and samples around test images (`Autoencoder.interpolate`, `sample_around`).
PNGs in the run dir, and W&B images when a WandbLogger is attached.

Only for image data (test tensors [N, C, H, W]); for any other model it does nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import lightning as L
import torch
from torchvision.utils import save_image

from mimkit.evaluation.callbacks.images import test_images
from mimkit.evaluation.callbacks.wandb_images import log_images
from mimkit.fields import NonNegativeInt, NonNegativeNumber, PositiveInt
from mimkit.model.autoencoder import Autoencoder, seeded_eval
from mimkit.model.latent_paths import PathKind, Steps, path_points, perturbed_points

log = logging.getLogger(__name__)


def framed_rows(
    left: torch.Tensor, middle: torch.Tensor, right: torch.Tensor | None = None
) -> tuple[torch.Tensor, int]:
    """(images, per row) of a grid with one row per image of `left` [B, C, H, W]: that image, then
    its decoded images `middle` [B, M, C, H, W], then (if given) right[b]. A `middle` of shape
    [B, K, M, C, H, W] gives K rows per image, each starting with the image."""
    if middle.dim() == left.dim() + 2:
        left = left.repeat_interleave(middle.shape[1], dim=0)
        right = None if right is None else right.repeat_interleave(middle.shape[1], dim=0)
        middle = middle.flatten(0, 1)
    parts = [left[:, None], middle.to(left.dtype)] + ([] if right is None else [right[:, None]])
    rows = torch.cat(parts, dim=1)
    return rows.flatten(0, 1), rows.shape[1]


def save_grid(images: torch.Tensor, per_row: int, path: Path) -> Path:
    """A PNG of `images` [N, C, H, W] (values in [0, 1]), `per_row` to a row, as ImageGrids draws."""
    save_image(images.float().cpu(), path, nrow=per_row, padding=1, pad_value=0.5)
    return path


class LatentGrids(L.Callback):
    """interpolations.png: for `pairs` pairs of test images (image i with image pairs + i), a row
    of the first image, the decoded means of `steps` points on the `path` (linear | slerp)
    between their posterior means, and the second image. samples_around.png: for the first
    `points` test images, a row of the image and the decoded means of `n_around` codes
    μ(x) + scale · ε, ε ~ N(0, I). All codes are decoded in one decoder pass (the PixelHVAE
    draws pixel by pixel: one chain).

    seed: the pictures' own random draws (the global generators, CPU and GPU, are left as they were).
    """

    def __init__(
        self,
        pairs: PositiveInt = 8,
        steps: Steps = 10,
        path: PathKind = "linear",
        points: PositiveInt = 8,
        n_around: PositiveInt = 8,
        scale: NonNegativeNumber = 0.5,
        seed: NonNegativeInt = 0,
    ):
        self.pairs = pairs
        self.steps = steps
        self.path = path
        self.points = points
        self.n_around = n_around
        self.scale = scale
        self.seed = seed
        self.written: list[Path] = []

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        x = test_images(trainer)
        if x is None:
            return
        pairs, points = min(self.pairs, len(x) // 2), min(self.points, len(x))
        x_a, x_b = x[:pairs].to(pl_module.device), x[pairs : 2 * pairs].to(pl_module.device)
        x_c = x[:points].to(pl_module.device)
        model = cast(Autoencoder, pl_module.model)  # an AutoencoderModule's
        with seeded_eval(model, self.seed, pl_module.device):
            mu = model.encoder(torch.cat([x_a, x_b, x_c])).mean
            z_path = path_points(mu[:pairs], mu[pairs : 2 * pairs], self.steps, self.path)
            z_around = perturbed_points(mu[2 * pairs :], self.scale, self.n_around)
            z = torch.cat([z_path.flatten(0, 1), z_around.flatten(0, 1)])
            decoded = model.decode(z).to(x.dtype)
        along, around = decoded.split([len(z) - points * self.n_around, points * self.n_around])
        out = Path(trainer.default_root_dir)
        self.written = []
        if pairs:  # a single test image has no pair
            images, per_row = framed_rows(x_a, along.view(pairs, self.steps, *x.shape[1:]), x_b)
            self.written.append(save_grid(images, per_row, out / "interpolations.png"))
        images, per_row = framed_rows(x_c, around.view(points, self.n_around, *x.shape[1:]))
        self.written.append(save_grid(images, per_row, out / "samples_around.png"))
        log.info("latent grids written to %s", ", ".join(str(p) for p in self.written))
        log_images(trainer, {f"test/{p.stem}": p for p in self.written})
