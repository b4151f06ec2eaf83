"""Tiny hand-analysable models shared by the tests."""

from __future__ import annotations

import math

import torch
from torch import nn

from mimkit.data.gmm import GMMDataModule
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.distributions import Bernoulli, DiagonalGaussian
from mimkit.model.priors.standard import StandardNormalPrior


class AffineGaussian(nn.Module):
    """v -> N(scale * v + shift, std^2): a 1-parameter-per-role conditional for hand checks.

    learn_std: make the std a parameter too (as exp(log_std)), so that gradients reach it.
    """

    def __init__(self, scale: float, std: float, shift: float = 0.0, dim: int = 1, learn_std: bool = False):
        super().__init__()
        self.in_dim = dim
        self.scale = nn.Parameter(torch.tensor(scale))
        self.shift = nn.Parameter(torch.tensor(shift))
        self.log_std = nn.Parameter(torch.tensor(math.log(std))) if learn_std else None
        self.std = std

    def forward(self, v: torch.Tensor) -> DiagonalGaussian:
        std = torch.full_like(v, self.std) if self.log_std is None else self.log_std.exp().expand_as(v)
        return DiagonalGaussian(self.scale * v + self.shift, std)


class AffineBernoulli(nn.Module):
    """z -> Bernoulli(logits = scale * z + shift), elementwise: a tiny binary decoder."""

    def __init__(self, scale: float, shift: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.shift = nn.Parameter(torch.tensor(shift))

    def forward(self, z: torch.Tensor) -> Bernoulli:
        return Bernoulli(self.scale * z + self.shift)


class LinearGaussian(nn.Module):
    """inputs -> N(inputs Aᵀ + c, diag(std²)), all fixed (linear-Gaussian closed forms)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.std = nn.Parameter(std, requires_grad=False)

    def forward(self, inputs: torch.Tensor) -> DiagonalGaussian:
        mean = inputs @ self.weight.T + self.bias
        return DiagonalGaussian(mean, self.std.expand_as(mean))


def affine_model(a=0.5, s=0.5, b=1.5, t=0.5) -> Autoencoder:
    """q(z|x) = N(a x, s^2), p(x|z) = N(b z, t^2), p(z) = N(0, 1), all 1-D."""
    return Autoencoder(AffineGaussian(a, s), AffineGaussian(b, t), StandardNormalPrior(1))


def noiseless(monkeypatch):
    """Make every Gaussian reparameterised sample return its mean (eps = 0)."""
    monkeypatch.setattr(
        DiagonalGaussian,
        "rsample",
        lambda self, shape=(): self.mean.expand(torch.Size(shape) + self.mean.shape),
    )


class OwnGMMDataModule(GMMDataModule):
    """A user's own data class, a subclass of a shipped one (a `_target_` the schema checks)."""


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
