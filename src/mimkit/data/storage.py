"""Files the data modules keep in `data_dir`: copies of the offline data and tensor caches; and
`atomic_file`, the one way this package writes a file whole or not at all (checkpoints too).

Every file is written under a temporary name beside its target and then renamed onto it, so a
reader (or an interrupted run) never meets a half-written file. Caches are plain tensors and
values read with `weights_only=True`; one that cannot be read or does not pass its module's
check is ignored with a warning (and rebuilt), one that cannot be written only costs a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import torch

from mimkit.errors import one_line

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_file(target: Path):
    """A new binary file to write in the block, under a fresh hidden name beside `target` (its
    folder created); when the block ends without an error it is flushed to disk and renamed onto
    `target`, else removed. `target` is never half-written: it keeps its old contents until the
    new ones are whole. An OSError (a full disk may only show at the flush) propagates."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` (creating its folder); `source` is only read."""
    with open(source, "rb") as src, atomic_file(target) as out:
        shutil.copyfileobj(src, out)


def load_cache(path: Path, valid: Callable[[dict], bool]) -> dict | None:
    """The dict saved at `path` if it loads safely and `valid(it)`, else None (with a warning
    when a file was there)."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(stored, dict) and valid(stored):
            return stored
        reason = "its contents do not match this configuration"
    except Exception as error:  # truncated, corrupt or foreign file
        reason = one_line(error, 200)
    log.warning("ignoring the cache %s (%s); rebuilding it", path, reason)
    return None


def save_cache(stored: dict, path: Path) -> None:
    """Save `stored` at `path`; a failure (read-only or full disk) is only a warning."""
    try:
        with atomic_file(path) as file:
            torch.save(stored, file)
    except OSError as error:
        log.warning(
            "could not write the cache %s (%s); the next run rebuilds it", path, error.strerror or error
        )
