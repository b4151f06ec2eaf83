"""Two-level latents z = [z1, z2] (docs/maths.md §1, "Hierarchical latents").

The objectives see one latent vector: every distribution over z below samples and scores the
concatenation [z1, z2] along the last dimension, so MIM, A-MIM and the VAE run unchanged over flat
and two-level models. Log-densities are sums over both groups:
    log q(z|x) = log q(z2|x) + log q(z1|x, z2).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import torch

from mimkit.model.distributions import DiagonalGaussian


def split(z: torch.Tensor, z1_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(z1, z2) of z = [z1, z2]."""
    return z[..., :z1_dim], z[..., z1_dim:]


def join(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    return torch.cat([z1, z2], dim=-1)


class TwoLevelGaussian:
    """q(z) = q(z2) q(z1 | z2) over z = [z1, z2]: `top` is q(z2), `bottom(z2)` is q(z1 | z2).

    Reparameterisable (z2 first, then z1 given that z2). `mean` is [E[z1 | E z2], E z2] and `std`
    the matching [std(z1 | E z2), std(z2)]: the posterior's centre and spread for embeddings and
    collapse diagnostics.
    """

    has_rsample = True

    def __init__(
        self, top: DiagonalGaussian, bottom: Callable[[torch.Tensor], DiagonalGaussian], z1_dim: int
    ):
        self.top = top
        self.bottom = bottom
        self.z1_dim = z1_dim

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        z2 = self.top.rsample(sample_shape)
        return join(self.bottom(z2).rsample(), z2)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = split(z, self.z1_dim)
        return self.top.log_prob(z2) + self.bottom(z2).log_prob(z1)

    @cached_property
    def _bottom_at_mean(self) -> DiagonalGaussian:
        return self.bottom(self.top.mean)

    @property
    def mean(self) -> torch.Tensor:
        return join(self._bottom_at_mean.mean, self.top.mean)

    @property
    def std(self) -> torch.Tensor:
        return join(self._bottom_at_mean.std, self.top.std)
