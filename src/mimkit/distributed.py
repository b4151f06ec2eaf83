"""Data-parallel runs under Hydra (trainer=ddp, trainer=ddp_cpu): where Lightning may start the
other processes itself.

Lightning's DDP launcher starts processes 1..N-1 by re-running the command line with the run
dir pinned (`hydra.run.dir=<rank 0's run dir>`, `hydra.output_subdir=null`), so a single run
keeps one run dir. Inside a local Hydra multirun that cannot work: the command line is the whole
sweep, and the launcher leaves `LOCAL_RANK` set for the next job of the process. A cluster that
starts every process itself (SLURM through hydra/launcher=slurm) has none of these problems.
"""

from __future__ import annotations

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from mimkit.errors import ConfigError


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
