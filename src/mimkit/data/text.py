"""Your own text as token sequences: `data=text data.path=FILE` (conf/data/text.yaml).

The file: UTF-8 text (gzip-compressed when its name ends in .gz), one sequence per line;
surrounding whitespace is stripped and empty lines are skipped (counted in the log). Tokens
(`tokens`): "chars", the characters of a line, or "words", its whitespace-separated words.
Lines of more than `max_length` tokens are dropped (counted in the log).

Splits: a permutation from `data_seed` puts round(n · `test_fraction`) sequences in the test
split, round(n · `val_fraction`) in validation, the rest in training (the first `n_train` of them
when given). The vocabulary is the whole training split's (whatever `n_train`), unless
`vocabulary` gives one (a trained model's); tokens outside it are read as <unk> (counted in the
log). A missing or non-text file, or one with no sequences left, ends the run with one line
naming the file (and line).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import torch

from mimkit.data.batches import seeded
from mimkit.data.sequences import SequenceDataModule, check_rows, read_lines
from mimkit.data.tensors import Fraction
from mimkit.data.tokens import JOINERS, build_vocabulary, encode, tokenize
from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

SPLIT_SEED_BASE = 2**44  # keeps the split's seeds apart from the training epochs' seeds
UNSET = "data.path is not set: data=text needs data.path=FILE (UTF-8 text, one sequence per line)"


class TextDataModule(SequenceDataModule):
    """Sequences of a text file of your own (see the module doc): batches (x,), x LongTensor
    [B, T <= max_length + 1] of token ids (tokens, EOS, PAD), trimmed to the batch's longest row.

    path: the file, relative to the folder run from. tokens: "chars" or "words". max_length: the
    most tokens of a line. val_fraction, test_fraction: the splits' shares, drawn from data_seed.
    n_train: the training sequences used (null: all). vocabulary: null (the training split's) or a
    list to use as is. bucket: batches per length-sorting run (0: plain shuffles).
    """

    def __init__(
        self,
        path: str | None = None,
        tokens: Literal["chars", "words"] = "chars",
        max_length: PositiveInt = 200,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        n_train: PositiveInt | None = None,
        batch_size: PositiveInt = 128,
        eval_batch_size: PositiveInt = 1000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        vocabulary: list[str] | None = None,
        bucket: NonNegativeInt = 32,
    ):
        super().__init__(tokens, max_length, vocabulary, bucket, batch_size, eval_batch_size, seed)
        if path is None or path == "":
            raise ConfigError(UNSET)
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction:g} leaves no "
                f"training sequences: keep their sum below 1"
            )
        self.path = Path(path).expanduser()
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self._n_train = n_train
        self.data_seed = data_seed
        self._train_texts: list[str] = []

    def prepare_data(self) -> None:
        """Only checks that the file is there (nothing to copy)."""
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: {'not a file' if self.path.exists() else 'no such file'}")

    def load(self) -> None:
        start = time.perf_counter()
        path = self.path
        lines, empty = read_lines(path)
        if empty:
            log.info("%s: %d empty lines skipped", path, empty)
        sequences = [tokenize(text, self.kind) for _, text in lines]
        kept = [tokens for tokens in sequences if len(tokens) <= self.max_length]
        if len(kept) < len(sequences):
            log.info(
                "%s: %d of %d sequences longer than data.max_length=%d tokens dropped",
                path,
                len(sequences) - len(kept),
                len(sequences),
                self.max_length,
            )
        check_rows(path, len(kept))
        n = len(kept)
        sizes = {name: round(n * self.fractions[name]) for name in ("val", "test")}
        sizes = {"train": n - sum(sizes.values()), **sizes}
        empty_splits = [name for name, size in sizes.items() if size == 0]
        if empty_splits:
            raise ConfigError(
                f"{path}: {n} sequences are too few for data.val_fraction = {self.fractions['val']:g} "
                f"and data.test_fraction = {self.fractions['test']:g}: the {' and '.join(empty_splits)} "
                f"split would be empty; add lines or change the fractions"
            )
        order = torch.randperm(n, generator=seeded(SPLIT_SEED_BASE + self.data_seed)).tolist()
        drawn, at = {}, 0
        for name, size in sizes.items():
            drawn[name] = [kept[i] for i in order[at : at + size]]
            at += size
        if self.given_vocabulary is None:
            self.vocabulary = build_vocabulary(drawn["train"])
        if self._n_train is not None:
            if self._n_train > len(drawn["train"]):
                raise ConfigError(
                    f"data.n_train = {self._n_train} exceeds the {len(drawn['train'])} training "
                    f"sequences of {path}"
                )
            drawn["train"] = drawn["train"][: self._n_train]
        encoded = {name: encode(split, self.vocabulary, self.max_length) for name, split in drawn.items()}
        self._set_splits(**{name: x for name, (x, _) in encoded.items()})
        self._train_texts = [JOINERS[self.kind].join(tokens) for tokens in drawn["train"]]
        unknown = {name: count for name, (_, count) in encoded.items()}
        if any(unknown.values()):
            log.warning(
                "%s: %d tokens outside the vocabulary read as <unk> (%s)",
                path,
                sum(unknown.values()),
                ", ".join(f"{name} {count}" for name, count in unknown.items()),
            )
        self.setup_seconds = time.perf_counter() - start
        log.info(
            "%s: %d train / %d validation / %d test sequences of <= %d %s, a vocabulary of %d tokens "
            "(%s), split by fraction, data_seed %d (%.1f s)",
            path,
            *(len(x) for x, _ in encoded.values()),
            self.max_length,
            self.kind,
            len(self.vocabulary),
            "given" if self.given_vocabulary is not None else "the training split's",
            self.data_seed,
            self.setup_seconds,
        )

    def _training_strings(self) -> list[str]:
        return self._train_texts
