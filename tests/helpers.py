"""Tiny hand-analysable models shared by the tests."""

from __future__ import annotations

import torch
from torch import nn

from mim.autoencoder import Autoencoder
from mim.distributions import DiagonalGaussian
from mim.priors.standard import StandardNormalPrior


class AffineGaussian(nn.Module):
    """v -> N(scale * v + shift, std^2): a 1-parameter-per-role conditional for hand checks."""

    def __init__(self, scale: float, std: float, shift: float = 0.0, dim: int = 1):
        super().__init__()
        self.in_dim = dim
        self.scale = nn.Parameter(torch.tensor(scale))
        self.shift = nn.Parameter(torch.tensor(shift))
        self.std = std

    def forward(self, v: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.scale * v + self.shift, torch.full_like(v, self.std))


def affine_model(a=0.5, s=0.5, b=1.5, t=0.5) -> Autoencoder:
    """q(z|x) = N(a x, s^2), p(x|z) = N(b z, t^2), p(z) = N(0, 1), all 1-D."""
    return Autoencoder(AffineGaussian(a, s), AffineGaussian(b, t), StandardNormalPrior(1))


def noiseless(monkeypatch):
    """Make every Gaussian reparameterised sample return its mean (eps = 0)."""
    monkeypatch.setattr(DiagonalGaussian, "rsample",
                        lambda self, shape=(): self.mean.expand(torch.Size(shape) + self.mean.shape))


class _RecordingComponents:
    def __init__(self, inner, sizes: list[int]):
        self.inner, self.sizes = inner, sizes

    def log_prob(self, value):
        self.sizes.append(torch.broadcast_shapes(value.shape, self.inner.mean.shape).numel())
        return self.inner.log_prob(value)


def record_component_sizes(prior, monkeypatch) -> list[int]:
    """Sizes (numbers) of every [rows, K, D] intermediate a mixture prior's log_prob builds."""
    sizes: list[int] = []
    components = prior._components
    monkeypatch.setattr(prior, "_components", lambda: _RecordingComponents(components(), sizes))
    return sizes
