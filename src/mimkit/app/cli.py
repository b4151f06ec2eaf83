"""Shared wrapper of the Hydra entry points: one-line errors, a short final report.

A single run ends on a user error with one line and exit status 1. A job of a multirun does not
end the process: its error (any exception, with the traceback in the job's log when it is not a
user error) is logged, written to the job's failure.json and the job returns, so the other jobs
run; `mimkit.app.hydra_callbacks.ReportFailures` lists the failed jobs at the end of the sweep.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from mimkit.app.distributed import is_rank_zero
from mimkit.app.hydra_callbacks import JOB_FAILURE, record_failure
from mimkit.errors import ConfigError, one_line
from mimkit.training.nonfinite import NonFiniteLossError

log = logging.getLogger("mim")

# Lightning warnings that say nothing about a run of this package: the data are served as
# ready-made batches by one in-process IterableDataset, and a torch-version deprecation
QUIET = (
    ".*IterableDataset.*has `__len__` defined.*",
    ".*LeafSpec.*is deprecated.*",
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
)

# the user's mistakes, answered in one line: a bad config value or file it names (ConfigError:
# data and checkpoints included), a config that does not compose, a non-finite loss, a path that
# cannot be read or written. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, OmegaConfBaseException, NonFiniteLossError, OSError)


def _user_error(error: BaseException) -> BaseException | None:
    """The user's mistake behind `error` (a constructor's, unwrapped from Hydra's), or None."""
    if isinstance(error, InstantiationException):
        cause = error.__cause__
        return error if cause is None else _user_error(cause)  # None: `_target_` not found
    if isinstance(error, OmegaConfBaseException):  # a resolver's ConfigError (e.g. a data file's)
        inner = _resolver_error(error)
        if inner is not None:
            return inner
    return error if isinstance(error, USER_ERRORS) else None


def _resolver_error(error: BaseException) -> ConfigError | None:
    """The ConfigError raised inside a resolver that OmegaConf re-raised as its own error (kept
    only as the context of the re-raise), or None."""
    current: BaseException | None = error
    for _ in range(10):
        if current is None or isinstance(current, ConfigError):
            return current
        current = current.__context__
    return None


def _rank_zero() -> bool:
    """Whether this is process 0: Lightning's rank once a run loaded it, else the environment's."""
    utilities = sys.modules.get("lightning.pytorch.utilities")
    return utilities.rank_zero_only.rank == 0 if utilities else is_rank_zero()


def _sweep_job() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _fail_job(cfg: DictConfig, message: str) -> None:
    """Record a failed multirun job. It returns None: Hydra's Optuna sweeper then marks the trial
    failed and goes on (a NaN would make optuna 2.10 raise in `tell`)."""
    hydra = HydraConfig.get()
    job = f"job {hydra.job.num} ({hydra.runtime.output_dir})"
    log.error("error: %s: %s", job, message)
    print(f"error: {job}: {message}", file=sys.stderr)
    if _rank_zero():  # SLURM runs every task of a DDP job: one record
        record_failure(hydra.runtime.output_dir, hydra.job.num, list(hydra.overrides.task), message)
    return None


def run_task(task: Callable[[DictConfig], dict], cfg: DictConfig) -> float | None:
    """Run `task(cfg)`; print its metrics and run dir; turn user errors into one line + exit 1
    (in a multirun: into a failed job, see the module doc)."""
    for message in QUIET:
        warnings.filterwarnings("ignore", message=message)
    sweep_job = _sweep_job()
    if sweep_job:  # a rerun into the same sweep dir starts clean
        (Path(HydraConfig.get().runtime.output_dir) / JOB_FAILURE).unlink(missing_ok=True)
    try:
        metrics = task(cfg)
    except Exception as error:
        cause = _user_error(error)
        if cause is None:  # a bug: its traceback; in a sweep, the other jobs go on
            if not sweep_job:
                raise
            log.exception("job failed")
            _fail_job(cfg, one_line(error))
            return None
        message = one_line(cause)
        if sweep_job:
            _fail_job(cfg, message)
            return None
        log.error("error: %s", message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    if _rank_zero():  # DDP: the other processes ran the same run
        shown = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
        width = max(map(len, shown), default=0)
        print("\n".join(f"{name:<{width}}  {value:.6g}" for name, value in sorted(shown.items())))
        print(f"run dir: {HydraConfig.get().runtime.output_dir}")
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None
