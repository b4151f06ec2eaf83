"""Resuming a training run: `python src/train.py resume=RUN_DIR` or `ckpt_path=FILE`.

`resume=RUN_DIR` continues a run (killed, or stopped by hand) in its own run dir: Hydra's run
dir is RUN_DIR (conf/hydra/default.yaml), training restarts from `RUN_DIR/checkpoints/last.ckpt`
(written at the end of every epoch) with the run's own config (stored in the checkpoint; the
other overrides on the command line, e.g. `trainer.max_epochs=50`, are applied on top),
`csv/metrics.csv` is continued, and a W&B run keeps its id (`mimkit.app.loggers`). Together with the
data drawn from (seed, epoch) and the checkpointed RNG states (`mimkit.training.callbacks.rng_state`), the
resumed run ends with the metrics.json of an uninterrupted one. The epoch that was running when
the run died is trained again from its start.

`ckpt_path=FILE` starts from any checkpoint with the config of the command line, in a new run
dir (or the one given by hydra.run.dir).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

from mimkit.errors import ConfigError

if TYPE_CHECKING:  # imported where used: CheckResume runs before a config error is reported
    import lightning as L

log = logging.getLogger(__name__)

LAST = Path("checkpoints") / "last.ckpt"
# overrides of the resuming command that are not settings of the run
NOT_SETTINGS = ("resume", "ckpt_path")


def last_checkpoint(run_dir: str) -> Path:
    """RUN_DIR/checkpoints/last.ckpt; a ConfigError naming the path where there is none."""
    if not Path(run_dir).is_dir():
        raise ConfigError(f"resume {str(run_dir)!r} is not a run directory")
    last = Path(run_dir) / LAST
    if not last.is_file():
        raise ConfigError(
            f"resume {str(run_dir)!r} holds no checkpoint to resume from: {last} "
            f"is missing (the run ended before its first epoch did)"
        )
    return last


class CheckResume(Callback):
    """Hydra callback: a bad `resume=` ends in one line before Hydra creates any directory."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        resume = config.get("resume")
        if resume:
            try:
                last_checkpoint(resume)
            except ConfigError as error:
                print(f"error: {error}", file=sys.stderr)
                sys.exit(1)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if config.get("resume"):
            print(
                "error: resume=RUN_DIR continues one run; it does not combine with --multirun",
                file=sys.stderr,
            )
            sys.exit(1)


def setting_keys(overrides: list[str]) -> list[str]:
    """The config keys set by command-line overrides ("a.b=1", "+c=2", "data=mnist"), less
    deletions, hydra.* and the resume switches themselves."""
    keys = []
    for text in overrides:
        key = text.split("=", 1)[0].lstrip("+")
        if key and not key.startswith(("~", "hydra.")) and key not in NOT_SETTINGS:
            keys.append(key)
    return keys


def _relocate(node, old: str, new: str):
    """`node` with every string under the folder `old` moved under `new`."""
    if isinstance(node, dict):
        return {key: _relocate(value, old, new) for key, value in node.items()}
    if isinstance(node, list):
        return [_relocate(value, old, new) for value in node]
    if isinstance(node, str) and (node == old or node.startswith(old + os.sep)):
        return new + node[len(old) :]
    return node


def resume_config(cfg: DictConfig) -> tuple[DictConfig, str | None, dict | None]:
    """The config a training run uses, the path of the checkpoint it starts from and that
    checkpoint, read (None, None: from scratch). The checkpoint is read once: the caller hands it
    to the trainer's checkpoint plugin (`SafeCheckpointIO.hand_over`), which restores from it.

    With `resume=RUN_DIR`: the run's stored config, the command line's overrides on top.
    """
    from mimkit.app.loggers import continue_wandb_runs
    from mimkit.training.checkpoint_io import load_checkpoint, stored_run_config

    resume, ckpt_path = cfg.get("resume"), cfg.get("ckpt_path")
    if resume and ckpt_path:
        raise ConfigError(f"give resume={resume} or ckpt_path={ckpt_path}, not both")
    if ckpt_path:
        return cfg, str(ckpt_path), load_checkpoint(str(ckpt_path))
    if not resume:
        return cfg, None, None
    last = last_checkpoint(resume)
    output_dir = str(cfg.paths.output_dir)
    if Path(resume).resolve() != Path(output_dir).resolve():
        raise ConfigError(
            f"resume {str(resume)!r} continues in that run dir, but the run dir is "
            f"{output_dir!r}: leave hydra.run.dir unset"
        )
    checkpoint = load_checkpoint(str(last))
    stored = stored_run_config(checkpoint)
    if stored is None:
        raise ConfigError(f"{last} holds no run config (not written by train.py)")
    old_dir = stored.get("paths", {}).get("output_dir")
    merged = OmegaConf.create(_relocate(stored, old_dir, output_dir) if old_dir else stored)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    keys = setting_keys(overrides)
    for key in keys:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
        OmegaConf.update(merged, key, value, merge=False, force_add=True)
    merged.resume, merged.ckpt_path = str(resume), None
    continue_wandb_runs(merged.get("logger"))
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty")
    log.info("resuming %s from %s%s", output_dir, last, f" with {', '.join(keys)} set anew" if keys else "")
    return merged, str(last), checkpoint


def continue_csv_logs(trainer: L.Trainer, step: int) -> None:
    """Make each CSVLogger continue its metrics.csv: keep the rows logged before the checkpoint
    (step < its global step `step`; later ones are logged again) instead of Lightning's fresh file.
    Under DDP rank 0 alone (the one that writes the file)."""
    from lightning.pytorch.loggers import CSVLogger

    if not trainer.is_global_zero:
        return
    loggers = [logger for logger in trainer.loggers if isinstance(logger, CSVLogger)]
    files = [(logger, Path(logger.log_dir) / "metrics.csv") for logger in loggers]
    files = [(logger, path) for logger, path in files if path.is_file()]
    if not files:
        return
    for logger, path in files:
        with open(path, newline="") as file:
            rows = [row for row in csv.DictReader(file) if row.get("step") and int(row["step"]) < step]
        path.unlink()
        for row in rows:
            logger.experiment.log_metrics(
                {key: _number(value) for key, value in row.items() if value != "" and key != "step"},
                int(row["step"]),
            )
        logger.save()


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)
