"""MNIST-format (IDX) data sets read straight from their files, with no downloader.

The machines have no network, so the four standard files of MNIST / Fashion-MNIST come from an
offline copy (`/work/shared/data`, see its README). `load_idx_dataset(root, name, source)` makes
sure `root/<name>/raw/` holds them, copying any that are missing from `source/<name>/raw/`
(the source is only ever read), then parses them. The layout is torchvision's, so a torchvision
data set pointed at the same root finds the same files.

IDX format: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then
one big-endian uint32 per dimension, then the data. Images have magic 2051 (3 dims), labels
2049 (1 dim). Files may be gzipped (`*.gz`) or raw.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import shutil
import uuid
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

log = logging.getLogger(__name__)

# src/mim/data/idx.py -> the repository root is parents[3]; the shared copy lies beside it.
DEFAULT_SOURCE = Path(__file__).resolve().parents[3].parent / "shared" / "data"

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

DISPLAY_NAMES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST"}

# md5 of the original .gz files (torchvision's list). Copies with rewritten gzip headers
# (e.g. Debian's) hold the same data but differ, so a mismatch is only a warning.
MD5 = {
    "MNIST": {
        "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
        "test_images": "9fb629c4189551a2d022fa330f9573f3",
        "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "FashionMNIST": {
        "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
        "test_images": "bef4ecab320f06d8554ea6380940ec79",
        "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


class IDXSplits(NamedTuple):
    """uint8 images [N, H, W] and int64 labels [N] of the train and test splits."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def _read_bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as file:
            return file.read()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({type(error).__name__}: "
                         f"{' '.join(str(error).split())})") from None


def read_idx(path: str | os.PathLike, kind: str) -> torch.Tensor:
    """The array in IDX file `path` (gzipped or raw): kind "images" -> uint8 [N, H, W],
    kind "labels" -> int64 [N]. A ValueError naming the file if it is not such a file."""
    if kind not in ("images", "labels"):
        raise ValueError(f"kind must be 'images' or 'labels', got {kind!r}")
    path = Path(path)
    data = _read_bytes(path)
    magic, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    if len(data) < 4:
        raise ValueError(f"{path} is not an IDX {kind[:-1]} file (only {len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path} is not an IDX {kind[:-1]} file "
                         f"(magic {found:#010x}, expected {magic:#010x})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its IDX header needs {header} bytes, "
                         f"the file holds {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise ValueError(f"{path} is corrupt: header says shape {list(dims)} "
                         f"({expected} bytes), the file holds {len(data)} bytes")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    tensor = torch.from_numpy(array.copy())
    return tensor if kind == "images" else tensor.long()


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temporary_beside(target: Path) -> Path:
    """A fresh hidden name in `target`'s folder, to write to and then `os.replace` onto
    `target`: readers never see a half-written file (files get the usual umask mode)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(target)
    try:
        with open(temporary, "xb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def ensure_raw_files(root: str | os.PathLike, name: str,
                     source: str | os.PathLike | None = None) -> dict[str, Path]:
    """The paths of the four IDX files under `root/<name>/raw/`, copying missing ones from
    `source/<name>/raw/` (default: the shared offline copy). Never writes to `source`."""
    if name not in DISPLAY_NAMES:
        raise ValueError(f"unknown IDX data set {name!r}; expected one of {sorted(DISPLAY_NAMES)}")
    raw = Path(root) / name / "raw"
    source_raw = Path(source if source is not None else DEFAULT_SOURCE) / name / "raw"
    paths = {}
    for key, stem in FILES.items():
        found = _find(raw, stem)
        if found is None:
            origin = _find(source_raw, stem)
            if origin is None:
                raise FileNotFoundError(
                    f"{DISPLAY_NAMES[name]} file {stem}.gz not found in {raw} or {source_raw}; "
                    f"point data.source_dir at a folder holding {name}/raw/*-ubyte.gz "
                    f"(no download is attempted)")
            found = raw / origin.name
            if found.resolve() != origin.resolve():
                log.info("copying %s to %s", origin, found)
                _copy(origin, found)
            if found.suffix == ".gz" and _md5(found) != MD5[name][key]:
                log.warning("%s: md5 differs from the original release's (a re-packed copy "
                            "such as Debian's gives this too); its contents are checked on "
                            "reading", found)
        paths[key] = found
    return paths


def load_idx_dataset(root: str | os.PathLike, name: str,
                     source: str | os.PathLike | None = None) -> IDXSplits:
    """Train and test images (uint8 [N, 28, 28]) and labels (int64 [N]) of MNIST or
    FashionMNIST under `root`, copied from `source` first where missing."""
    paths = ensure_raw_files(root, name, source)
    splits = IDXSplits(read_idx(paths["train_images"], "images"),
                       read_idx(paths["train_labels"], "labels"),
                       read_idx(paths["test_images"], "images"),
                       read_idx(paths["test_labels"], "labels"))
    for split in ("train", "test"):
        images, labels = getattr(splits, f"{split}_images"), getattr(splits, f"{split}_labels")
        if len(images) != len(labels):
            raise ValueError(f"{paths[f'{split}_images']} holds {len(images)} images but "
                             f"{paths[f'{split}_labels']} holds {len(labels)} labels")
    return splits
