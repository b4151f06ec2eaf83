"""Files the data modules keep in `data_dir`: copies of the offline data and tensor caches.

Every file is written under a temporary name beside its target and then renamed onto it, so a
reader (or an interrupted run) never meets a half-written file. Caches are plain tensors and
values read with `weights_only=True`; one that cannot be read or does not pass its module's
check is ignored with a warning (and rebuilt), one that cannot be written only costs a warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def _temporary_beside(target: Path) -> Path:
    """A fresh hidden name in `target`'s folder, to write to and then `os.replace` onto it."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` (creating its folder); `source` is only read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(target)
    try:
        with open(source, "rb") as src, open(temporary, "xb") as out:
            shutil.copyfileobj(src, out)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


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
        reason = f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    log.warning("ignoring the cache %s (%s); rebuilding it", path, reason)
    return None


def save_cache(stored: dict, path: Path) -> None:
    """Save `stored` at `path`; a failure (read-only or full disk) is only a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _temporary_beside(path)
        try:
            torch.save(stored, temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as error:
        log.warning(
            "could not write the cache %s (%s); the next run rebuilds it", path, error.strerror or error
        )
