"""The paper's toy/PCA networks (docs/maths.md §5): Linear(in, H) -> tanh -> distribution heads."""

from __future__ import annotations

import torch
from torch import nn

from mimkit.fields import NonNegativeNumber, PositiveInt
from mimkit.model.distributions import Bernoulli, DiagonalGaussian


class GaussianMLP(nn.Module):
    """One tanh hidden layer of `hidden` units, then mean and log-std heads.

    Returns a diagonal Gaussian over `out_dim`; its std is exp(log_std) + `std_floor`.
    Used both as the encoder q(z|x) and as the Gaussian decoder p(x|z).
    """

    def __init__(
        self,
        in_dim: PositiveInt,
        out_dim: PositiveInt,
        hidden: PositiveInt,
        std_floor: NonNegativeNumber = 1e-6,
    ):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.std_floor = std_floor
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, out_dim)
        self.log_std = nn.Linear(hidden, out_dim)

    def forward(self, inputs: torch.Tensor) -> DiagonalGaussian:
        h = self.body(inputs)
        return DiagonalGaussian(self.mean(h), torch.exp(self.log_std(h)) + self.std_floor)


class BernoulliMLP(nn.Module):
    """One tanh hidden layer, then a logits head: a Bernoulli decoder p(x|z) for binary data."""

    binary_data = True  # p(x|z) is Bernoulli: the data are checked to be binary once, at start-up

    def __init__(self, in_dim: PositiveInt, out_dim: PositiveInt, hidden: PositiveInt):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, out_dim))

    def forward(self, inputs: torch.Tensor) -> Bernoulli:
        return Bernoulli(self.net(inputs))
