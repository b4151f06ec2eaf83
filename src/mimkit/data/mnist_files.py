"""MNIST and Fashion-MNIST read by torchvision's own classes, from an offline copy or online.

torchvision's `MNIST(root, train, download)` (and `FashionMNIST`) reads the four *extracted*
IDX files in `root/<Name>/raw/`. With `download=False` it only checks that they exist (no md5);
with `download=True` and no extracted files it fetches each `.gz` (skipping one already there
whose md5 matches its list), checks the md5 and extracts it, which needs the network unless
every `.gz` is present and intact.

`load_mnist_files(name, data_dir, source_dir, download)` (docs/maths.md §4) does, offline (the default):
for each file without an extracted copy in `data_dir/<Name>/raw/`, take its `.gz` there or copy
it from `source_dir/<Name>/raw/` (the source is only read), check the `.gz` against torchvision's
md5 (`<class>.resources`), extract it with torchvision's `extract_archive`, then read with
`<class>(data_dir, train=..., download=False)`. Online (`download=True`) torchvision does it all.
The two steps are `prepare_mnist_files` (a DataModule's `prepare_data`) and `read_mnist_files`
(its `setup`).
A missing file, a bad md5 or a corrupt gzip ends the run with one ConfigError line naming it.
"""

from __future__ import annotations

import logging
import shutil
import uuid
import zlib
from pathlib import Path
from typing import NamedTuple

import torch

from mimkit.data.storage import copy_file
from mimkit.errors import ConfigError, one_line

log = logging.getLogger(__name__)

DISPLAY_NAMES = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST"}  # the data sets, by class name


def torchvision_class(name: str):
    """torchvision's class for `name`, imported when files are first touched (a config check
    never imports torchvision)."""
    from torchvision import datasets

    return getattr(datasets, name)


class MNISTFiles(NamedTuple):
    """uint8 images [N, 28, 28] and int64 labels [N] of the train and test files."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def _extract(gz: Path) -> None:
    """Decompress `gz` beside itself (under a temporary folder first, then renamed)."""
    scratch = gz.parent / f".extract-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    try:
        try:
            from torchvision.datasets.utils import extract_archive

            extracted = Path(extract_archive(str(gz), str(scratch)))
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise ConfigError(
                f"{gz} is not a readable gzip file ({one_line(error)}); delete it and copy a good one there"
            ) from None
        extracted.replace(gz.with_suffix(""))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prepare_offline(name: str, data_dir: Path, source_dir: Path | None) -> None:
    """Put every extracted file of `name` in `data_dir/<name>/raw/`, from verified `.gz` files."""
    raw = data_dir / name / "raw"
    for gz_name, md5 in torchvision_class(name).resources:
        gz = raw / gz_name
        if gz.with_suffix("").is_file():
            continue
        origin = None
        if not gz.is_file():
            origin = source_dir / name / "raw" / gz_name if source_dir is not None else None
            if origin is None or not origin.is_file():
                where = f" or in {origin.parent}/ (data.source_dir)" if origin is not None else ""
                raise ConfigError(
                    f"{DISPLAY_NAMES[name]} file {gz_name} is missing: put it in "
                    f"{raw}/ (data.data_dir){where}, or set data.download=true "
                    f"when online"
                )
            log.info("copying %s to %s", origin, gz)
            copy_file(origin, gz)
        from torchvision.datasets.utils import calculate_md5

        found = calculate_md5(gz)
        if found != md5:
            if origin is not None:
                gz.unlink()
            culprit = origin if origin is not None else gz
            raise ConfigError(
                f"{culprit} is corrupt: md5 {found}, torchvision expects {md5} for "
                f"{DISPLAY_NAMES[name]}; replace it with a good copy"
            )
        _extract(gz)


def _read(name: str, data_dir: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = torchvision_class(name)
    prefix = "train" if train else "t10k"
    files = [
        data_dir / name / "raw" / f"{prefix}-{kind}-idx{dim}-ubyte"
        for kind, dim in (("images", 3), ("labels", 1))
    ]
    try:
        data = dataset(str(data_dir), train=train, download=False)
    except (AssertionError, RuntimeError, ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            f"torchvision cannot read {files[0]} / {files[1].name} "
            f"({one_line(error, 200)}); "
            f"delete them to extract them again"
        ) from None
    if len(data.data) != len(data.targets):
        raise ConfigError(
            f"{files[0]} holds {len(data.data)} images but {files[1]} holds {len(data.targets)} labels"
        )
    return data.data, data.targets.long()


def prepare_mnist_files(
    name: str, data_dir: str | Path, source_dir: str | Path | None = None, download: bool = False
) -> None:
    """Put the four extracted files of `name` ("MNIST" or "FashionMNIST") in
    `data_dir/<name>/raw/`: offline from verified `.gz` files, online through torchvision."""
    if name not in DISPLAY_NAMES:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(DISPLAY_NAMES)}")
    data_dir = Path(data_dir)
    if download:
        try:
            torchvision_class(name)(str(data_dir), train=True, download=True)
        except (OSError, RuntimeError) as error:  # URLError is an OSError
            raise ConfigError(
                f"data.download=true: torchvision could not fetch "
                f"{DISPLAY_NAMES[name]} into {data_dir / name / 'raw'} ({one_line(error, 200)})"
            ) from None
    else:
        _prepare_offline(name, data_dir, Path(source_dir) if source_dir is not None else None)


def read_mnist_files(name: str, data_dir: str | Path) -> MNISTFiles:
    """The train and test images and labels of `name`, from its prepared files."""
    return MNISTFiles(*_read(name, Path(data_dir), True), *_read(name, Path(data_dir), False))


def load_mnist_files(
    name: str, data_dir: str | Path, source_dir: str | Path | None = None, download: bool = False
) -> MNISTFiles:
    """`prepare_mnist_files`, then `read_mnist_files`."""
    prepare_mnist_files(name, data_dir, source_dir, download)
    return read_mnist_files(name, data_dir)
