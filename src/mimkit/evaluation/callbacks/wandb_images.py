"""Images written by a callback, sent to W&B when a WandbLogger is attached."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)


def log_images(trainer: L.Trainer, images: dict[str, Path]) -> None:
    """Log each PNG under its key; a failed upload never fails a finished run."""
    for logger in trainer.loggers:
        if not isinstance(logger, WandbLogger):
            continue
        for key, path in images.items():
            try:
                logger.log_image(key=key, images=[str(path)])
            except Exception as error:
                log.warning("could not log %s to W&B: %s", path, error)
