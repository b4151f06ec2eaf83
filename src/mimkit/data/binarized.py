"""28 x 28 grey-level image sets served binarised, the "dynamic" protocol of spec §4.

Images are held as pixel intensities p = grey / 255 in [0, 1], float32 [N, 1, 28, 28], and
served as binary images x ~ Bernoulli(p) (x = 1 where a uniform draw u < p), float32 in {0, 1}:

- training: every epoch is a fresh shuffle and a fresh binarisation, both drawn from the
  generator of (run seed, epoch), so a run is reproducible and a resumed one sees the data an
  uninterrupted one would;
- validation and test: binarised once, from `data_seed` (not the run seed), so every run of a
  sweep is scored on the same binary images; `train_fixed()` is the training set binarised
  once the same way (for K-NN fitting).

Labels are int64 [N]. Subclasses load the grey images and call `_set_splits`.
"""

from __future__ import annotations

import torch

from mimkit.config import ConfigError
from mimkit.data.batches import EVAL_SEED_BASE, TensorDataModule, Tensors, epoch_generator, seeded

SIDE = 28


def intensities(grey: torch.Tensor) -> torch.Tensor:
    """uint8 images [N, H, W] -> float32 pixel intensities [N, 1, H, W] in [0, 1]."""
    return grey.unsqueeze(1).float().div_(255)


def binarize(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(p) element-wise, as float32 zeros and ones."""
    return (torch.rand(p.shape, generator=generator) < p).float()


class BinarizedImages(TensorDataModule):
    """Base of MNIST, Fashion-MNIST and Omniglot: batches are (x [B, 1, 28, 28] in {0, 1},
    labels int64 [B]). `x_dim` is the pixel count (784), for flat models' sizes."""

    x_shape = (1, SIDE, SIDE)

    def __init__(self, batch_size: int, eval_batch_size: int, seed: int, data_seed: int,
                 x_dim: int):
        super().__init__(batch_size, eval_batch_size, seed)
        if x_dim != SIDE * SIDE:
            raise ConfigError(f"data.x_dim is the pixel count {SIDE * SIDE} of a {SIDE}x{SIDE} "
                              f"image and cannot be changed, got {x_dim!r}")
        self.data_seed = data_seed
        self.train_intensities = self.train_labels = None
        self._fixed: Tensors | None = None

    def _set_splits(self, train: Tensors, val: Tensors, test: Tensors) -> None:
        """(uint8 grey images [N, 28, 28], int64 labels [N]) of each split."""
        self.train_intensities, self.train_labels = intensities(train[0]), train[1].long()
        base = EVAL_SEED_BASE + 3 * self.data_seed
        self.val = (binarize(intensities(val[0]), seeded(base)), val[1].long())
        self.test = (binarize(intensities(test[0]), seeded(base + 1)), test[1].long())
        self._fixed = None

    @property
    def n_train(self) -> int:
        return len(self.train_labels)

    def train_epoch(self, epoch: int) -> Tensors:
        generator = epoch_generator(self.seed, epoch)
        order = torch.randperm(self.n_train, generator=generator)
        return binarize(self.train_intensities[order], generator), self.train_labels[order]

    def train_fixed(self) -> Tensors:
        if self._fixed is None:
            generator = seeded(EVAL_SEED_BASE + 3 * self.data_seed + 2)
            self._fixed = (binarize(self.train_intensities, generator), self.train_labels)
        return self._fixed
