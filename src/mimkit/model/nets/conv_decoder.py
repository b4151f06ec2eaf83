"""convHVAE's decoder p(x | z1, z2) (docs/maths.md §5), a Bernoulli over the image.

GatedDense(z1 → 300) ⊕ GatedDense(z2 → 300) → GatedDense(600 → C·H·W) → C×H×W
→ GConv(C→64,k3) → 3 × GConv(64→64,k3) → 1×1 conv → logits (the sigmoid lives in the Bernoulli).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mimkit.fields import PositiveInt, Shape
from mimkit.model.distributions import Bernoulli
from mimkit.model.nets.gated import GatedConv2d, GatedDense
from mimkit.model.two_level import split


class ConvDecoder(nn.Module):
    binary_data = True  # p(x|z) is Bernoulli: the data are checked to be binary once, at start-up

    def __init__(
        self,
        x_shape: Shape,
        z1_dim: PositiveInt = 40,
        z2_dim: PositiveInt = 40,
        hidden: PositiveInt = 300,
        channels: PositiveInt = 64,
    ):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.z1_dim = z1_dim
        self.z1_features = GatedDense(z1_dim, hidden)
        self.z2_features = GatedDense(z2_dim, hidden)
        self.to_image = GatedDense(2 * hidden, math.prod(self.x_shape))
        c = self.x_shape[0]
        self.convs = nn.Sequential(
            GatedConv2d(c, channels, 3, 1, 1),
            *[GatedConv2d(channels, channels, 3, 1, 1) for _ in range(3)],
            nn.Conv2d(channels, c, 1),
        )

    def forward(self, z: torch.Tensor) -> Bernoulli:
        lead = z.shape[:-1]
        z1, z2 = split(z.reshape(-1, z.shape[-1]), self.z1_dim)
        h = self.to_image(torch.cat([self.z1_features(z1), self.z2_features(z2)], dim=-1))
        logits = self.convs(h.view(-1, *self.x_shape))
        return Bernoulli(logits.view(*lead, *self.x_shape), event_dims=3)
