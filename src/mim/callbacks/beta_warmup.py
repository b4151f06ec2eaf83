"""Sets the module's β at the start of every training epoch (spec §2: β = min(1, e / warmup))."""

from __future__ import annotations

import lightning as L

from mim.schedules import beta_at


class BetaWarmup(L.Callback):
    def __init__(self, warmup: int):
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
        self.warmup = warmup

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.beta = beta_at(trainer.current_epoch + 1, self.warmup)
