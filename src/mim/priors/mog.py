"""A learnable mixture of K diagonal Gaussians: p(z) = sum_k pi_k N(z; mu_k, diag(s_k^2))."""

from __future__ import annotations

import torch
from torch import nn

from mim.config import positive_int
from mim.distributions import DiagonalGaussian


class MixtureOfGaussiansPrior(nn.Module):
    def __init__(self, latent_dim: int, components: int = 10, init_scale: float = 1.0,
                 encoder: nn.Module | None = None):
        super().__init__()
        del encoder  # shared signature; unused
        positive_int("prior.components", components)
        self.latent_dim = latent_dim
        self.means = nn.Parameter(init_scale * torch.randn(components, latent_dim))
        self.log_stds = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def _components(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.means, torch.exp(self.log_stds))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        per_component = self._components().log_prob(z.unsqueeze(-2))  # [..., K]
        return torch.logsumexp(per_component + torch.log_softmax(self.logits, -1), dim=-1)

    def sample(self, n: int) -> torch.Tensor:
        k = torch.multinomial(torch.softmax(self.logits, -1), n, replacement=True)
        eps = torch.randn(n, self.latent_dim, dtype=self.means.dtype, device=self.means.device)
        return self.means[k] + torch.exp(self.log_stds[k]) * eps
