"""MOSES molecules as SMILES token sequences: `data=smiles` (conf/data/smiles.yaml).

The files: MOSES (Polykovskiy et al. 2020, MIT licence) ships train.csv.gz (1,584,663
molecules), test.csv.gz (176,074) and test_scaffolds.csv.gz (176,225), each a gzipped CSV with
the header line `SMILES` and one SMILES string per line. Get them from the `molsets` PyPI package
(`pip install molsets`: they lie in moses/dataset/data/) or from the data/ folder of the MOSES
GitHub repository (github.com/molecularsets/moses), and put them in `source_dir` (only read).

Splits: `n_val` validation and `n_train` training molecules (null: all the rest) are drawn,
disjoint, from the training file by a permutation from `data_seed`; the test set is `n_test`
molecules (null: all) of `test_file` (test.csv.gz, or test_scaffolds.csv.gz for unseen
scaffolds), drawn from `data_seed` too. Molecules of more than `max_length` tokens are dropped
(counted in the log; MOSES molecules have at most about 57 atom-level tokens).

Tokens (`tokens`): "smiles", the atom-level tokens of `mimkit.data.tokens` (bracket atoms, Cl,
Br, ring bonds, ...), or "chars", single characters. The vocabulary is the whole training file's
(the same for every n_train), unless `vocabulary` gives one (a trained model's: unknown tokens
are read as <unk>, counted in the log).

Cache: the training file and the test file are tokenised once into `data_dir`/moses/
cache_<tokens>.pt (see `build_cache`); later runs, whatever their sizes, only slice it. The cache
is rebuilt when a source file's size or modification time changes; a test file it lacks (e.g.
test_scaffolds.csv.gz after test.csv.gz) is tokenised and added.
"""

from __future__ import annotations

import logging
import time
from array import array
from pathlib import Path
from typing import Literal

import torch

from mimkit.data.batches import seeded
from mimkit.data.sequences import SequenceDataModule, check_rows, read_lines
from mimkit.data.storage import load_cache, save_cache
from mimkit.data.tokens import SPECIALS, UNK, padded, token_index, tokenize, vocabulary_from_counts
from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

TRAIN_FILE = "train.csv.gz"
HEADER = "SMILES"
CACHE_FORMAT = 1
SPLIT_SEED_BASE = 2**43  # keeps the splits' seeds apart from the training epochs' seeds
TEST_SEED_OFFSET = 2**20
CHUNK_ROWS = 2**16  # rows built at a time from the cache
GET_FILES = (
    "the MOSES files train.csv.gz, test.csv.gz and test_scaffolds.csv.gz come with the molsets "
    "package (pip install molsets: moses/dataset/data/) or the MOSES GitHub repository's data/ "
    "folder; set data.source_dir to their folder"
)


def read_smiles(path: Path) -> tuple[list[tuple[int, str]], int]:
    """([(line number, SMILES)], empty lines) of a MOSES file: a (gzipped) CSV whose header line
    names a SMILES column; ConfigError, one line naming the file and line, for anything else."""
    lines, empty = read_lines(path)
    if not lines:
        raise ConfigError(f"{path}: no sequences (the file is empty)")
    number, header = lines[0]
    columns = [name.strip() for name in header.split(",")]
    if HEADER not in columns:
        raise ConfigError(f"{path} line {number}: expected the header line {HEADER!r}, found {header[:80]!r}")
    if len(columns) == 1:
        return lines[1:], empty
    column = columns.index(HEADER)
    rows = []
    for number, line in lines[1:]:
        fields = line.split(",")
        if len(fields) != len(columns):
            raise ConfigError(f"{path} line {number}: {len(fields)} fields, the header {len(columns)}")
        rows.append((number, fields[column].strip()))
    return rows, empty


def stamp(path: Path) -> list[int]:
    """[size, modification time in ns] of `path` (what a cache of it is checked against)."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def tokenize_file(path: Path, kind: str, index: dict[str, int]) -> dict:
    """The sequences of the MOSES file `path` as {"ids": int32 [tokens], "offsets": int64 [n + 1],
    "empty": empty lines}; token ids from `index`, which new tokens join (in the order met)."""
    rows, empty = read_smiles(path)
    flat = array("i")
    offsets = array("q", [0])
    for number, text in rows:
        try:
            tokens = tokenize(text, kind)
        except ValueError as error:
            raise ConfigError(f"{path} line {number}: {error}") from None
        flat.extend([index.setdefault(token, len(index)) for token in tokens])
        offsets.append(len(flat))
    ids = torch.frombuffer(flat, dtype=torch.int32).clone() if flat else torch.zeros(0, dtype=torch.int32)
    return {
        "ids": ids,
        "offsets": torch.frombuffer(offsets, dtype=torch.int64).clone(),
        "empty": empty,
    }


def _id_dtype(size: int) -> torch.dtype:
    return torch.uint8 if size <= 256 else torch.int16 if size <= 2**15 else torch.int32


def build_cache(source_dir: Path, files: list[str], kind: str) -> dict:
    """The cache of the MOSES `files` (the training file first), tokenised by `kind`:
    {"format", "kind", "tokens": the ids' tokens (SPECIALS, the training file's tokens by decreasing
    count, then tokens met only in other files), "n_vocabulary": how many of them are the training
    file's vocabulary, "files": {name: {"stamp": [size, mtime_ns], "ids": uint8/int16 [tokens],
    "offsets": int64 [sequences + 1] (sequence i is ids[offsets[i] : offsets[i + 1]]), "lines":
    sequences, "empty": empty lines}}}."""
    assert files[0] == TRAIN_FILE
    index: dict[str, int] = {}
    parts = {TRAIN_FILE: tokenize_file(source_dir / TRAIN_FILE, kind, index)}
    seen = list(index)  # the training file's tokens, by first appearance
    for name in files[1:]:
        parts[name] = tokenize_file(source_dir / name, kind, index)
    counts = torch.bincount(parts[TRAIN_FILE]["ids"].long(), minlength=len(seen)).tolist()
    vocabulary = vocabulary_from_counts(dict(zip(seen, counts)))
    if any(token in SPECIALS for token in index):
        raise ConfigError(f"{source_dir}: a token of the data is named like a special token {SPECIALS}")
    extra = [token for token in index if token not in set(seen)]
    tokens = vocabulary + extra
    position = {token: i for i, token in enumerate(tokens)}
    remap = torch.tensor([position[token] for token in index], dtype=torch.long)
    return {
        "format": CACHE_FORMAT,
        "kind": kind,
        "tokens": tokens,
        "n_vocabulary": len(vocabulary),
        "files": {name: _entry(source_dir / name, part, remap, len(tokens)) for name, part in parts.items()},
    }


def _entry(path: Path, part: dict, remap: torch.Tensor, size: int) -> dict:
    ids = remap[part["ids"].long()] if len(part["ids"]) else part["ids"].long()
    return {
        "stamp": stamp(path),
        "ids": ids.to(_id_dtype(size)),
        "offsets": part["offsets"],
        "lines": len(part["offsets"]) - 1,
        "empty": part["empty"],
    }


def add_file(cache: dict, source_dir: Path, name: str) -> dict:
    """`cache` with the MOSES file `name` tokenised into it (new tokens appended to its tokens)."""
    tokens = list(cache["tokens"])
    index = {token: i for i, token in enumerate(tokens)}
    part = tokenize_file(source_dir / name, cache["kind"], index)
    new = list(index)[len(tokens) :]
    if any(token in SPECIALS for token in new):
        raise ConfigError(f"{source_dir / name}: a token is named like a special token {SPECIALS}")
    tokens += new
    dtype = _id_dtype(len(tokens))
    files = {key: {**entry, "ids": entry["ids"].to(dtype)} for key, entry in cache["files"].items()}
    files[name] = _entry(source_dir / name, part, torch.arange(len(tokens)), len(tokens))
    return {**cache, "tokens": tokens, "files": files}


class SmilesDataModule(SequenceDataModule):
    """MOSES molecules as SMILES token sequences (see the module doc): batches (x,), x LongTensor
    [B, T <= max_length + 1] of token ids (tokens, EOS, PAD), trimmed to the batch's longest row.

    source_dir: the folder of the MOSES files (only read). data_dir: where the cache is kept.
    tokens: "smiles" (atom-level) or "chars". max_length: the most tokens of a molecule. n_train
    (null: all), n_val: drawn from the training file; n_test (null: all): from `test_file`.
    data_seed: seed of those draws. vocabulary: null (the training file's) or a list to use as is.
    bucket: batches per length-sorting run (0: plain shuffles).
    """

    def __init__(
        self,
        source_dir: str,
        data_dir: str,
        tokens: Literal["smiles", "chars"] = "smiles",
        max_length: PositiveInt = 100,
        n_train: PositiveInt | None = 50000,
        n_val: PositiveInt = 2000,
        n_test: PositiveInt | None = 10000,
        test_file: str = "test.csv.gz",
        batch_size: PositiveInt = 256,
        eval_batch_size: PositiveInt = 1000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
        vocabulary: list[str] | None = None,
        bucket: NonNegativeInt = 32,
    ):
        super().__init__(tokens, max_length, vocabulary, bucket, batch_size, eval_batch_size, seed)
        if test_file == TRAIN_FILE or Path(test_file).name != test_file:
            raise ConfigError(
                f"data.test_file must name a test file in data.source_dir (test.csv.gz or "
                f"test_scaffolds.csv.gz), got {test_file!r}"
            )
        self.source_dir, self.data_dir = Path(source_dir).expanduser(), Path(data_dir).expanduser()
        self.test_file = test_file
        self._n_train, self._n_val, self._n_test = n_train, n_val, n_test
        self.data_seed = data_seed
        self.cache_path = self.data_dir / "moses" / f"cache_{tokens}.pt"
        self._prepared: dict | None = None
        self.cache_note = ""

    def prepare_data(self) -> None:
        """Checks the source files and reads (or builds and saves) the cache."""
        self._prepared = self._cache()

    def _cache(self) -> dict:
        start = time.perf_counter()
        files = [TRAIN_FILE, self.test_file]
        for name in files:
            path = self.source_dir / name
            if not path.is_file():
                raise ConfigError(f"{path}: no such file ({GET_FILES})")
        stamps = {name: stamp(self.source_dir / name) for name in files}

        def valid(stored: dict) -> bool:
            known = stored.get("files", {})
            return (
                stored.get("format") == CACHE_FORMAT
                and stored.get("kind") == self.kind
                and TRAIN_FILE in known
                and known[TRAIN_FILE].get("stamp") == stamps[TRAIN_FILE]
            )

        cache = load_cache(self.cache_path, valid)
        test = None if cache is None else cache["files"].get(self.test_file)
        if cache is not None and test is not None and test.get("stamp") == stamps[self.test_file]:
            self.cache_note = f"cache {self.cache_path} read"
        else:
            if cache is None:
                cache = build_cache(self.source_dir, files, self.kind)
            else:
                cache = add_file(cache, self.source_dir, self.test_file)
            save_cache(cache, self.cache_path)
            self.cache_note = f"cache {self.cache_path} written"
        self.cache_seconds = time.perf_counter() - start
        self.cache_note += f" in {self.cache_seconds:.1f} s"
        return cache

    def load(self) -> None:
        start = time.perf_counter()
        cache = self._prepared if self._prepared is not None else self._cache()
        self._prepared = None
        tokens, own = cache["tokens"], cache["tokens"][: cache["n_vocabulary"]]
        if self.given_vocabulary is None:
            self.vocabulary = list(own)
        index = token_index(self.vocabulary)
        table = torch.tensor([index.get(token, UNK) for token in tokens], dtype=torch.long)
        table[: len(SPECIALS)] = torch.arange(len(SPECIALS))
        train_path, test_path = self.source_dir / TRAIN_FILE, self.source_dir / self.test_file
        train_file, test_file = cache["files"][TRAIN_FILE], cache["files"][self.test_file]

        kept = self._kept(train_path, train_file)
        n_val, n_train = self._n_val, self._n_train
        if n_val + (n_train or 1) > len(kept):
            raise ConfigError(
                f"data.n_val + data.n_train = {n_val} + {n_train or 'at least 1'} exceeds the {len(kept)} "
                f"molecules of {train_path} of at most data.max_length={self.max_length} tokens"
            )
        drawn = kept[torch.randperm(len(kept), generator=seeded(SPLIT_SEED_BASE + self.data_seed))]
        val_rows = drawn[:n_val]
        train_rows = drawn[n_val : None if n_train is None else n_val + n_train]

        kept_test = self._kept(test_path, test_file)
        if self._n_test is not None and self._n_test > len(kept_test):
            raise ConfigError(
                f"data.n_test = {self._n_test} exceeds the {len(kept_test)} molecules of {test_path} "
                f"of at most data.max_length={self.max_length} tokens"
            )
        test_generator = seeded(SPLIT_SEED_BASE + TEST_SEED_OFFSET + self.data_seed)
        test_rows = kept_test[torch.randperm(len(kept_test), generator=test_generator)[: self._n_test]]
        test_rows = test_rows.sort().values

        splits = {
            "train": self._rows(train_file, train_rows, table),
            "val": self._rows(train_file, val_rows, table),
            "test": self._rows(test_file, test_rows, table),
        }
        self._set_splits(**splits)
        unknown = {name: int((x == UNK).sum()) for name, x in splits.items()}
        if any(unknown.values()):
            log.warning(
                "MOSES: %d tokens outside the vocabulary read as <unk> (%s)",
                sum(unknown.values()),
                ", ".join(f"{name} {count}" for name, count in unknown.items()),
            )
        self.setup_seconds = time.perf_counter() - start
        log.info(
            "MOSES: %d train / %d validation / %d test (%s) molecules of <= %d %s tokens, a vocabulary "
            "of %d tokens (%s), data_seed %d; %s (%.1f s)",
            *(len(x) for x in splits.values()),
            self.test_file,
            self.max_length,
            self.kind,
            len(self.vocabulary),
            "given" if self.given_vocabulary is not None else "the whole training file's",
            self.data_seed,
            self.cache_note,
            self.setup_seconds,
        )

    def _kept(self, path: Path, entry: dict) -> torch.Tensor:
        """The rows of a cached file of at most max_length tokens (the others dropped, stated)."""
        if entry["empty"]:
            log.info("%s: %d empty lines skipped", path, entry["empty"])
        sizes = entry["offsets"].diff()
        keep = sizes <= self.max_length
        dropped = len(sizes) - int(keep.sum())
        if dropped:
            log.info(
                "%s: %d of %d molecules longer than data.max_length=%d tokens dropped",
                path,
                dropped,
                len(sizes),
                self.max_length,
            )
        check_rows(path, int(keep.sum()), "molecules")
        return keep.nonzero().flatten()

    def _rows(self, entry: dict, rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """The cached file's sequences `rows` as id rows of the vocabulary (`table` maps the
        cache's ids to it), built in chunks (no full-size temporaries)."""
        offsets = entry["offsets"]
        out = torch.empty(len(rows), self.max_length + 1, dtype=torch.long)
        for chunk in torch.arange(len(rows)).split(CHUNK_ROWS):
            starts = offsets[rows[chunk]]
            sizes = offsets[rows[chunk] + 1] - starts
            out[chunk] = table[padded(entry["ids"], starts, sizes, self.max_length)]
        return out

    def _training_strings(self) -> list[str]:
        """The whole training file's SMILES (not only the drawn subset)."""
        return [text for _, text in read_smiles(self.source_dir / TRAIN_FILE)[0]]
