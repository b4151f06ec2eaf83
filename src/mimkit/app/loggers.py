"""W&B runs that mirror the Hydra runs (conf/logger/wandb.yaml).

Each run gets a W&B run whose id is kept in `<run dir>/wandb/run_id.json`; a resumed run
(`resume=RUN_DIR`, `continue_run=True`) logs to that same W&B run (resume="allow"). Under DDP rank
0 alone writes the id and logs to W&B (`mimkit.app.distributed.is_rank_zero`). A multirun sweep is
one W&B group named after the sweep dir; each job is named from its overrides (as
hydra.job.override_dirname, less the logger and resume switches). The resolved config is the
run's config, the final metrics.json its summary; the callbacks add their PNG figures as images
(`mimkit.evaluation.callbacks.wandb_images`). Offline by default: nothing needs the network, and `wandb sync`
uploads later (docs/operations.md). An online run that cannot reach W&B within `init_timeout`
seconds logs offline instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig

from mimkit.app.distributed import is_rank_zero
from mimkit.errors import one_line
from mimkit.fields import PositiveNumber

log = logging.getLogger(__name__)

ID_FILE = Path("wandb") / "run_id.json"
# override keys that do not describe a job
UNNAMED = ("logger", "resume", "ckpt_path")


def job_name(overrides: list[str]) -> str:
    """ "a=1,b.c=x": the overrides that describe a job, sorted, as Hydra's override_dirname."""
    kept = [
        text.lstrip("+")
        for text in overrides
        if text.lstrip("+").split("=", 1)[0].split(".", 1)[0] not in UNNAMED
    ]
    return ",".join(sorted(kept))


def hydra_identity() -> tuple[str | None, str | None]:
    """(name, group) of the current Hydra job: a multirun job is named from its overrides (or
    job<N>) in the group of its sweep dir's name; a single run from its overrides (or its run
    dir's name), in no group. (None, None) outside Hydra."""
    if not HydraConfig.initialized():
        return None, None
    hydra = HydraConfig.get()
    name = job_name(list(hydra.overrides.task))
    if hydra.mode == RunMode.MULTIRUN:
        return name or f"job{hydra.job.num}", Path(hydra.sweep.dir).name
    return name or Path(hydra.runtime.output_dir).name, None


def wandb_logger(
    save_dir: str,
    project: str,
    offline: bool = True,
    name: str | None = None,
    group: str | None = None,
    tags: list[str | int] | None = None,
    init_timeout: PositiveNumber = 30.0,
    continue_run: bool = False,
    **kwargs,
) -> WandbLogger:
    """A WandbLogger for the run dir `save_dir` (name, group: None chooses them as above);
    `continue_run`: the W&B run of save_dir's run_id.json where there is one, else a new one."""
    import wandb
    from wandb.sdk.lib.runid import generate_id

    id_file = Path(save_dir) / ID_FILE
    if continue_run and id_file.is_file():
        identity = json.loads(id_file.read_text())
    else:
        auto_name, auto_group = hydra_identity()
        identity = {"id": generate_id(), "name": name or auto_name, "group": group or auto_group}
        if is_rank_zero():  # the W&B run's process (the others' WandbLogger stays idle)
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(json.dumps(identity) + "\n")

    def make(offline: bool) -> WandbLogger:
        # the mode as an argument: WandbLogger's own switch, WANDB_MODE, is ignored once wandb is
        # set up in this process, and once set it stays for every later run
        return WandbLogger(
            save_dir=save_dir,
            project=project,
            offline=offline,
            mode="offline" if offline else "online",
            id=identity["id"],
            name=identity["name"],
            group=identity["group"],
            tags=list(tags or []),
            resume="allow",
            settings=wandb.Settings(init_timeout=init_timeout),
            **kwargs,
        )

    logger = make(offline)
    if not offline:
        try:
            logger.experiment  # noqa: B018 (starts the W&B run now, to fall back if it fails)
        except Exception as error:
            log.warning(
                "W&B is unreachable (%s); logging offline, upload later with "
                "`wandb sync %s/wandb/offline-run-*`",
                one_line(error, 200),
                save_dir,
            )
            logger = make(True)
    return logger


def continue_wandb_runs(logger_cfg: DictConfig | None) -> None:
    """Set `continue_run` in every `wandb_logger` node of a resumed run's `logger` config."""
    for node in (logger_cfg or {}).values():
        if isinstance(node, DictConfig) and node.get("_target_") == f"{__name__}.wandb_logger":
            node.continue_run = True


def _wandb_runs(loggers: list[Logger]) -> list[WandbLogger]:
    """The W&B loggers of this process's run; none but in rank 0 (under DDP)."""
    return [logger for logger in loggers if isinstance(logger, WandbLogger)] if is_rank_zero() else []


def log_run_config(loggers: list[Logger], config: dict) -> None:
    """The resolved run config as each W&B run's config."""
    for logger in _wandb_runs(loggers):
        logger.experiment.config.update(config, allow_val_change=True)


def finish_wandb(loggers: list[Logger], metrics: dict[str, float] | None = None) -> None:
    """Write `metrics` (metrics.json) as each W&B run's summary and end the run, so the next job
    of a multirun in this process starts its own."""
    for logger in _wandb_runs(loggers):
        if metrics:
            logger.experiment.summary.update(metrics)
        logger.experiment.finish()
