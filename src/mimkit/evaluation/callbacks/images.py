"""Pictures of an image model at the end of testing (docs/maths.md §3, pictures): a grid of samples
x ~ p(x|z), z ~ p(z); real test images above their reconstructions; for a VampPrior its
pseudo-inputs. PNGs in the run dir, and W&B images when a WandbLogger is attached.

Only for image data (test tensors [N, C, H, W]); for any other model it does nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import lightning as L
import torch
from torchvision.utils import save_image

from mimkit.evaluation.callbacks.wandb_images import log_images
from mimkit.fields import NonNegativeInt, PositiveInt
from mimkit.model.autoencoder import Autoencoder, seeded_eval
from mimkit.model.priors.vamp import VampPrior

log = logging.getLogger(__name__)


def interleave_rows(real: torch.Tensor, reconstructed: torch.Tensor, per_row: int) -> torch.Tensor:
    """Rows of `per_row` real images, each followed by the row of their reconstructions."""
    rows = []
    for start in range(0, len(real), per_row):
        rows += [real[start : start + per_row], reconstructed[start : start + per_row]]
    return torch.cat(rows)


def test_images(trainer: L.Trainer) -> torch.Tensor | None:
    """The datamodule's test images [N, C, H, W] on the main process; None elsewhere, for flat
    data, or for none."""
    test = getattr(getattr(trainer, "datamodule", None), "test", None)
    if not trainer.is_global_zero or test is None or test[0].dim() != 4 or not len(test[0]):
        return None
    return test[0]


class ImageGrids(L.Callback):
    """samples.png (n_samples from the prior), reconstructions.png (n_reconstructions real/recon
    row pairs, reconstructions as the decoder's pixel probabilities at the posterior means) and
    pseudo_inputs.png.

    seed: the pictures' own random draws (the global generators, CPU and GPU, are left as they were).
    """

    def __init__(
        self,
        n_samples: PositiveInt = 64,
        n_reconstructions: PositiveInt = 32,
        per_row: PositiveInt = 8,
        seed: NonNegativeInt = 0,
    ):
        self.n_samples = n_samples
        self.n_reconstructions = n_reconstructions
        self.per_row = per_row
        self.seed = seed
        self.written: list[Path] = []

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        images = test_images(trainer)
        if images is None:
            return
        model = cast(Autoencoder, pl_module.model)  # an AutoencoderModule's
        x = images[: self.n_reconstructions].to(pl_module.device)
        out = Path(trainer.default_root_dir)
        with seeded_eval(model, self.seed, pl_module.device):
            # both grids from one decoder pass (the PixelHVAE draws its images pixel by pixel:
            # one 784-step chain instead of two): the means of p(x|z) at z ~ p(z), then at the
            # posterior means of the test images
            z = torch.cat([model.prior.sample(self.n_samples), model.encoder(x).mean])
            means = model.decoder(z).mean
            pictures = {
                "samples": means[: self.n_samples],
                "reconstructions": interleave_rows(x, means[self.n_samples :], self.per_row),
            }
            vamp = [m for m in model.modules() if isinstance(m, VampPrior)]
            if vamp:
                pictures["pseudo_inputs"] = vamp[0].pseudo_inputs()[: self.n_samples]
        self.written = []
        for name, images in pictures.items():
            path = out / f"{name}.png"
            save_image(images.float().cpu(), path, nrow=self.per_row, padding=1, pad_value=0.5)
            self.written.append(path)
        log.info("image grids written to %s", ", ".join(str(p) for p in self.written))
        log_images(trainer, {f"test/{p.stem}": p for p in self.written})
