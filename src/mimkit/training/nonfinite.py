"""A non-finite training loss, detected on the loss's device without a host sync per step.

Testing `torch.isfinite(loss)` on the host at every step makes the CPU wait for the device (one
device-to-host sync per step). `NonFiniteWatch.observe` instead keeps, on the device, the first
non-finite loss and the epoch and step it came at (a few tensor operations, nothing read back);
`check` reads them once and raises. The module checks at every logging step and at the last
batch of an epoch (before validation and checkpointing), so a diverged run stops at most
`trainer.log_every_n_steps` steps after the first bad loss, with the error naming that step and
its earlier checkpoints intact.
"""

from __future__ import annotations

import torch


class NonFiniteLossError(FloatingPointError):
    pass


class NonFiniteWatch:
    """The first non-finite value among the observed losses, with its epoch and step."""

    def __init__(self):
        self._loss: torch.Tensor | None = None
        self._epoch: torch.Tensor | None = None
        self._step: torch.Tensor | None = None  # -1 until a non-finite loss is observed

    def observe(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        """Record `loss` (a scalar; epoch counted from 1) if it is the first non-finite one."""
        loss = loss.detach()
        if self._step is None or self._epoch is None or self._loss is None:
            self._step = torch.full((), -1, dtype=torch.long, device=loss.device)
            self._epoch = torch.zeros((), dtype=torch.long, device=loss.device)
            self._loss = torch.zeros((), dtype=loss.dtype, device=loss.device)
        first = ~torch.isfinite(loss) & (self._step < 0)
        self._step = torch.where(first, step, self._step)
        self._epoch = torch.where(first, epoch, self._epoch)
        self._loss = torch.where(first, loss, self._loss)

    def check(self) -> None:
        """NonFiniteLossError naming the first non-finite loss observed, if any (one host read)."""
        if self._step is None or self._epoch is None or self._loss is None or int(self._step) < 0:
            return
        raise NonFiniteLossError(
            f"non-finite training loss ({self._loss.item()}) at epoch {int(self._epoch)}, "
            f"step {int(self._step)}: lower optim.lr or check the data"
        )
