"""Model latent priors p(z) (docs/maths.md §1). Each is an nn.Module with `log_prob(z)` and `sample(n)`.

All share one construction signature, `Prior(latent_dim, encoder=None, ...)`, so the model
builder can create any of them from a Hydra config group; only the VampPrior uses the encoder.
"""

from typing import Protocol

import torch


class Prior(Protocol):
    """What the model uses of a prior (for the type checker; an nn.Module's own attributes are
    typed Tensor | Module)."""

    latent_dim: int

    def log_prob(self, z: torch.Tensor) -> torch.Tensor: ...

    def sample(self, n: int) -> torch.Tensor: ...
