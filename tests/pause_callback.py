"""Test-only callbacks, passed to training runs by override (`+callbacks.NAME._target_=...`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
import torch


class PauseMidEpoch(L.Callback):
    """With MIM_TEST_PAUSE_AT="EPOCH,BATCH" in the environment: after that training batch, write
    the file MIM_TEST_PAUSE_FILE and sleep until killed. Without it: nothing."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        spec = os.environ.get("MIM_TEST_PAUSE_AT")
        if spec and [trainer.current_epoch, batch_idx] == [int(v) for v in spec.split(",")]:
            Path(os.environ["MIM_TEST_PAUSE_FILE"]).write_text(f"{trainer.current_epoch},{batch_idx}\n")
            time.sleep(600)


class LastCheckpointProbe(L.Callback):
    """Records, at the start of every training epoch, the epoch stored in checkpoints/last.ckpt
    (None where there is none) in the class-level list `seen`."""

    seen: list = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module) -> None:
        path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        epoch = torch.load(path, weights_only=True)["epoch"] if path.is_file() else None
        LastCheckpointProbe.seen.append(epoch)


class CountNLLRows(L.Callback):
    """Records the test points each process scores in the IS-NLL: every call of the callback's
    `nll_per_example` is seen, and at the end of testing its rows are saved to
    `out/nll_rows_rank<global rank>.pt`."""

    def __init__(self, out: str):
        import mimkit.evaluation.callbacks.representation as metrics

        self.out, self.rows, self.metrics = Path(out), [], metrics
        self.original = metrics.nll_per_example

        def counted(model, x, *args, **kwargs):
            self.rows.append(x.detach().cpu())
            return self.original(model, x, *args, **kwargs)

        metrics.nll_per_example = counted

    def on_test_end(self, trainer: L.Trainer, pl_module) -> None:
        self.metrics.nll_per_example = self.original
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save(torch.cat(self.rows), self.out / f"nll_rows_rank{trainer.global_rank}.pt")
