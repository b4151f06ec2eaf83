"""The two-level convolutional encoder of convHVAE and PixelHVAE (docs/maths.md §5).

q(z2|x): GConv(C→32,k7,p3) → GConv(32→32,k3,s2,p1) → GConv(32→64,k5,p2) → GConv(64→64,k3,s2,p1)
         → GConv(64→6,k3,p1) → flatten (294 for 28×28) → Gaussian heads.
q(z1|x,z2): the same path with every kernel 3, ⊕ GatedDense(z2 → 294) → GatedDense(588 → 300)
         → Gaussian heads.
The image's features for q(z1|x, ·) are computed once per x; only the dense part is re-run per z2
(so S posterior samples of one image cost one pass of the convolutions).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mimkit.fields import PositiveInt, Shape
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.nets.gated import GatedConv2d, GatedDense
from mimkit.model.nets.heads import GaussianHeads
from mimkit.model.two_level import TwoLevelGaussian

FEATURE_CHANNELS = 6


def conv_features(in_channels: int, kernels: tuple[int, int]) -> nn.Sequential:
    """The five gated convolutions, `kernels` = (first kernel, third kernel)."""
    first, third = kernels
    return nn.Sequential(
        GatedConv2d(in_channels, 32, first, 1, first // 2),
        GatedConv2d(32, 32, 3, 2, 1),
        GatedConv2d(32, 64, third, 1, third // 2),
        GatedConv2d(64, 64, 3, 2, 1),
        GatedConv2d(64, FEATURE_CHANNELS, 3, 1, 1),
        nn.Flatten(),
    )


def feature_size(x_shape: tuple[int, ...]) -> int:
    """Flattened size after two stride-2 convolutions (294 for 1×28×28)."""
    _, height, width = x_shape
    return FEATURE_CHANNELS * math.ceil(height / 4) * math.ceil(width / 4)


class ConvTopEncoder(nn.Module):
    """q(z2|x). Also the network the VampPrior encodes its pseudo-inputs with."""

    def __init__(self, x_shape: tuple[int, ...], z2_dim: int):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.features = conv_features(x_shape[0], (7, 5))
        self.heads = GaussianHeads(feature_size(self.x_shape), z2_dim)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return self.heads(self.features(x))


class TwoLevelConvEncoder(nn.Module):
    """x -> q(z|x) = q(z2|x) q(z1|x, z2), a `TwoLevelGaussian` over z = [z1, z2]."""

    def __init__(
        self, x_shape: Shape, z1_dim: PositiveInt = 40, z2_dim: PositiveInt = 40, hidden: PositiveInt = 300
    ):
        super().__init__()
        self.x_shape = tuple(x_shape)
        size = feature_size(self.x_shape)
        self.top = ConvTopEncoder(self.x_shape, z2_dim)
        self.x_features = conv_features(self.x_shape[0], (3, 3))
        self.z2_features = GatedDense(z2_dim, size)
        self.joint = GatedDense(2 * size, hidden)
        self.heads = GaussianHeads(hidden, z1_dim)
        self.z1_dim = z1_dim

    def bottom(self, x_features: torch.Tensor, z2: torch.Tensor) -> DiagonalGaussian:
        """q(z1 | x, z2) from the image's features; z2 may carry leading sample dims."""
        x_features = x_features.expand(*z2.shape[:-1], x_features.shape[-1])
        return self.heads(self.joint(torch.cat([x_features, self.z2_features(z2)], dim=-1)))

    def forward(self, x: torch.Tensor) -> TwoLevelGaussian:
        features = self.x_features(x)
        return TwoLevelGaussian(self.top(x), lambda z2: self.bottom(features, z2), self.z1_dim)
