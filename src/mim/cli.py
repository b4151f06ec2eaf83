"""Shared wrapper of the Hydra entry points: one-line errors, a short final report."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Callable

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from mim.config import one_line
from mim.module import NonFiniteLossError

log = logging.getLogger("mim")

# Lightning warnings that say nothing about a run of this package: the data are served as
# ready-made batches by one in-process IterableDataset, and a torch-version deprecation
QUIET = (".*IterableDataset.*has `__len__` defined.*", ".*LeafSpec.*is deprecated.*",
         ".*does not have many workers.*", ".*smaller than the logging interval.*")

USER_ERRORS = (ValueError, TypeError, OSError, NonFiniteLossError, InstantiationException,
               OmegaConfBaseException)


def run_task(task: Callable[[DictConfig], dict], cfg: DictConfig) -> float | None:
    """Run `task(cfg)`; print its metrics and run dir; turn user errors into one line + exit 1."""
    for message in QUIET:
        warnings.filterwarnings("ignore", message=message)
    try:
        metrics = task(cfg)
    except USER_ERRORS as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
        message = one_line(cause)
        log.error("error: %s", message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    if rank_zero_only.rank == 0:  # DDP: the other processes ran the same run
        shown = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
        width = max(map(len, shown), default=0)
        print("\n".join(f"{name:<{width}}  {value:.6g}" for name, value in sorted(shown.items())))
        print(f"run dir: {HydraConfig.get().runtime.output_dir}")
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None
