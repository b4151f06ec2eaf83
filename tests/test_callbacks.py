"""β warm-up, early stopping and model selection inside real training runs (docs/maths.md §2).

Each run is the real pipeline (composed config, `train`, the callbacks of conf/callbacks/default)
with the validation loss replaced during fitting by a scripted sequence, so that the epoch at
which early stopping fires and the epoch chosen as best can be worked out by hand.
"""

from __future__ import annotations

import csv
import logging

import pytest
from conftest import FAST
from lightning.pytorch.trainer.states import TrainerFn

from mimkit.app.run import train
from mimkit.errors import ConfigError
from mimkit.training.module import AutoencoderModule

QUICK = ["callbacks.representation_metrics=null", "callbacks.fig2_plot=null", "trainer.max_epochs=10"]


def script_val_loss(monkeypatch, losses: list[float]) -> None:
    """During fitting, epoch e (from 0) logs val/loss = losses[e]; later evaluation is real."""
    real_step = AutoencoderModule.validation_step

    def step(self, batch, batch_idx):
        if self.trainer.state.fn != TrainerFn.FITTING:
            return real_step(self, batch, batch_idx)
        self.log("val/loss", losses[self.current_epoch], batch_size=len(batch[0]))

    monkeypatch.setattr(AutoencoderModule, "validation_step", step)


def per_epoch(run_dir, name: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(row[name]) for row in csv.DictReader(f) if row.get(name)]


def checkpoint_names(run_dir) -> list[str]:
    return sorted(path.name for path in (run_dir / "checkpoints").glob("*.ckpt"))


def test_warmup_then_early_stopping_and_best_among_beta_one_epochs(train_config, tmp_path, monkeypatch):
    # warmup 3: β = 1/3, 2/3, 1, 1, ...; patience 2 counts β = 1 epochs only.
    # epoch:     1     2     3    4    5    6    7
    losses = [0.1, 0.2, 4.0, 3.0, 3.5, 3.2, 1.0, 1.0, 1.0, 1.0]
    # epochs 1-2 (β < 1) are ignored although their losses are the lowest; epoch 3 sets the
    # best (4.0), epoch 4 improves it (3.0), epochs 5 and 6 do not: stop after epoch 6.
    script_val_loss(monkeypatch, losses)
    metrics = train(train_config(*QUICK, "patience=2"))
    assert per_epoch(tmp_path, "train/beta") == pytest.approx([1 / 3, 2 / 3, 1, 1, 1, 1])
    assert metrics["train/epochs"] == 6
    assert checkpoint_names(tmp_path) == ["epoch_003.ckpt", "last.ckpt"]  # epoch 4, zero-based 3
    lrs = per_epoch(tmp_path, "lr-Adam")  # Noam, W = 3: min(e/3, sqrt(3/e)) · 1e-3
    assert lrs == pytest.approx(
        [1e-3 / 3, 2e-3 / 3, 1e-3, 1e-3 * (3 / 4) ** 0.5, 1e-3 * (3 / 5) ** 0.5, 1e-3 * (3 / 6) ** 0.5]
    )


def test_warmup_zero_is_beta_one_from_the_first_epoch(train_config, tmp_path, monkeypatch):
    # β = 1 throughout, constant LR; patience keeps its default 3: epoch 1 is the best and
    # epochs 2, 3, 4 do not improve on it -> stop after epoch 4, best = epoch 1.
    script_val_loss(monkeypatch, [5.0, 6.0, 7.0, 8.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    metrics = train(train_config(*QUICK, "warmup=0"))
    assert per_epoch(tmp_path, "train/beta") == [1.0] * 4
    assert per_epoch(tmp_path, "lr-Adam") == pytest.approx([1e-3] * 4)
    assert metrics["train/epochs"] == 4
    assert checkpoint_names(tmp_path) == ["epoch_000.ckpt", "last.ckpt"]


def test_a_run_that_ends_during_warmup_has_no_best_checkpoint(train_config, tmp_path, monkeypatch, caplog):
    script_val_loss(monkeypatch, [0.1, 0.2])
    with caplog.at_level(logging.WARNING, logger="mimkit.training.callbacks.checkpoint"):
        metrics = train(train_config(*QUICK, "trainer.max_epochs=2"))
    assert metrics["train/epochs"] == 2
    assert checkpoint_names(tmp_path) == ["last.ckpt"]
    assert "no best checkpoint" in caplog.text


@pytest.mark.parametrize("preset", ["none", "evaluation"])
def test_a_preset_without_warmup_says_so(train_config, tmp_path, preset, caplog):
    # FAST without its `callbacks.progress_bar=null` (the `none` preset has no such key)
    overrides = [o for o in FAST if not o.startswith("callbacks.")] + [f"callbacks={preset}"]
    if preset == "evaluation":
        overrides += [
            "callbacks.progress_bar=null",
            "callbacks.representation_metrics=null",
            "callbacks.fig2_plot=null",
        ]
    with caplog.at_level(logging.WARNING, logger="mimkit.training.module"):
        train(train_config(*overrides, fast=False))
    assert "β stays 1 for the whole run" in caplog.text
    assert per_epoch(tmp_path, "train/beta") == [1.0, 1.0]


def test_default_preset_does_not_warn(train_config, caplog):
    with caplog.at_level(logging.WARNING, logger="mimkit.training.module"):
        train(train_config(*QUICK, "trainer.max_epochs=1"))
    assert "β stays" not in caplog.text


def test_patience_must_be_positive(train_config):
    with pytest.raises(ConfigError, match="patience must be greater than 0, got 0"):
        train(train_config("patience=0"))
