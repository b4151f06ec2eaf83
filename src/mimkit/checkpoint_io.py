"""Checkpoint files that are written whole or not at all, with a one-line error naming the file.

`SafeCheckpointIO` is the trainer's checkpoint plugin (conf/trainer/default.yaml, `plugins`).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a lost mount); the message names it."""


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, but a local checkpoint is written under a temporary name
    beside it, flushed to disk and only then renamed onto its path. A failed write removes the
    partial temporary file and raises `CheckpointWriteError` naming the checkpoint; the file of
    that name written earlier (e.g. `last.ckpt` of the epoch before) and every other checkpoint
    stay as they were. Remote paths (`s3://...`) are left to Lightning."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "xb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())  # a full disk may only show here (e.g. on NFS)
            os.replace(temporary, target)
        except OSError as error:
            reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
            raise CheckpointWriteError(
                f"could not write the checkpoint {target}: {reason}; the "
                f"checkpoints written before it are kept"
            ) from error
        finally:
            temporary.unlink(missing_ok=True)
