"""Per-tensor gradient normalisation of the image protocol (docs/maths.md §6).

The VampPrior reference divides each parameter's gradient by its L2 norm before the Adam update,
g ← g / (‖g‖₂ + ε), which makes the step size of every tensor independent of its gradient's scale.
Layers fused here but separate in the references (a gated layer's h and g, the Gaussian heads'
mean and log-variance) declare `FUSED_PARTS` = m: their parameters are m equal parts along dim 0,
each normalised as its own tensor.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

# optim.grad_norm: none, or per_tensor (this normalisation before every optimiser step)
GradNorm = Literal["none", "per_tensor"]


def gradient_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The gradients of `module`'s parameters as the references' tensors: a parameter of a module
    with `FUSED_PARTS` = m contributes its gradient's m parts along dim 0 (views), any other
    parameter its whole gradient. Parameters without a gradient are left out."""
    parts: dict[nn.Parameter, int] = {}
    for m in module.modules():
        for p in m.parameters():
            parts[p] = max(parts.get(p, 1), getattr(m, "FUSED_PARTS", 1))
    tensors: list[torch.Tensor] = []
    for p, n in parts.items():
        if p.grad is not None:
            tensors += p.grad.chunk(n, dim=0) if n > 1 else [p.grad]
    return tensors


@torch.no_grad()
def normalize_per_tensor(module: nn.Module, eps: float = 1e-7) -> None:
    """g ← g / (‖g‖₂ + eps) in place, for every tensor of `gradient_tensors(module)`."""
    grads = gradient_tensors(module)
    if not grads:
        return
    norms = torch._foreach_norm(grads)
    torch._foreach_div_(grads, torch._foreach_add(norms, eps))
