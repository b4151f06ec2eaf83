"""Gated layers of the image models (docs/maths.md §5): out = h(x) · sigmoid(g(x)).

h and g are two parallel layers of the same shape; here they are one layer of twice the width
whose output is split in two halves (the same function and parameter count, one kernel call).
Each gated layer declares `FUSED_PARTS = 2`: the first and second halves of its parameters along
dim 0 are h's and g's, which `mimkit.training.gradients` normalises as the two tensors the references hold.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def he_normal_(linear: nn.Linear) -> nn.Linear:
    """Weights ~ N(0, 2 / fan_in), the initialisation the VampPrior reference gives its dense layers."""
    nn.init.normal_(linear.weight, 0.0, math.sqrt(2.0 / linear.in_features))
    return linear


class GatedDense(nn.Module):
    FUSED_PARTS = 2  # h, g

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = he_normal_(nn.Linear(in_features, 2 * out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.linear(x).chunk(2, dim=-1)
        return h * torch.sigmoid(g)


class GatedConv2d(nn.Module):
    FUSED_PARTS = 2  # h, g

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, g = self.conv(x).chunk(2, dim=1)
        return h * torch.sigmoid(g)
