"""Token sequences as data: the base of `data=smiles` and `data=text` (`mimkit.data.tokens`).

Every split is a LongTensor [N, max_length + 1] of token ids, each row the tokens, EOS, then PAD
(`x_shape` (max_length + 1,)). The data have no labels: `val`, `test` and `train_fixed()` are
(x, None), the training batches (x,). `vocabulary` maps ids to tokens (the training data's, or
the one given, e.g. a trained checkpoint's: its unknown tokens read as UNK), `decode(ids)` gives
the texts back, `training_strings()` the training sequences as text (for novelty).

Training epochs (`train_epoch`) are a permutation of the training rows from (seed, epoch), then
bucketed: within each run of `bucket` batches the rows are sorted by length, and the order of the
resulting batches is shuffled (the same generator), so a batch holds sequences of similar length.
Every batch the loaders yield (training, validation, test) is cut after its longest row's EOS:
no step computes on a column of PAD only.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
from torch.utils.data import DataLoader, IterableDataset

from mimkit.data.batches import Batches, TensorDataModule, Tensors, epoch_generator
from mimkit.data.tokens import decode, lengths
from mimkit.errors import ConfigError, one_line
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)


def read_lines(path: Path) -> tuple[list[tuple[int, str]], int]:
    """([(line number from 1, text stripped of surrounding whitespace)], empty lines) of the UTF-8
    text file `path` (gzip-compressed when its name ends in .gz); ConfigError, one line naming the
    file (and line), for a missing, unreadable or non-text file."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                data = file.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ConfigError(f"{path}: not readable ({one_line(error, 200)})") from None
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = error.start if nul < 0 else min(nul, error.start)
        raise ConfigError(f"{path} line {_line_of(data, bad)} is not UTF-8 text") from None
    if nul >= 0:
        raise ConfigError(f"{path} line {_line_of(data, nul)} is not UTF-8 text (a NUL byte)")
    lines, empty = [], 0
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = line.strip()
        if line:
            lines.append((number, line))
        else:
            empty += 1
    if text.endswith("\n"):
        empty -= 1  # the final newline ends the last line; it does not start an empty one
    return lines, empty


def _line_of(data: bytes, offset: int) -> int:
    """The line number (from 1) of byte `offset` of `data`."""
    return data.count(b"\n", 0, offset) + 1


def bucketed(x: torch.Tensor, generator: torch.Generator, batch_size: int, bucket: int) -> torch.Tensor:
    """The rows of `x` permuted by `generator`, then (bucket > 0) sorted by length within each run
    of `bucket` batches, and the full batches put in an order drawn from `generator` (a last,
    partial batch stays last)."""
    order = torch.randperm(len(x), generator=generator)
    if bucket == 0 or len(x) == 0:
        return order
    sizes = lengths(x)[order]
    window = bucket * batch_size
    runs = []
    for start in range(0, len(order), window):
        part = sizes[start : start + window]
        runs.append(order[start : start + window][torch.sort(part, stable=True).indices])
    order = torch.cat(runs)
    full = len(order) // batch_size
    batches = order[: full * batch_size].view(full, batch_size)
    shuffled = batches[torch.randperm(full, generator=generator)].flatten()
    return torch.cat([shuffled, order[full * batch_size :]])


def trimmed(x: torch.Tensor) -> torch.Tensor:
    """`x` [B, T] without its trailing columns of PAD only (each row's tokens and EOS stay)."""
    width = int(lengths(x).max()) if len(x) else 0
    return x[:, :width] if width < x.shape[1] else x


class TrimmedBatches(IterableDataset):
    """A `Batches`' batches, each with its token rows (the first tensor) trimmed (`trimmed`)."""

    def __init__(self, batches: Batches):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for batch in self.batches:
            yield (trimmed(batch[0]), *batch[1:])


class SequenceDataModule(TensorDataModule):
    """Token sequences without labels (see the module doc). Subclasses' `load` reads their files
    and calls `_set_splits`; `_training_strings` gives the training sequences as text.

    kind: the tokeniser ("smiles", "chars", "words"). max_length: the most tokens of a sequence
    (longer ones are dropped, and counted in the log). vocabulary: null builds it from the training
    data; a list (e.g. a trained model's) is used as is. bucket: batches per length-sorting run
    (0: plain shuffles).
    """

    def __init__(
        self,
        kind: str,
        max_length: PositiveInt,
        vocabulary: list[str] | None,
        bucket: NonNegativeInt,
        batch_size: PositiveInt,
        eval_batch_size: PositiveInt,
        seed: NonNegativeInt,
    ):
        super().__init__(batch_size, eval_batch_size, seed)
        self.kind = kind
        self.max_length = max_length
        self.x_shape = (max_length + 1,)
        self.given_vocabulary = vocabulary
        self.vocabulary: list[str] = list(vocabulary) if vocabulary is not None else []
        self.bucket = bucket
        self._train: torch.Tensor | None = None
        self._strings: frozenset[str] | None = None

    @property
    def has_labels(self) -> bool:
        return False

    @property
    def n_train(self) -> int:
        return len(cast(torch.Tensor, self.ready()._train))

    def _set_splits(self, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor) -> None:
        self._train = train
        self._val = (val, None)
        self._test = (test, None)

    def train_epoch(self, epoch: int) -> Tensors:
        """The training rows of `epoch`, shuffled and bucketed by length from (seed, epoch)."""
        x = cast(torch.Tensor, self.ready()._train)
        order = bucketed(x, epoch_generator(self.seed, epoch), self.batch_size, self.bucket)
        return (x[order],)

    def train_fixed(self) -> Tensors:
        return cast(Tensors, (self.ready()._train, None))

    def decode(self, ids: torch.Tensor) -> list[str]:
        """The texts of the id rows `ids` [N, T] (`mimkit.data.tokens.decode`)."""
        return decode(ids, self.ready().vocabulary, self.kind)

    def training_strings(self) -> frozenset[str]:
        """The training sequences as text (read once)."""
        if self._strings is None:
            self._strings = frozenset(self.ready()._training_strings())
        return self._strings

    def _training_strings(self) -> list[str]:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        batches = Batches(self._train_source, self.n_train, self.batch_size, **self._shard())
        return DataLoader(TrimmedBatches(batches), batch_size=None)

    def _fixed_loader(self, tensors: Tensors) -> DataLoader:
        tensors = tuple(t for t in tensors if t is not None)  # (x, None): no labels
        batches = Batches(lambda _: tensors, len(tensors[0]), self.eval_batch_size, **self._shard())
        return DataLoader(TrimmedBatches(batches), batch_size=None)


def check_rows(path: Path, rows: int, what: str = "sequences") -> None:
    """ConfigError when no sequences are left of `path`."""
    if rows == 0:
        raise ConfigError(f"{path}: no {what} left (empty, or every line longer than data.max_length)")
