"""p(z) = N(0, I)."""

from __future__ import annotations

import torch
from torch import nn

from mimkit.model.distributions import standard_normal_log_prob


class StandardNormalPrior(nn.Module):
    _device_anchor: torch.Tensor  # a buffer: the device and dtype of samples

    def __init__(self, latent_dim: int, encoder: nn.Module | None = None):
        super().__init__()
        del encoder  # shared signature; unused
        self.latent_dim = latent_dim
        self.register_buffer("_device_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int) -> torch.Tensor:
        anchor = self._device_anchor
        return torch.randn(n, self.latent_dim, dtype=anchor.dtype, device=anchor.device)
