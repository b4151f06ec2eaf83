"""Checkpoint files: written whole or not at all, read safely, checked, each failure one line
naming the file.

`SafeCheckpointIO` is the trainer's checkpoint plugin (conf/trainer/default.yaml, `plugins`);
`load_checkpoint` reads and checks a checkpoint with torch's weights_only loader (and rewrites the
`_target_`s of modules that have moved since it was written), `load_module` builds its module.
A run's checkpoints hold its run config once, in the module's hyperparameters.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mimkit.data.storage import atomic_file
from mimkit.errors import ConfigError, one_line
from mimkit.training.module import COMPONENT_KEYS, AutoencoderModule, run_config

# Modules that moved into the packages by role (docs/layout.md): a checkpoint written before the
# move names its components and run config `_target_`s by the old paths; `load_checkpoint` rewrites
# them (docs/operations.md, "Which checkpoints and caches still load").
_MOVED_INTO = {
    "app": (
        "allocator", "cli", "config", "distributed", "embeddings", "entry", "finished", "hydra_callbacks",
        "latent", "loggers", "precision", "resolvers", "resume", "run", "schema",
    ),
    "evaluation": ("metrics", "plots", "report", "tsne"),
    "training": ("checkpoint_io", "gradients", "module", "nonfinite", "schedules"),
    "model": (
        "autoencoder", "distributions", "latent_paths", "marginal", "nets", "objectives", "priors",
        "standardization", "two_level",
    ),
}  # fmt: skip
_TRAINING_CALLBACKS = ("beta_warmup", "checkpoint", "early_stopping", "rng_state")
_EVALUATION_CALLBACKS = ("images", "latent_grids", "sequences", "wandb_images")
MOVED_MODULES = {
    **{
        f"mimkit.{name}": f"mimkit.{package}.{name}"
        for package, names in _MOVED_INTO.items()
        for name in names
    },
    **{f"mimkit.callbacks.{name}": f"mimkit.training.callbacks.{name}" for name in _TRAINING_CALLBACKS},
    **{f"mimkit.callbacks.{name}": f"mimkit.evaluation.callbacks.{name}" for name in _EVALUATION_CALLBACKS},
    "mimkit.callbacks.metrics": "mimkit.evaluation.callbacks.representation",
    "mimkit.callbacks.plots": "mimkit.evaluation.callbacks.fig2",
    "mimkit.callbacks.tsne": "mimkit.evaluation.callbacks.tsne_plot",
    "mimkit.metrics.epoch_means": "mimkit.training.epoch_means",
}


def moved_target(target: str) -> str:
    """`target` (a dotted path) with its module's pre-move path replaced by the new one, the
    longest moved module that prefixes it; any other path as it is."""
    parts = target.split(".")
    for end in range(len(parts) - 1, 1, -1):
        new = MOVED_MODULES.get(".".join(parts[:end]))
        if new is not None:
            return ".".join([new, *parts[end:]])
    return target


def with_moved_targets(node):
    """`node` (plain dicts and lists) with every `_target_` string passed through `moved_target`."""
    if isinstance(node, dict):
        return {
            key: moved_target(value)
            if key == "_target_" and isinstance(value, str)
            else with_moved_targets(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [with_moved_targets(value) for value in node]
    return node


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a lost mount); the message names it."""


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, but a local checkpoint is written under a temporary name
    beside it, flushed to disk and only then renamed onto its path. A failed write removes the
    partial temporary file and raises `CheckpointWriteError` naming the checkpoint; the file of
    that name written earlier (e.g. `last.ckpt` of the epoch before) and every other checkpoint
    stay as they were. Remote paths (`s3://...`) are left to Lightning.

    `hand_over(path, checkpoint)`: a checkpoint already read (a resume reads it for its config and
    step) that the trainer then restores from instead of reading the file again; this plugin
    holds it, for its trainer, until that one read."""

    def __init__(self) -> None:
        super().__init__()
        self._handed: tuple[str, dict] | None = None

    def hand_over(self, path, checkpoint: dict) -> None:
        self._handed = (_key(path), checkpoint)

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(path)
        try:
            with atomic_file(target) as file:  # a full disk may only show at its fsync (e.g. NFS)
                torch.save(checkpoint, file)
        except OSError as error:
            reason = error.strerror or one_line(error)
            raise CheckpointWriteError(
                f"could not write the checkpoint {target}: {reason}; the "
                f"checkpoints written before it are kept"
            ) from error

    def load_checkpoint(self, path, *args, **kwargs) -> dict:
        """The checkpoint handed over for `path` (once), else the file."""
        handed, self._handed = self._handed, None
        if handed is not None and handed[0] == _key(path):
            return handed[1]
        return super().load_checkpoint(path, *args, **kwargs)


def hand_over(trainer, path, checkpoint: dict) -> None:
    """Let `trainer` restore from `checkpoint`, already read from `path`, instead of reading the
    file again (where its checkpoint plugin is a `SafeCheckpointIO`; else it reads the file)."""
    plugin = trainer.strategy.checkpoint_io
    if isinstance(plugin, SafeCheckpointIO):
        plugin.hand_over(path, checkpoint)


def load_checkpoint(ckpt_path: str) -> dict:
    """The checkpoint dict, loaded with torch's safe loader; a ConfigError if unreadable or not
    one that train.py writes."""
    if not os.path.isfile(ckpt_path):
        raise ConfigError(f"ckpt_path {ckpt_path!r} is not a file")
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated or not a checkpoint at all
        raise ConfigError(
            f"ckpt_path {ckpt_path!r} is not a readable checkpoint ({type(error).__name__})"
        ) from None
    problem = checkpoint_problem(checkpoint)
    if problem:
        raise ConfigError(f"ckpt_path {ckpt_path!r} is not a checkpoint written by train.py: {problem}")
    checkpoint["hyper_parameters"] = with_moved_targets(checkpoint["hyper_parameters"])
    return checkpoint


def _key(path) -> str:
    return str(Path(path).resolve())


def stored_run_config(checkpoint: dict) -> dict | None:
    """The whole run config a checkpoint holds (None if it holds none)."""
    return run_config(checkpoint["hyper_parameters"])


def load_module(ckpt_path: str) -> AutoencoderModule:
    """The trained AutoencoderModule of a checkpoint (eval mode), with its run config."""
    checkpoint = load_checkpoint(ckpt_path)
    try:
        module = AutoencoderModule(**checkpoint["hyper_parameters"])
        module.load_state_dict(checkpoint["state_dict"])
    except Exception as error:  # its model cannot be built here, or its weights do not fit it
        raise ConfigError(
            f"ckpt_path {ckpt_path!r} does not fit this code's model ({one_line(error, 300)})"
        ) from None
    return module.eval()


def checkpoint_problem(checkpoint) -> str | None:
    """None if `checkpoint` looks like one that train.py writes, else what is wrong with it."""
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not a checkpoint dict"
    missing = [key for key in ("state_dict", "hyper_parameters") if key not in checkpoint]
    if missing:
        keys = [str(k) for k in list(checkpoint)[:5]] + (["..."] if len(checkpoint) > 5 else [])
        hint = " (a bare state_dict?)" if "state_dict" in missing and "hyper_parameters" in missing else ""
        return (
            f"it has no {' or '.join(repr(k) for k in missing)}{hint}; its keys: {', '.join(keys) or 'none'}"
        )
    hyper = checkpoint["hyper_parameters"]
    if not isinstance(hyper, dict) or not all(isinstance(hyper.get(role), dict) for role in COMPONENT_KEYS):
        return f"its hyper_parameters are not this project's (expected {', '.join(COMPONENT_KEYS)})"
    if not isinstance(checkpoint["state_dict"], dict):
        return "its state_dict is not a dict of tensors"
    return None
