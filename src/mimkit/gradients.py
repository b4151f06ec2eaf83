"""Per-tensor gradient normalisation of the image protocol (spec §6).

The VampPrior reference divides each parameter's gradient by its L2 norm before the Adam update,
g ← g / (‖g‖₂ + ε), which makes the step size of every tensor independent of its gradient's scale.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

GRAD_NORMS = ("none", "per_tensor")


@torch.no_grad()
def normalize_per_tensor(parameters: Iterable[torch.nn.Parameter], eps: float = 1e-7) -> None:
    """g ← g / (‖g‖₂ + eps) in place, for every parameter that has a gradient."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    torch._foreach_div_(grads, torch._foreach_add(norms, eps))
