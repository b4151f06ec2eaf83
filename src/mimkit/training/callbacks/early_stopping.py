"""Early stopping that counts only epochs trained at β = 1
(docs/maths.md §2, "β warm-up and model selection")."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping

from mimkit.training.callbacks.beta_warmup import at_full_beta


class WarmupEarlyStopping(EarlyStopping):
    """`EarlyStopping` on the β = 1 validation loss, silent while the module's β < 1.

    The patience counts epochs trained at β = 1 only: the first of them (epoch max(W, 1) for a
    warm-up of W epochs) sets the best score, so with patience P the earliest stop is after
    epoch max(W, 1) + P. A run resumed from the checkpoint of the epoch that stopped it (killed
    during its final evaluation) stops again at once.
    """

    def _should_skip_check(self, trainer: L.Trainer) -> bool:
        return super()._should_skip_check(trainer) or not at_full_beta(trainer.lightning_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.stopped_epoch:  # resumed from the checkpoint of the epoch that stopped the run
            trainer.should_stop = True
