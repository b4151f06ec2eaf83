"""Per-epoch schedules of the reference protocol (docs/maths.md §2, §6). Epochs count from 1."""

from __future__ import annotations

import math
from typing import Literal

# optim.schedule: the Noam learning-rate schedule (noam_factor) or a constant rate
Schedule = Literal["noam", "constant"]


def beta_at(epoch: int, warmup: int) -> float:
    """β warm-up: min(1, epoch / warmup); β = 1 throughout when warmup = 0."""
    return 1.0 if warmup <= 0 else min(1.0, epoch / warmup)


def noam_factor(epoch: int, warmup: int) -> float:
    """The "Noam" learning-rate factor min(e/W, sqrt(W/e)); constant 1 when W = 0."""
    if warmup <= 0:
        return 1.0
    return min(epoch / warmup, math.sqrt(warmup / epoch))
