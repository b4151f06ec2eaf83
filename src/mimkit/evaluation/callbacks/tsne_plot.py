"""tsne.png at the end of testing: a t-SNE of the first `points` test latents, coloured by class
(docs/maths.md §3, pictures; the paper's Figs. 7–10). Also sent to W&B when a WandbLogger is attached.

Skipped, unless `images_only` is false, for non-image data. Test sets without labels get the
picture in one colour, and `skipped` ({"tsne.png colours": why}, read into metrics.json by
`mimkit.app.run`) says so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, cast

import lightning as L
import numpy as np
from pydantic import Field, Strict

from mimkit.data.batches import labels_of
from mimkit.evaluation.callbacks.fig2 import describe
from mimkit.evaluation.callbacks.representation import encode
from mimkit.evaluation.callbacks.wandb_images import log_images
from mimkit.fields import NonNegativeInt, PositiveInt, PositiveNumber
from mimkit.model.autoencoder import Autoencoder, seeded_eval

log = logging.getLogger(__name__)


class TSNEPlot(L.Callback):
    """points: test points projected (the first ones); sample: embed with z ~ q(z|x) as the K-NN
    metric does (else the posterior mean); perplexity, seed: of scikit-learn's TSNE (seed also fixes
    the latent draws; the global generators, CPU and GPU, are left as they were)."""

    def __init__(
        self,
        points: Annotated[int, Strict(), Field(ge=3)] = 2000,
        sample: bool = True,
        perplexity: PositiveNumber = 30.0,
        seed: NonNegativeInt = 0,
        images_only: bool = True,
        encode_batch: PositiveInt = 500,
    ):
        self.points = points
        self.sample = sample
        self.perplexity = float(perplexity)
        self.seed = seed
        self.images_only = images_only
        self.encode_batch = encode_batch
        self.written: Path | None = None
        self.skipped: dict[str, str] = {}

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        test = getattr(getattr(trainer, "datamodule", None), "test", None)
        self.skipped = {}
        if not trainer.is_global_zero or test is None:
            return
        x, labels = test[0], labels_of(test)
        if self.images_only and x.dim() != 4:
            return
        if labels is None:
            self.skipped["tsne.png colours"] = "the data have no labels"
        # Lightning's Trainer sets fast_dev_run in a connector, out of the type checker's sight
        points = min(self.points, 256) if trainer.fast_dev_run else self.points  # type: ignore[attr-defined]
        x = x[:points].to(pl_module.device)
        label_array = None if labels is None else labels[:points].cpu().numpy()
        from mimkit.evaluation.tsne import plot_tsne, tsne_2d  # scikit-learn and matplotlib only when due

        start = time.perf_counter()
        model = cast(Autoencoder, pl_module.model)  # an AutoencoderModule's
        with seeded_eval(model, self.seed, pl_module.device):
            codes = encode(model, x, self.encode_batch)
        z = codes["sample" if self.sample else "mean"].float().cpu().numpy()
        coords = tsne_2d(z, self.perplexity, self.seed)
        path = Path(trainer.default_root_dir) / "tsne.png"
        title = f"{describe(pl_module) or 'model'}: t-SNE of {len(z)} test latents"
        class_names = getattr(trainer.datamodule, "class_names", None)  # type: ignore[attr-defined]
        self.written = plot_tsne(coords, label_array, path, title, class_names)
        labelled = {} if label_array is None else {"labels": label_array}
        # numpy's stub lets a **dict fill the keyword allow_pickle (a bool): these keys are array names
        np.savez_compressed(path.with_suffix(".npz"), coords=coords, **labelled)  # type: ignore[arg-type]
        log.info("t-SNE of %d test latents written to %s (%.1f s)", len(z), path, time.perf_counter() - start)
        log_images(trainer, {"test/tsne": self.written})
