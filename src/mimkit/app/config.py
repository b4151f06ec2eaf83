"""Conversions and checks shared by the entry points (the config's schema: `mimkit.app.schema`)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from omegaconf import DictConfig, OmegaConf


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python containers (safe for weights_only checkpoints)."""
    return cast(dict, OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))  # a DictConfig's


def unwritable_reason(path: str) -> str | None:
    """None if the folder `path` can be created and written to, else why not."""
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        return error.strerror or type(error).__name__
    return None
