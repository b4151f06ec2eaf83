"""Your own data as one array file: `data=tensors data.path=FILE` (docs/own-data.md).

Formats, chosen by the file's extension:

- `.npz` (numpy): an array `x` [N, D] and optionally the labels `y` [N]; or the splits given as
  `x_train` (required), `x_val`, `x_test` with `y_train`, `y_val`, `y_test` (all or none);
- `.npy`: one array x [N, D], no labels;
- `.pt` (torch.save): a tensor x [N, D], or a dict of tensors with the `.npz` keys; read with
  `torch.load(weights_only=True)`;
- `.csv`: one row per point, comma-separated, with a header row of column names unless the
  first row is all numbers. `label_column` names the label column (or gives its index, counting
  from 0), if any; a column named `split` (values train, val, test) gives the splits. Every other
  column is a feature.

Labels are integers, or strings (then coded 0..K-1 in sorted order, `class_names` the strings).
Without labels every split is (x, None) (`has_labels` False) and the metrics and pictures that
need labels are skipped (metrics.json's `skipped` says which).

Splits: a split the file does not give is drawn from the training rows (all rows, where the file
gives no splits) by a permutation from `data_seed` (every run of a sweep shares it):
round(n · `test_fraction`) rows to test, round(n · `val_fraction`) to validation, the rest to train.

Data type: `binary=true` says the data are binary (every value 0 or 1; anything else is an
error), `false` continuous; null (the default) detects it: binary when every value of every
split is 0 or 1, stated in the log. Detection does not choose the model (the model group is
composed before any data is read): with binary data and a Gaussian decoder the run says to use
`model=mlp_bernoulli`, the Bernoulli decoder (`mimkit.app.run`).

Standardisation (`standardize`, on by default, continuous data only): the training split's
per-feature mean and std (a constant feature keeps std 1) are handed to the model
(`standardization`), not applied to the served data. The model standardises its encoder's input
and maps its Gaussian decoder's output back (`mimkit.model.standardization`), so the data, the
metrics (`test/nll`, `test/recon`, ...) and the model API (`embed`, `reconstruct`, `nll`,
`sample`, ...) are all in the file's units; the statistics are saved in the checkpoint.

The number of features is read from the file's header when the config is resolved
(`peek_x_dim`, the `${mimkit.tensor_x_dim:...}` resolver of conf/data/tensors.yaml), so the flat
models' sizes (`${data.x_dim}`) follow the data. Bad input ends the run with one line naming the
file and the problem, before any model work: a missing or unreadable file, wrong keys or
columns, a non-numeric or empty value, NaN or inf in x, ragged or mismatched shapes, labels of
another length, non-binary values under `binary=true`, a split left empty.
"""

from __future__ import annotations

import csv
import logging
import time
import zipfile
from pathlib import Path
from typing import Annotated, cast

import numpy as np
import torch
from pydantic import Field, Strict

from mimkit.data.batches import TensorDataModule, Tensors, epoch_generator, seeded
from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

FORMATS = (".npz", ".npy", ".pt", ".csv")
SPLITS = ("train", "val", "test")
SPLIT_COLUMN = "split"
SPLIT_SEED_BASE = 2**42  # keeps the split's seeds apart from the training epochs' seeds
UNSET = "data.path is not set: data=tensors needs data.path=FILE (.npz, .npy, .pt or .csv)"
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]  # a sum >= 1, an empty split: errors
Column = Annotated[str, Field(min_length=1)] | Annotated[int, Strict(), Field(ge=0)]

# a file's arrays: {"all": (x, y)} or {split: (x, y)} with "train" among the splits; y may be None
Parts = dict[str, tuple[np.ndarray, np.ndarray | None]]


def _fail(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"data.path {str(path)!r}: {problem}")


def _brief(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"


def _check_path(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise _fail(
            path, f"unknown format {path.suffix or '(no extension)'!r}: use one of {', '.join(FORMATS)}"
        )
    if not path.exists():
        raise _fail(path, "no such file")
    if not path.is_file():
        raise _fail(path, "not a file")


# --- keys of .npz / .pt files ----------------------------------------------------------------

KEYS_HELP = "'x' (and 'y'), or 'x_train', 'x_val', 'x_test' (and 'y_train', 'y_val', 'y_test')"


def _layout(path: Path, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    """{part: (x key, y key or None)} of a file holding `keys`: {"all": ("x", "y")} or the given
    splits; ConfigError for keys outside that layout."""
    given = [split for split in SPLITS if f"x_{split}" in keys]
    if "x" in keys and given:
        raise _fail(path, f"holds both 'x' and {', '.join(repr(f'x_{s}') for s in given)}: give one layout")
    if "x" in keys:
        parts = {"all": ("x", "y" if "y" in keys else None)}
    elif given:
        if "train" not in given:
            raise _fail(path, f"holds {', '.join(repr(f'x_{s}') for s in given)} but no 'x_train'")
        labelled = [split for split in given if f"y_{split}" in keys]
        if labelled and labelled != given:
            missing = [f"y_{split}" for split in given if split not in labelled]
            raise _fail(path, f"gives labels for some splits only: no {', '.join(map(repr, missing))}")
        parts = {split: (f"x_{split}", f"y_{split}" if labelled else None) for split in given}
    else:
        raise _fail(
            path,
            f"has no array 'x' or 'x_train' (its keys: {', '.join(map(repr, keys)) or 'none'}); "
            f"data=tensors reads {KEYS_HELP}",
        )
    known = {key for pair in parts.values() for key in pair if key}
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise _fail(path, f"unexpected keys {', '.join(map(repr, unknown))}: data=tensors reads {KEYS_HELP}")
    return parts


# --- the number of features, from the header only (config time) ------------------------------


def peek_x_dim(path: str | None, label_column: str | int | None = None) -> int:
    """The number of features D of the data file `path`, read from its header (the `.npy`
    header, the `.npz` member's header, a memory-mapped `.pt`, the `.csv` header row)."""
    if path is None or str(path) == "":
        raise ConfigError(UNSET)
    file = Path(str(path)).expanduser()
    _check_path(file)
    suffix = file.suffix.lower()
    if suffix != ".csv" and label_column is not None:
        raise ConfigError(f"data.label_column applies to .csv files only; {str(file)!r} is a {suffix} file")
    try:
        if suffix == ".npy":
            with open(file, "rb") as handle:
                return _features(file, "x", _npy_header_shape(file, "x", handle))
        if suffix == ".npz":
            with zipfile.ZipFile(file) as archive:
                members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
                key = _layout(file, list(members))["all" if "x" in members else "train"][0]
                with archive.open(members[key]) as member:
                    shape = _npy_header_shape(file, key, member)
            return _features(file, key, shape)
        if suffix == ".pt":
            stored = _torch_load(file, mmap=True)
            key, x = _pt_x(file, stored)
            return _features(file, key, tuple(x.shape))
        return _csv_peek(file, label_column)
    except ConfigError:
        raise
    except Exception as error:  # a corrupt or foreign file
        raise _fail(file, f"not a readable {suffix} file ({_brief(error)})") from None


def _npy_header_shape(path: Path, key: str, file) -> tuple[int, ...]:
    """The shape in the .npy header at the start of `file` (array `key` of `path`)."""
    version = np.lib.format.read_magic(file)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(file)
    if dtype.hasobject:
        raise _object_array(path, key)
    return tuple(shape)


def _object_array(path: Path, key: str) -> ConfigError:
    problem = "is an object array (ragged rows or Python objects): store a rectangular numeric array"
    return _fail(path, f"{key!r} {problem}")


def _features(path: Path, key: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 2:
        hint = (
            " (reshape 1-D data to [N, 1])"
            if len(shape) == 1
            else " (flatten each point, or use data=images)"
        )
        raise _fail(path, f"{key!r} has shape {list(shape)}: data=tensors takes a 2-D array [N, D]{hint}")
    if shape[0] == 0 or shape[1] == 0:
        raise _fail(path, f"{key!r} has shape {list(shape)}: no data")
    return int(shape[1])


def _torch_load(path: Path, mmap: bool = False):
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError:
        if not mmap:
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # an old (non-zip) file


def _pt_x(path: Path, stored) -> tuple[str, torch.Tensor]:
    if isinstance(stored, torch.Tensor):
        return "x", stored
    if not isinstance(stored, dict) or not all(isinstance(key, str) for key in stored):
        raise _fail(
            path, f"holds a {type(stored).__name__}: save a tensor x or a dict with the keys {KEYS_HELP}"
        )
    key = _layout(path, list(stored))["all" if "x" in stored else "train"][0]
    return key, _pt_tensor(path, key, stored[key])


def _pt_tensor(path: Path, key: str, value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise _fail(
            path, f"{key!r} is a {type(value).__name__}, not a tensor (ragged data? store one [N, D] tensor)"
        )
    return value


# --- CSV --------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows(path: Path, limit: int | None = None) -> list[list[str]]:
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as file:
        for row in csv.reader(file):
            if not row or all(not field.strip() for field in row):
                continue  # blank lines
            rows.append([field.strip() for field in row])
            if limit is not None and len(rows) >= limit:
                break
    if not rows:
        raise _fail(path, "is empty")
    return rows


def _csv_columns(path: Path, first: list[str], label_column: str | int | None):
    """(header names or None, feature column indices, label index or None, split index or None)."""
    header = None if all(_is_number(field) for field in first) else first
    width = len(first)
    names = header or [str(i) for i in range(width)]
    label = None
    if isinstance(label_column, int):
        if label_column >= width:
            raise _fail(
                path, f"data.label_column={label_column} but the rows have {width} columns (0..{width - 1})"
            )
        label = label_column
    elif label_column is not None:
        if header is None:
            raise _fail(
                path,
                f"data.label_column={label_column!r} names a column, but the file has no header row "
                f"(its first row is all numbers): give the column's index instead",
            )
        if label_column not in header:
            raise _fail(
                path, f"no column {label_column!r} (data.label_column); its columns: {', '.join(header)}"
            )
        label = header.index(label_column)
    split = header.index(SPLIT_COLUMN) if header is not None and SPLIT_COLUMN in header else None
    if header is not None and len(set(header)) < len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise _fail(path, f"repeats the column names {', '.join(map(repr, twice))}")
    features = [i for i in range(width) if i not in (label, split)]
    if not features:
        raise _fail(path, f"has no feature columns (its columns: {', '.join(names)})")
    return header, features, label, split


def _csv_peek(path: Path, label_column: str | int | None) -> int:
    rows = _csv_rows(path, limit=2)
    _, features, _, _ = _csv_columns(path, rows[0], label_column)
    return len(features)


def _read_csv(path: Path, label_column: str | int | None) -> Parts:
    rows = _csv_rows(path)
    header, features, label, split = _csv_columns(path, rows[0], label_column)
    names = header or [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if header is not None else rows
    if not body:
        raise _fail(path, "has a header row but no data rows")
    first = 2 if header is not None else 1  # the file line of body[0] (blank lines aside)
    for index, row in enumerate(body):
        if len(row) != len(names):
            raise _fail(
                path, f"row {index + first} has {len(row)} fields, the first row {len(names)} (ragged rows)"
            )
    columns = []
    for j in features:
        values = [row[j] for row in body]
        try:
            columns.append(np.array(values, dtype=np.float64))
        except ValueError:
            bad = next(i for i, value in enumerate(values) if not _is_number(value))
            shown = f"{values[bad]!r} is not a number" if values[bad] else "an empty field"
            hint = " (name the label column with data.label_column)" if label is None else ""
            raise _fail(path, f"row {bad + first}, column {names[j]!r}: {shown}{hint}") from None
    x = np.stack(columns, axis=1)
    y = None
    if label is not None:
        texts = [row[label] for row in body]
        if any(not text for text in texts):
            bad = next(i for i, text in enumerate(texts) if not text)
            raise _fail(path, f"row {bad + first}, label column {names[label]!r}: an empty field")
        y = np.array(texts)
    if split is None:
        return {"all": (x, y)}
    marks = [row[split].lower() for row in body]
    wrong = next((i for i, mark in enumerate(marks) if mark not in SPLITS), None)
    if wrong is not None:
        raise _fail(
            path,
            f"row {wrong + first}, column {SPLIT_COLUMN!r}: {body[wrong][split]!r} is not one of "
            f"{', '.join(SPLITS)}",
        )
    marks_array = np.array(marks)
    if not (marks_array == "train").any():
        raise _fail(path, f"its column {SPLIT_COLUMN!r} marks no row 'train'")
    return {
        name: (x[marks_array == name], None if y is None else y[marks_array == name])
        for name in SPLITS
        if (marks_array == name).any()
    }


# --- reading a whole file ---------------------------------------------------------------------


def read_parts(path: Path, label_column: str | int | None = None) -> Parts:
    """The arrays of the data file `path` as given (not yet checked beyond the layout)."""
    _check_path(path)
    suffix = path.suffix.lower()
    if suffix != ".csv" and label_column is not None:
        raise ConfigError(f"data.label_column applies to .csv files only; {str(path)!r} is a {suffix} file")
    try:
        if suffix == ".csv":
            return _read_csv(path, label_column)
        if suffix == ".npy":
            return {"all": (_npy_array(path, "x", lambda: np.load(path, allow_pickle=False)), None)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                layout = _layout(path, list(archive.files))
                return {
                    part: (
                        _npy_array(path, x_key, lambda key=x_key: archive[key]),
                        None if y_key is None else _npy_array(path, y_key, lambda key=y_key: archive[key]),
                    )
                    for part, (x_key, y_key) in layout.items()
                }
        stored = _torch_load(path)
        if isinstance(stored, torch.Tensor):
            return {"all": (_tensor_array(stored), None)}
        _pt_x(path, stored)  # a dict of the known keys
        layout = _layout(path, list(stored))
        return {
            part: (
                _tensor_array(_pt_tensor(path, x_key, stored[x_key])),
                None if y_key is None else _tensor_array(_pt_tensor(path, y_key, stored[y_key])),
            )
            for part, (x_key, y_key) in layout.items()
        }
    except ConfigError:
        raise
    except Exception as error:  # a corrupt or foreign file
        raise _fail(path, f"not a readable {suffix} file ({_brief(error)})") from None


def _npy_array(path: Path, key: str, read) -> np.ndarray:
    try:
        return read()
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise _object_array(path, key) from None
        raise


def _tensor_array(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    return tensor.numpy()


def _name(part: str, kind: str) -> str:
    return kind if part == "all" else f"{kind}_{part}"


def check_x(path: Path, part: str, x: np.ndarray) -> torch.Tensor:
    """float32 [N, D] from the array of `part`; ConfigError for a non-numeric, ragged, empty or
    non-finite one."""
    name = _name(part, "x")
    if x.dtype.kind not in "biuf":
        raise _fail(path, f"{name!r} holds {x.dtype} values: data=tensors takes numbers")
    _features(path, name, x.shape)
    values = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        row, column = (int(i) for i in bad.nonzero()[0])
        raise _fail(
            path,
            f"{name!r} holds {int(bad.sum())} NaN or infinite values (the first in row "
            f"{row}, column {column}, counting from 0)",
        )
    return values


def label_codes(path: Path, parts: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """int64 labels of each part and the class names (None for integer labels); string labels are
    coded by their sorted order over every part."""
    kinds = {array.dtype.kind for array in parts.values()}
    for part, y in parts.items():
        if y.ndim == 2 and y.shape[1] == 1:
            parts[part] = y = y[:, 0]
        if y.ndim != 1:
            raise _fail(path, f"{_name(part, 'y')!r} has shape {list(y.shape)}: labels are one per row [N]")
    if kinds <= set("biuf"):
        codes = {}
        for part, y in parts.items():
            if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
                raise _fail(
                    path, f"{_name(part, 'y')!r} holds non-integer values: labels are integers or strings"
                )
            codes[part] = torch.from_numpy(y.astype(np.int64))
        return codes, None
    if kinds <= set("US"):
        texts = {part: y.astype(str) for part, y in parts.items()}
        if all(all(_is_integer(t) for t in np.unique(y)) for y in texts.values()):  # CSV integers
            return {part: torch.from_numpy(y.astype(np.int64)) for part, y in texts.items()}, None
        names = np.unique(np.concatenate(list(texts.values())))
        codes = {
            part: torch.from_numpy(np.searchsorted(names, y).astype(np.int64)) for part, y in texts.items()
        }
        return codes, [str(name) for name in names]
    raise _fail(
        path,
        f"labels of dtype {', '.join(sorted(str(y.dtype) for y in parts.values()))}: "
        f"labels are integers or strings",
    )


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


class TensorsDataModule(TensorDataModule):
    """One array file of your own (see the module doc). Batches are (x float32 [B, D], labels
    int64 [B]) or (x,) without labels; `val`, `test` and `train_fixed()` are (x, labels or None).

    path: the file (.npz, .npy, .pt or .csv). label_column: the CSV's label column (name or
    index). x_dim: the number of features (read from the file by the config; checked against
    it). binary: true, false or null (detect). standardize: hand the training split's mean and
    std to the model (continuous data). val_fraction, test_fraction: the shares of the training
    rows drawn for a split the file does not give. data_seed: seed of that draw.
    """

    def __init__(
        self,
        path: str | None = None,
        label_column: Column | None = None,
        x_dim: PositiveInt | None = None,
        binary: bool | None = None,
        standardize: bool = True,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        batch_size: PositiveInt = 128,
        eval_batch_size: PositiveInt = 10000,
        data_seed: NonNegativeInt = 0,
        seed: NonNegativeInt = 1,
    ):
        super().__init__(batch_size, eval_batch_size, seed)
        if path is None or path == "":
            raise ConfigError(UNSET)
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction = {val_fraction + test_fraction:g} leaves no "
                f"training rows: keep their sum below 1"
            )
        self.path = Path(path).expanduser()
        self.label_column = label_column
        self._x_dim = x_dim
        if x_dim is not None:
            self.x_shape = (x_dim,)
        self.binary = binary
        self.standardize = standardize
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self.data_seed = data_seed
        self.class_names: list[str] | None = None
        self.standardization: dict[str, list[float]] | None = None
        self._train: Tensors | None = None
        self._binary_note = ""

    def prepare_data(self) -> None:
        """Only checks that the file is there (nothing to copy or extract)."""
        _check_path(self.path)

    @property
    def has_labels(self) -> bool:
        return cast(Tensors, self.ready()._train)[1] is not None  # _train: set by setup

    @property
    def x_dim(self) -> int:
        return self.ready().x_shape[0]

    @property
    def n_train(self) -> int:
        return len(cast(Tensors, self.ready()._train)[0])

    def load(self) -> None:
        start = time.perf_counter()
        path = self.path
        parts = read_parts(path, self.label_column)
        xs = {part: check_x(path, part, x) for part, (x, _) in parts.items()}
        widths = {part: x.shape[1] for part, x in xs.items()}
        if len(set(widths.values())) > 1:
            shown = ", ".join(f"{_name(part, 'x')!r} {width}" for part, width in widths.items())
            raise _fail(path, f"the splits have different numbers of features ({shown})")
        width = next(iter(widths.values()))
        if self._x_dim is not None and self._x_dim != width:
            raise _fail(
                path,
                f"holds {width} features per row but data.x_dim is {self._x_dim} "
                f"(leave data.x_dim to the file)",
            )
        self.x_shape = (width,)
        labels = {part: y for part, (_, y) in parts.items() if y is not None}
        for part, y in labels.items():
            if len(y) != len(xs[part]):
                raise _fail(
                    path,
                    f"{_name(part, 'y')!r} holds {len(y)} labels for the {len(xs[part])} rows of "
                    f"{_name(part, 'x')!r}",
                )
        codes, self.class_names = label_codes(path, labels) if labels else ({}, None)
        splits = self._split({part: (x, codes.get(part)) for part, x in xs.items()})
        self._train, self._val, self._test = (splits[name] for name in SPLITS)
        self.binary = self._data_type(splits)
        self.standardization = self._statistics() if self.standardize and not self.binary else None
        self.setup_seconds = time.perf_counter() - start
        given = [name for name in SPLITS if name in parts]
        log.info(
            "%s: %d train / %d validation / %d test rows of %d features (%s), %s, %s%s%s (%.1f s)",
            path,
            *(len(splits[name][0]) for name in SPLITS),
            width,
            f"splits {', '.join(given)} from the file"
            if given
            else f"split by fraction, data_seed {self.data_seed}",
            "no labels"
            if not labels
            else f"{len(np.unique(torch.cat([c for c in codes.values()]).numpy()))} classes",
            "binary" if self.binary else "continuous",
            self._binary_note,
            self._standardization_note(),
            self.setup_seconds,
        )

    def _split(self, parts: dict[str, tuple[torch.Tensor, torch.Tensor | None]]) -> dict[str, Tensors]:
        """Every split, those the file does not give drawn from its training rows."""
        # the file gives "all" or "train" (_layout)
        source = cast(tuple[torch.Tensor, torch.Tensor | None], parts.get("all", parts.get("train")))
        missing = [name for name in ("val", "test") if name not in parts]
        n = len(source[0])
        sizes = {name: round(n * self.fractions[name]) for name in missing}
        sizes = {"train": n - sum(sizes.values()), **sizes}
        empty = [name for name, size in sizes.items() if size == 0]
        if empty:
            fractions = " and ".join(f"data.{name}_fraction = {self.fractions[name]:g}" for name in missing)
            raise _fail(
                self.path,
                f"{n} {'rows' if 'all' in parts else 'training rows'} are too few to draw "
                f"{' and '.join(missing)} rows by {fractions}: the {' and '.join(empty)} split would be "
                f"empty; add rows or change the fractions",
            )
        order = torch.randperm(n, generator=seeded(SPLIT_SEED_BASE + self.data_seed))
        drawn = dict(zip(sizes, order.split(list(sizes.values()))))
        x, y = source
        splits = {name: (x[index], None if y is None else y[index]) for name, index in drawn.items()}
        # (x, None) without labels (`labels_of` reads either form)
        given = {name: parts[name] for name in ("val", "test") if name in parts}
        return cast(dict[str, Tensors], {**splits, **given})

    def _data_type(self, splits: dict[str, Tensors]) -> bool:
        binary = all(bool(((x == 0) | (x == 1)).all()) for x, _ in splits.values())
        if self.binary is True and not binary:
            for name, (x, _) in splits.items():
                bad = ~((x == 0) | (x == 1))
                if bool(bad.any()):
                    row, column = (int(i) for i in bad.nonzero()[0])
                    raise _fail(
                        self.path,
                        f"data.binary=true but the {name} split holds values other than 0 "
                        f"and 1 (e.g. {float(x[row, column]):g} in row {row}, column {column} of the split)",
                    )
        if self.binary is None:
            self._binary_note = " (detected: every value is 0 or 1)" if binary else " (detected)"
            return binary
        self._binary_note = f" (data.binary={str(self.binary).lower()})"
        return self.binary

    def _statistics(self) -> dict[str, list[float]]:
        x = cast(Tensors, self._train)[0].double()
        scale = x.std(0, unbiased=False)
        constant = scale == 0
        if bool(constant.any()):
            log.warning(
                "%s: feature(s) %s constant in the training split: centred, not scaled",
                self.path,
                ", ".join(map(str, constant.nonzero().flatten().tolist()[:10])),
            )
        scale = torch.where(constant, torch.ones_like(scale), scale)
        return {"shift": x.mean(0).float().tolist(), "scale": scale.float().tolist()}

    def _standardization_note(self) -> str:
        if self.standardization is not None:
            return ", standardised by the model (training mean and std)"
        return ", not standardised" + (" (binary)" if self.binary and self.standardize else "")

    def train_epoch(self, epoch: int) -> Tensors:
        """The training rows in this epoch's order (drawn from the run seed and the epoch)."""
        x, y = cast(Tensors, self.ready()._train)
        order = torch.randperm(len(x), generator=epoch_generator(self.seed, epoch))
        return (x[order],) if y is None else (x[order], y[order])

    def train_fixed(self) -> Tensors:
        return cast(Tensors, self.ready()._train)
