"""p(z) = p(z2) p(z1 | z2) over z = [z1, z2] (docs/maths.md §1, "Hierarchical latents").

`top` is the configured prior (standard, VampPrior or MoG) acting on z2; `conditional` the
learned Gaussian network p(z1 | z2).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from mimkit.model.priors import Prior
from mimkit.model.two_level import join, split


class TwoLevelPrior(nn.Module):
    def __init__(self, top: nn.Module, conditional: nn.Module):
        super().__init__()
        self.top = cast(Prior, top)  # an nn.Module's attributes are typed Tensor | Module
        self.conditional = conditional
        self.z1_dim = cast(int, conditional.out_dim)
        self.latent_dim = self.z1_dim + self.top.latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = split(z, self.z1_dim)
        return self.top.log_prob(z2) + self.conditional(z2).log_prob(z1)

    def sample(self, n: int) -> torch.Tensor:
        z2 = self.top.sample(n)
        return join(self.conditional(z2).rsample(), z2)
