"""Data-parallel runs under Hydra (trainer=ddp, trainer=ddp_cpu): where Lightning may start the
other processes itself.

Lightning's DDP launcher starts processes 1..N-1 by re-running the command line with the run
dir pinned (`hydra.run.dir=<rank 0's run dir>`, `hydra.output_subdir=null`), so a single run
keeps one run dir. Inside a local Hydra multirun that cannot work: the command line is the whole
sweep, and the launcher leaves `LOCAL_RANK` set for the next job of the process. A cluster that
starts every process itself (SLURM through hydra/launcher=slurm) has none of these problems.

Files of the run dir that one process writes are written by rank 0. Once the trainer exists its
`is_global_zero` says which process that is; before (a logger being built), `is_rank_zero` reads
the ranks the launchers put in the environment.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from torch import nn

from mimkit.errors import ConfigError

if TYPE_CHECKING:
    import lightning as L

# the environment's ranks of a process: torchrun's RANK; Lightning's launcher sets LOCAL_RANK and
# NODE_RANK for the processes it starts (rank 0's own process has none of them until it launches
# them); SLURM's SLURM_PROCID where SLURM starts them
RANK_VARIABLES = ("RANK", "NODE_RANK", "LOCAL_RANK", "SLURM_PROCID")


def is_rank_zero() -> bool:
    """Whether this process is (or will be) global rank 0 of its run, before any trainer exists:
    every rank in the environment is 0 or unset (a single process has none)."""
    return all(int(os.environ.get(name) or 0) == 0 for name in RANK_VARIABLES)


def starts_processes(trainer: L.Trainer) -> bool:
    """True if `trainer` will start its other data-parallel processes itself (not SLURM's)."""
    strategy = trainer.strategy
    environment = getattr(strategy, "cluster_environment", None)
    return (
        trainer.world_size > 1
        and strategy.launcher is not None
        and environment is not None
        and not environment.creates_processes_externally
    )


def check_launch(trainer: L.Trainer) -> None:
    """ConfigError if `trainer` would start processes from inside a Hydra multirun job."""
    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return
    if starts_processes(trainer):
        raise ConfigError(
            f"a {trainer.world_size}-process DDP trainer cannot start its processes inside a "
            f"Hydra multirun (Lightning re-runs the command line for every process): train "
            f"with DDP in single runs, sweep single-device jobs (trainer=default|cpu|gpu), or "
            f"submit the sweep with hydra/launcher=slurm, where SLURM starts the processes"
        )


def check_sync_batchnorm(trainer: L.Trainer, model: nn.Module, sync_batchnorm: bool) -> None:
    """ConfigError if `trainer.sync_batchnorm` would synchronise BatchNorm layers of `model`
    between processes on CPUs: torch's SyncBatchNorm runs on GPUs only."""
    from lightning.pytorch.strategies import ParallelStrategy

    if not (sync_batchnorm and isinstance(trainer.strategy, ParallelStrategy)):
        return
    device = trainer.strategy.root_device
    if device.type == "cpu" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError(
            "trainer.sync_batchnorm=true: this model has BatchNorm layers and torch synchronises them "
            "between processes on GPUs only: train it with trainer=ddp on GPUs, or set "
            "trainer.sync_batchnorm=false (each process then normalises with its own share of a batch)"
        )
