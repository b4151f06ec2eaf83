"""Minibatches sliced from whole tensors, with no per-item Python work.

The authors' toy loader drew GMM samples one at a time through a DataLoader (0.40 s of a
0.89 s epoch: docs/performance.md, "Reference measurements"); here each epoch's data is one tensor operation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, Self, cast

import torch
from torch.utils.data import DataLoader, IterableDataset

from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, PositiveInt

Tensors = tuple[torch.Tensor, ...]

EVAL_SEED_BASE = 2**40  # keeps fixed-set seeds apart from per-epoch training seeds


class Batches(IterableDataset):
    """Iterates over `source(epoch)`'s tensors in slices of `batch_size`, epoch by epoch.

    rank, world: in data-parallel runs (`world` processes) this process serves its contiguous
    1/world of each epoch's rows, cut into as many batches as one process would serve
    (ceil(size / batch_size)); so every process takes the same number of steps and a step's
    batches add up to about `batch_size` rows (the same protocol whatever the process count).
    """

    def __init__(
        self, source: Callable[[int], Tensors], size: int, batch_size: int, rank: int = 0, world: int = 1
    ):
        self.source = source
        self.size = size
        self.batch_size = batch_size
        self.rank, self.world = rank, world
        self.epoch = 0
        if world > 1 and size // world < len(self):
            raise ConfigError(
                f"{size} rows in batches of {batch_size} give {len(self)} steps, more "
                f"than the {size // world} rows each of {world} processes holds: use a "
                f"data.batch_size of at least {world}"
            )

    def __len__(self) -> int:
        return math.ceil(self.size / self.batch_size)

    def __iter__(self):
        tensors = self.source(self.epoch)
        self.epoch += 1
        if self.world == 1:
            for start in range(0, self.size, self.batch_size):
                yield tuple(t[start : start + self.batch_size] for t in tensors)
            return
        shards = [t[: self.size].tensor_split(self.world)[self.rank] for t in tensors]
        yield from zip(*(shard.tensor_split(len(self)) for shard in shards))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def labels_of(split: Tensors | None) -> torch.Tensor | None:
    """The labels of a split (x, labels), or None for data without labels: (x, None) or (x,)."""
    return split[1] if split is not None and len(split) > 1 else None


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of training epoch `epoch` of a run seeded `seed` (data are a function of
    (seed, epoch), so a resumed run draws what an uninterrupted one would)."""
    return seeded(seed * 1_000_003 + epoch)


class TensorDataModule:
    """Base for data held as (x, label) tensors, in Lightning's two steps: a LightningDataModule
    once built (`__new__` builds each class as `with_lightning(class)`), so that the class and its
    constructor's signature, the config's schema, are read without importing Lightning.

    Construction only stores settings. `prepare_data()` puts the files the data are read from in
    place (copy, checksum, extract; Lightning calls it once per machine, on local rank 0; nothing
    for drawn data); `setup()` loads every split (whatever the stage: the metrics read the
    training and test sets at test time) in every process, once, through the subclass's `load`,
    which fills `_val`, `_test` and what `train_epoch(epoch)` (that epoch's training tensors:
    fresh samples or a shuffle) and `train_fixed()` (one fixed training set, for K-NN fitting
    and PCA) read. Used without a trainer, the first `val`, `test`, `train_fixed()`, `n_train`
    or `train_epoch()` prepares and sets the module up itself (`ready`).

    Data without labels: `val`, `test` and `train_fixed()` are (x, None), the training batches
    (x,), and `has_labels` is False (`labels_of` reads either form); the label metrics and
    pictures are then skipped.
    """

    x_shape: tuple[int, ...]

    @property
    def has_labels(self) -> bool:
        return True  # every shipped data set but data=tensors / data=images without labels

    def __new__(cls, *args, **kwargs):
        # mypy checks a class object's unbound __hash__ against Hashable (@cache's argument type);
        # classes are hashable
        return super().__new__(with_lightning(cls))  # type: ignore[arg-type]

    if TYPE_CHECKING:  # LightningDataModule's, the base `with_lightning` adds when built

        def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any: ...

    def __init__(self, batch_size: PositiveInt, eval_batch_size: PositiveInt, seed: NonNegativeInt):
        super().__init__()  # LightningDataModule's
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        # (x, labels), (x,) or, data without labels, (x, None)
        self._val: Tensors | tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._test: Tensors | tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._loaded = False

    def prepare_data(self) -> None:
        """Put the files `load` reads in place (nothing to do for drawn data)."""

    def setup(self, stage: str | None = None) -> None:
        """Load every split, once (later calls do nothing)."""
        if not self._loaded:
            self.load()
            self._loaded = True

    def load(self) -> None:
        raise NotImplementedError

    def ready(self) -> Self:
        """This module, prepared and set up (for use without a trainer)."""
        if not self._loaded:
            self.prepare_data()
            self.setup()
        return self

    @property
    def val(self) -> Tensors:
        return cast(Tensors, self.ready()._val)  # set by setup

    @property
    def test(self) -> Tensors:
        return cast(Tensors, self.ready()._test)  # set by setup

    def train_epoch(self, epoch: int) -> Tensors:
        raise NotImplementedError

    def loader_rows(self, epoch: int) -> Tensors:
        """The tensors the training loader slices into batches for `epoch`: `train_epoch`'s,
        unless a subclass serves raw rows that its batch transfer completes on the device."""
        return self.train_epoch(epoch)

    def train_fixed(self) -> Tensors:
        raise NotImplementedError

    @property
    def n_train(self) -> int:
        raise NotImplementedError

    def _shard(self) -> dict[str, int]:
        """This process's place among the trainer's data-parallel processes (rank 0 of 1 alone)."""
        trainer = getattr(self, "trainer", None)
        return {"rank": getattr(trainer, "global_rank", 0), "world": getattr(trainer, "world_size", 1)}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            Batches(self._train_source, self.n_train, self.batch_size, **self._shard()), batch_size=None
        )

    def _train_source(self, count: int) -> Tensors:
        """Training tensors of the trainer's current epoch (so a resumed run draws the data an
        uninterrupted one would; always epoch 0's when overfitting a few batches), or of the
        `count`-th pass when used without a trainer."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return self.loader_rows(count)
        return self.loader_rows(0 if trainer.overfit_batches else trainer.current_epoch)

    def _fixed_loader(self, tensors: Tensors) -> DataLoader:
        tensors = tuple(t for t in tensors if t is not None)  # (x, None): data without labels
        return DataLoader(
            Batches(lambda _: tensors, len(tensors[0]), self.eval_batch_size, **self._shard()),
            batch_size=None,
        )

    def val_dataloader(self) -> DataLoader:
        return self._fixed_loader(self.val)

    def test_dataloader(self) -> DataLoader:
        return self._fixed_loader(self.test)


@cache
def with_lightning(cls: type) -> type:
    """`cls`, a TensorDataModule class, with Lightning's LightningDataModule as its last base (its
    own methods come first); the same name and module, so messages and logs read the same."""
    import lightning as L

    if issubclass(cls, L.LightningDataModule):
        return cls
    return type(
        cls.__name__,
        (cls, L.LightningDataModule),
        {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
    )
