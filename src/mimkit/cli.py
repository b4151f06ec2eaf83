"""Shared wrapper of the Hydra entry points: one-line errors, a short final report.

A single run ends on a user error with one line and exit status 1. A job of a multirun does not
end the process: its error (any exception, with the traceback in the job's log when it is not a
user error) is logged, written to the job's failure.json and the job returns, so the other jobs
run; `mimkit.hydra_callbacks.ReportFailures` lists the failed jobs at the end of the sweep.
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
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from mimkit.errors import one_line
from mimkit.hydra_callbacks import JOB_FAILURE, record_failure
from mimkit.nonfinite import NonFiniteLossError

log = logging.getLogger("mim")

# Lightning warnings that say nothing about a run of this package: the data are served as
# ready-made batches by one in-process IterableDataset, and a torch-version deprecation
QUIET = (
    ".*IterableDataset.*has `__len__` defined.*",
    ".*LeafSpec.*is deprecated.*",
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
)

USER_ERRORS = (
    ValueError,
    TypeError,
    OSError,
    NonFiniteLossError,
    InstantiationException,
    OmegaConfBaseException,
)


def _sweep_job() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _fail_job(cfg: DictConfig, message: str) -> None:
    """Record a failed multirun job. It returns None: Hydra's Optuna sweeper then marks the trial
    failed and goes on (a NaN would make optuna 2.10 raise in `tell`)."""
    hydra = HydraConfig.get()
    job = f"job {hydra.job.num} ({hydra.runtime.output_dir})"
    log.error("error: %s: %s", job, message)
    print(f"error: {job}: {message}", file=sys.stderr)
    if rank_zero_only.rank == 0:  # SLURM runs every task of a DDP job: one record
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
    except USER_ERRORS as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
        message = one_line(cause)
        if sweep_job:
            return _fail_job(cfg, message)
        log.error("error: %s", message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:  # not a user error: a bug; in a sweep, the other jobs go on
        if not sweep_job:
            raise
        log.exception("job failed")
        return _fail_job(cfg, one_line(error))
    if rank_zero_only.rank == 0:  # DDP: the other processes ran the same run
        shown = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
        width = max(map(len, shown), default=0)
        print("\n".join(f"{name:<{width}}  {value:.6g}" for name, value in sorted(shown.items())))
        print(f"run dir: {HydraConfig.get().runtime.output_dir}")
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None
