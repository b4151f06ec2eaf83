"""28 x 28 grey-level image sets served binarised, the "dynamic" protocol of spec §4.

Images are held as pixel intensities p = grey / 255 in [0, 1], float32 [N, 1, 28, 28], and
served as binary images x ~ Bernoulli(p) (x = 1 where a uniform draw u < p), float32 in {0, 1}:

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

Labels are int64 [N]. Subclasses read the grey images in `load` (`setup`) and call `_set_splits`.
"""

from __future__ import annotations

from typing import Literal

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
    """uint8 images [N, H, W] or [N, 1, H, W] -> float32 pixel intensities [N, 1, H, W] in [0, 1]."""
    return grey.reshape(len(grey), 1, *grey.shape[-2:]).float().div_(255)


def binarize(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x ~ Bernoulli(p) element-wise, as float32 zeros and ones (`generator` on p's device)."""
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).float()


def batch_generator(seed: int, epoch: int, position: int, device: torch.device) -> torch.Generator:
    """The generator, on `device`, of the training batch whose first row has `position` in epoch
    `epoch`'s order of a run seeded `seed` (a well-mixed 64-bit seed of the three)."""
    key = np.random.SeedSequence([seed, epoch, position]).generate_state(1, np.uint64)[0]
    return torch.Generator(device).manual_seed(int(key))


class BinarizedImages(TensorDataModule):
    """Base of MNIST, Fashion-MNIST and Omniglot: batches are (x [B, 1, 28, 28] in {0, 1},
    labels int64 [B]). The subclasses' `x_dim` key is the pixel count (784, fixed), for flat
    models' sizes."""

    x_shape = (1, SIDE, SIDE)

    def __init__(self, batch_size: int, eval_batch_size: int, seed: int, data_seed: int):
        super().__init__(batch_size, eval_batch_size, seed)
        self.data_seed = data_seed
        self.train_grey = self.train_labels = None
        self._fixed: Tensors | None = None

    def _set_splits(self, train: Tensors, val: Tensors, test: Tensors) -> None:
        """(uint8 grey images [N, 28, 28], int64 labels [N]) of each split."""
        self.train_grey, self.train_labels = train[0].unsqueeze(1), train[1].long()
        base = EVAL_SEED_BASE + 3 * self.data_seed
        self._val = (binarize(intensities(val[0]), seeded(base)), val[1].long())
        self._test = (binarize(intensities(test[0]), seeded(base + 1)), test[1].long())
        self._fixed = None

    @property
    def train_intensities(self) -> torch.Tensor:
        return intensities(self.train_grey)

    @property
    def n_train(self) -> int:
        return len(self.ready().train_labels)

    def served_epoch(self, epoch: int) -> Tensors:
        """The training loader's rows of `epoch`, shuffled: grey images uint8 [N, 1, 28, 28], labels,
        and each row's draw key (epoch, position) int64 [N, 2] for `transfer_batch_to_device`."""
        order = torch.randperm(self.n_train, generator=epoch_generator(self.seed, epoch))
        grey = self.train_grey[order]
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.strategy.root_device.type == "cuda":
            grey = grey.pin_memory()  # asynchronous copies to the GPU
        draws = torch.stack([torch.full((self.n_train,), epoch), torch.arange(self.n_train)], dim=1)
        return grey, self.train_labels[order], draws

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Training batches (grey, labels, draw keys) arrive binarised on `device`: x ~ Bernoulli
        of the intensities, from the batch's own generator there; evaluation batches as they are."""
        if len(batch) != 3:  # validation and test: (x, labels), binarised once already
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        grey, labels, draws = batch
        epoch, position = draws[0].tolist()  # on the host: no device synchronisation
        grey, labels = super().transfer_batch_to_device((grey, labels), device, dataloader_idx)
        return binarize(intensities(grey), batch_generator(self.seed, epoch, position, grey.device)), labels

    def train_epoch(self, epoch: int) -> Tensors:
        """(x, labels) of `epoch` as one process is served them, binarised on the CPU."""
        batches = Batches(lambda _: self.served_epoch(epoch), self.n_train, self.batch_size)
        cpu = torch.device("cpu")
        x, labels = zip(*(self.transfer_batch_to_device(batch, cpu, 0) for batch in batches))
        return torch.cat(x), torch.cat(labels)

    def train_fixed(self) -> Tensors:
        if self.ready()._fixed is None:
            generator = seeded(EVAL_SEED_BASE + 3 * self.data_seed + 2)
            self._fixed = (binarize(self.train_intensities, generator), self.train_labels)
        return self._fixed
