"""Sets the module's β at the start of every training epoch (docs/maths.md §2: β = min(1, e / warmup)).

`warmup = 0` gives β = 1 from the first epoch. Model selection and early stopping consider only
epochs trained at β = 1 (`at_full_beta`), so both agree on which epochs count.
"""

from __future__ import annotations

import lightning as L

from mimkit.fields import NonNegativeInt
from mimkit.training.schedules import beta_at


def at_full_beta(pl_module: L.LightningModule) -> bool:
    """True if the current epoch trains at β = 1 (a module without a `beta` counts as β = 1)."""
    return getattr(pl_module, "beta", 1.0) >= 1.0


class BetaWarmup(L.Callback):
    def __init__(self, warmup: NonNegativeInt):
        self.warmup = warmup

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # torch types nn.Module.__setattr__'s value as Tensor | Module; any value is stored
        pl_module.beta = beta_at(trainer.current_epoch + 1, self.warmup)  # type: ignore[assignment]
