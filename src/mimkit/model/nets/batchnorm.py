"""BatchNorm layers switched to their running statistics for a block of code (docs/maths.md §5)."""

from __future__ import annotations

import contextlib

from torch import nn


@contextlib.contextmanager
def running_statistics(module: nn.Module):
    """Every BatchNorm layer in `module` normalises with its running statistics inside the block
    (and leaves them as they are); gradients still reach its weight and bias. Each layer's mode is
    restored afterwards. Without BatchNorm layers, nothing changes."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in norms]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)
