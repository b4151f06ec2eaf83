"""Posterior-collapse diagnostics of the encoder q(z|x) = N(μ(x), diag σ(x)²).

- Active units (Burda, Grosse, Salakhutdinov 2016, "Importance Weighted Autoencoders", §5.2):
  latent dimension d is active if A_d = Var_x( E_{q(z|x)}[z_d] ) = Var_x(μ_d(x)) > threshold
  (0.01 in that paper). A collapsed dimension ignores x: its mean is the same for every x.
- Mean posterior variance per dimension, E_x[σ_d(x)²]: near 1 (the prior's) for a collapsed
  dimension, small for a dimension that encodes x precisely.

Both summarise the posterior-collapse comparison of MIM and the VAE (docs/maths.md §7).
"""

from __future__ import annotations

import torch


def _matrix(values: torch.Tensor, name: str) -> torch.Tensor:
    values = torch.as_tensor(values).detach().double()
    if values.dim() != 2 or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {tuple(values.shape)}")
    return values


def posterior_mean_variance(means: torch.Tensor) -> torch.Tensor:
    """A_d = Var_x(μ_d(x)) per latent dimension [D] (population variance over the N rows)."""
    means = _matrix(means, "means")
    return means.var(dim=0, correction=0)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """Number of latent dimensions with Var_x(μ_d(x)) > threshold (means: [N, D])."""
    return int((posterior_mean_variance(means) > threshold).sum())


def mean_posterior_variance(stds: torch.Tensor) -> torch.Tensor:
    """E_x[σ_d(x)²] per latent dimension [D] from the posterior stds [N, D]."""
    stds = _matrix(stds, "stds")
    return stds.pow(2).mean(dim=0)
