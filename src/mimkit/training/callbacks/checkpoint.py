"""Model selection that agrees with early stopping: only β = 1 epochs can be best (docs/maths.md §2)."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from mimkit.training.callbacks.beta_warmup import at_full_beta

log = logging.getLogger(__name__)


class WarmupModelCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose top-k (best) candidates are the epochs trained at β = 1 only.

    The monitored `val/loss` is always the β = 1 loss, but a model trained at β < 1 is another
    model; as in `WarmupEarlyStopping`, warm-up epochs are not candidates. A run that ends
    before β = 1 has no best checkpoint (with a warning).

    `last.ckpt` is written at the end of every epoch (Lightning alone writes it only along with a
    new best one), so a killed run resumes from its latest epoch, warm-up epochs included.
    """

    def check_monitor_top_k(self, trainer: L.Trainer, current=None) -> bool:
        return at_full_beta(trainer.lightning_module) and super().check_monitor_top_k(trainer, current)

    def _save_last_every_epoch(self, trainer: L.Trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_every_epoch(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_every_epoch(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        # Lightning's Trainer sets fast_dev_run in a connector, out of the type checker's sight
        if self.monitor and not self.best_model_path and not trainer.fast_dev_run:  # type: ignore[attr-defined]
            log.warning(
                "no best checkpoint: no validated epoch was trained at β = 1 "
                "(warm-up epochs are not candidates); last.ckpt holds the final model"
            )
