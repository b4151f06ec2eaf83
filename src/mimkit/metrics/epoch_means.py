"""Epoch means of a step's named scalars (the logged train/, val/ and test/ losses), as a
torchmetrics `Metric`: its states are summed over data-parallel processes when computed, so the
logged value is the mean over every process's items.

One vectorised, in-place update per step: a `MeanMetric` per name (a `MetricCollection`) cost
about 8x the plain per-name tensor sums per toy step (measured on the busy 2-core CPU: 3.3 ms
against 0.4 ms for 9 names); this one update costs about as much as those sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric


class EpochMeans(Metric):
    """Means of `names` over a stream of batches, each weighted by its item count:
    Σ_b n_b v_b / Σ_b n_b per name."""

    full_state_update = False

    def __init__(self, names: Sequence[str]):
        super().__init__()
        self.names = tuple(names)
        self.add_state("sums", torch.zeros(len(self.names)), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(()), dist_reduce_fx="sum")

    def update(self, values: dict[str, torch.Tensor], count: int) -> None:
        """Add one batch's scalars `values` (at least `names`), the means over its `count` items."""
        # in place: a `+=` re-assigns the attribute through nn.Module's __setattr__ (as much
        # time again as the arithmetic)
        self.sums.add_(torch.stack([values[name].detach() for name in self.names]), alpha=count)
        self.count.add_(count)

    def compute(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.sums / self.count))
