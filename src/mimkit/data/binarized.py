"""Image sets served binarised, the "dynamic" protocol of docs/maths.md §4: MNIST, Fashion-MNIST
and Omniglot (grey, 28 x 28), and image folders (`mimkit.data.images`: grey or RGB, any size).

Images are held as uint8 levels, pixel intensities p = level / 255 in [0, 1], float32
[N, C, H, W], and served as binary images x ~ Bernoulli(p) (x = 1 where a uniform draw u < p),
float32 in {0, 1}:

- training: every epoch is a fresh shuffle, drawn from the generator of (run seed, epoch), and a
  fresh binarisation, drawn batch by batch on the training device (`transfer_batch_to_device`)
  from the generator of (run seed, epoch, the batch's first position in the epoch's order); so a
  run is reproducible and a resumed one sees the data an uninterrupted one would. The loader
  serves uint8 grey images (pinned when training on a GPU) with each row's draw key, a quarter
  of the float bytes; under DDP each process binarises only its own shard. The draws are
  Bernoulli(p) on any device, but the numbers differ between a CPU and a GPU (different
  generators), and differ from those before this scheme (docs/gpu.md, "Data");
- validation and test: binarised once, from `data_seed` (not the run seed), so every run of a
  sweep is scored on the same binary images; `train_fixed()` is the training set binarised
  once the same way (for K-NN fitting).

Labels are int64 [N], or None for unlabelled data (then `val`, `test` and `train_fixed()` are
(x, None) and the loaders' batches hold no labels). Subclasses read the images in `load`
(`setup`) and call `_set_splits`; `pixels` is the binarisation (an image folder may keep the
intensities instead).
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import torch

from mimkit.data.batches import (
    EVAL_SEED_BASE,
    Batches,
    TensorDataModule,
    Tensors,
    epoch_generator,
    seeded,
)

SIDE = 28
Pixels = Literal[784]  # data.x_dim: the pixel count SIDE * SIDE, fixed


def intensities(grey: torch.Tensor) -> torch.Tensor:
    """uint8 images [N, H, W] or [N, C, H, W] -> float32 pixel intensities [N, C, H, W] in [0, 1]
    (C = 1 for [N, H, W])."""
    return (grey.unsqueeze(1) if grey.dim() == 3 else grey).float().div_(255)


def binarize(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(p) element-wise, as float32 zeros and ones (`generator` on p's device)."""
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).float()


def batch_generator(seed: int, epoch: int, position: int, device: torch.device) -> torch.Generator:
    """The generator, on `device`, of the training batch whose first row has `position` in epoch
    `epoch`'s order of a run seeded `seed` (a well-mixed 64-bit seed of the three)."""
    key = np.random.SeedSequence([seed, epoch, position]).generate_state(1, np.uint64)[0]
    return torch.Generator(device).manual_seed(int(key))


def _long(labels: torch.Tensor | None) -> torch.Tensor | None:
    return None if labels is None else labels.long()


class BinarizedImages(TensorDataModule):
    """Base of MNIST, Fashion-MNIST, Omniglot (batches (x [B, 1, 28, 28] in {0, 1}, labels int64
    [B]); their `x_dim` key is the pixel count, 784, fixed, for flat models' sizes) and of image
    folders (x [B, C, H, W], labels or none)."""

    x_shape: tuple[int, ...] = (1, SIDE, SIDE)

    def __init__(self, batch_size: int, eval_batch_size: int, seed: int, data_seed: int):
        super().__init__(batch_size, eval_batch_size, seed)
        self.data_seed = data_seed
        # set by setup
        self.train_grey: torch.Tensor | None = None
        self.train_labels: torch.Tensor | None = None
        self._fixed: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def pixels(self, p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The served images of intensities p: x ~ Bernoulli(p), drawn from `generator`."""
        return binarize(p, generator)

    def _set_splits(self, train: tuple, val: tuple, test: tuple) -> None:
        """(uint8 images [N, H, W] (grey) or [N, C, H, W], int64 labels [N] or None) of each split."""
        grey, labels = train
        self.train_grey = grey.unsqueeze(1) if grey.dim() == 3 else grey
        self.train_labels = _long(labels)
        base = EVAL_SEED_BASE + 3 * self.data_seed
        self._val = (self.pixels(intensities(val[0]), seeded(base)), _long(val[1]))
        self._test = (self.pixels(intensities(test[0]), seeded(base + 1)), _long(test[1]))
        self._fixed = None

    @property
    def train_intensities(self) -> torch.Tensor:
        return intensities(cast(torch.Tensor, self.train_grey))  # set by setup

    @property
    def n_train(self) -> int:
        return len(cast(torch.Tensor, self.ready().train_grey))

    def loader_rows(self, epoch: int) -> Tensors:
        """The training loader's rows of `epoch`, shuffled: images uint8 [N, C, H, W], labels (none
        for unlabelled data), and each row's draw key (epoch, position) int64 [N, 2] for
        `transfer_batch_to_device`."""
        order = torch.randperm(self.n_train, generator=epoch_generator(self.seed, epoch))
        grey = cast(torch.Tensor, self.train_grey)[order]
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.strategy.root_device.type == "cuda":
            grey = grey.pin_memory()  # asynchronous copies to the GPU
        draws = torch.stack([torch.full((self.n_train,), epoch), torch.arange(self.n_train)], dim=1)
        labels = () if self.train_labels is None else (self.train_labels[order],)
        return grey, *labels, draws

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Training batches (uint8 images, labels, draw keys) arrive binarised on `device`:
        x ~ Bernoulli of the intensities, from the batch's own generator there; evaluation batches
        (float images, binarised once already) as they are."""
        if batch[0].dtype != torch.uint8:  # validation and test: (x, labels) or (x,)
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        *rows, draws = batch
        epoch, position = draws[0].tolist()  # on the host: no device synchronisation
        grey, *labels = super().transfer_batch_to_device(tuple(rows), device, dataloader_idx)
        generator = batch_generator(self.seed, epoch, position, grey.device)
        return self.pixels(intensities(grey), generator), *labels

    def train_epoch(self, epoch: int) -> tuple:
        """(x, labels) of `epoch` as one process is served them, binarised on the CPU (labels None
        for unlabelled data)."""
        batches = Batches(lambda _: self.loader_rows(epoch), self.n_train, self.batch_size)
        cpu = torch.device("cpu")
        parts = [torch.cat(p) for p in zip(*(self.transfer_batch_to_device(b, cpu, 0) for b in batches))]
        return parts[0], parts[1] if len(parts) > 1 else None

    def train_fixed(self) -> tuple:
        fixed = self.ready()._fixed
        if fixed is None:
            generator = seeded(EVAL_SEED_BASE + 3 * self.data_seed + 2)
            fixed = self._fixed = (self.pixels(self.train_intensities, generator), self.train_labels)
        return fixed
