"""Gaussian output heads of the image models (docs/maths.md §5): a mean and a log-variance hard-clipped
to [-6, 2], read off one linear layer."""

from __future__ import annotations

import torch
from torch import nn

from mimkit.fields import PositiveInt
from mimkit.model.distributions import DiagonalGaussian, full_precision
from mimkit.model.nets.gated import GatedDense, he_normal_

LOGVAR_RANGE = (-6.0, 2.0)


class GaussianHeads(nn.Module):
    FUSED_PARTS = 2  # the mean and log-variance layers (separate tensors in the references)

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = he_normal_(nn.Linear(in_features, 2 * out_features))

    def forward(self, h: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = full_precision(self.linear(h)).chunk(2, dim=-1)
        return DiagonalGaussian(mean, torch.exp(0.5 * logvar.clamp(*LOGVAR_RANGE)))


class GatedGaussianMLP(nn.Module):
    """v -> GatedDense(in, hidden) -> GatedDense(hidden, hidden) -> N(mean, diag(exp(logvar))).

    The learned conditional prior p(z1|z2) of the two-level models (docs/maths.md §5).
    """

    def __init__(self, in_dim: PositiveInt, out_dim: PositiveInt, hidden: PositiveInt = 300):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.body = nn.Sequential(GatedDense(in_dim, hidden), GatedDense(hidden, hidden))
        self.heads = GaussianHeads(hidden, out_dim)

    def forward(self, v: torch.Tensor) -> DiagonalGaussian:
        return self.heads(self.body(v))
