"""Epoch means of a step's named scalars (the logged train/, val/ and test/ losses), as a
torchmetrics `Metric`: its states are summed over data-parallel processes when computed, so the
logged value is the mean over every process's items.

One vectorised, in-place update per step, about as cheap as plain per-name tensor sums; a
`MeanMetric` per name (a `MetricCollection`) cost several times more per toy step
(docs/performance.md, "Tuned constants").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


class EpochMeans(Metric):
    """Means of `names` over a stream of batches, each weighted by its item count:
    Σ_b n_b v_b / Σ_b n_b per name."""

    full_state_update = False
    # the states (add_state)
    sums: torch.Tensor
    count: torch.Tensor

    def __init__(self, names: Sequence[str]):
        super().__init__()
        self.names = tuple(names)
        self.add_state("sums", torch.zeros(len(self.names)), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(()), dist_reduce_fx="sum")
        self._pending: torch.Tensor | None = None
        self._pending_count = 0

    def update(self, values: dict[str, torch.Tensor], count: int, weight: int | None = None) -> None:
        """Add one batch's scalars `values` (at least `names`), the means over its `count` items
        (`weight=1`: `values` are already sums over those items)."""
        # in place: a `+=` re-assigns the attribute through nn.Module's __setattr__ (as much
        # time again as the arithmetic)
        stacked = torch.stack([values[name].detach() for name in self.names])
        self.sums.add_(stacked, alpha=count if weight is None else weight)
        self.count.add_(count)

    def add(self, values: dict[str, torch.Tensor], count: int) -> None:
        """`update` for every step, without torchmetrics' per-call bookkeeping (its cost: docs/
        performance.md): the step's sums go to a plain tensor, handed to the metric once by
        `flush`, before `compute`. The sums are the same, bit for bit."""
        stacked = torch.stack([values[name].detach() for name in self.names])
        if self._pending is None:
            self._pending = torch.zeros_like(stacked)
        self._pending.add_(stacked, alpha=count)
        self._pending_count += count

    def flush(self) -> None:
        """Hand the sums gathered by `add` to the metric's states."""
        if self._pending is not None:
            self.update(dict(zip(self.names, self._pending)), self._pending_count, weight=1)
            self._pending, self._pending_count = None, 0

    def compute(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.sums / self.count))
