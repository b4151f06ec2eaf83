"""A learnable mixture of K diagonal Gaussians: p(z) = sum_k pi_k N(z; mu_k, diag(s_k^2)).

`log_prob` takes the rows of z in chunks of bounded size (`mimkit.model.priors.chunked`).
"""

from __future__ import annotations

import torch
from torch import nn

from mimkit.fields import PositiveInt, PositiveNumber
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.priors.chunked import MAX_ELEMENTS, over_row_chunks, rows_per_chunk


class MixtureOfGaussiansPrior(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        components: PositiveInt = 10,
        init_scale: PositiveNumber = 1.0,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        del encoder  # shared signature; unused
        self.latent_dim = latent_dim
        self.means = nn.Parameter(init_scale * torch.randn(components, latent_dim))
        self.log_stds = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def _components(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.means, torch.exp(self.log_stds))

    def log_prob(self, z: torch.Tensor, max_elements: int = MAX_ELEMENTS) -> torch.Tensor:
        """log p(z) for z [..., D]; at most `max_elements` numbers per [rows, K, D] intermediate."""
        components, log_weights = self._components(), torch.log_softmax(self.logits, -1)

        def mixture(rows: torch.Tensor) -> torch.Tensor:
            per_component = components.log_prob(rows.unsqueeze(-2))  # [..., K]
            return torch.logsumexp(per_component + log_weights, dim=-1)

        per_row = self.logits.shape[0] * z.shape[-1]
        return over_row_chunks(mixture, z, rows_per_chunk(max_elements, per_row))

    def sample(self, n: int) -> torch.Tensor:
        k = torch.multinomial(torch.softmax(self.logits, -1), n, replacement=True)
        eps = torch.randn(n, self.latent_dim, dtype=self.means.dtype, device=self.means.device)
        return self.means[k] + torch.exp(self.log_stds[k]) * eps
