"""Early stopping that starts counting only once β has reached 1 (spec §2, model selection)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping


class WarmupEarlyStopping(EarlyStopping):
    """`EarlyStopping` on the β = 1 validation loss, silent during the `warmup` epochs."""

    def __init__(self, warmup: int, **kwargs):
        super().__init__(**kwargs)
        self.warmup = warmup

    def _should_skip_check(self, trainer: L.Trainer) -> bool:
        return super()._should_skip_check(trainer) or trainer.current_epoch + 1 < self.warmup
