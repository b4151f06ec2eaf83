"""The plain maths of the latent tools (`Autoencoder.interpolate`, `traverse`, `sample_around`):
paths between latent codes, traversals of single coordinates, and Gaussian neighbourhoods.

Every function maps latent vectors [..., D] to latent vectors and knows nothing of the model; a
two-level latent z = [z1, z2] is one vector of D = z1_dim + z2_dim coordinates here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, get_args

import torch
from pydantic import Field, Strict

PathKind = Literal["linear", "slerp"]
Steps = Annotated[int, Strict(), Field(ge=2)]  # points on a path, both endpoints included

# below this sin Ω (Ω: the angle between the endpoints) the great circle through them is not
# defined well enough (equal directions, opposite directions, a zero endpoint): slerp is linear
SLERP_EPS = 1e-6


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 − t) a + t b for endpoints a, b [..., D] and fractions t [T]: [..., T, D]."""
    t = t.to(a.dtype)[:, None]
    return a[..., None, :] + t * (b - a)[..., None, :]


def angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The angle Ω ∈ [0, π] between a and b [..., D], [...]: 2 atan2(‖â − b̂‖, ‖â + b̂‖) with
    â = a / ‖a‖, accurate near 0 and π, where acos of the cosine is not."""
    unit_a, unit_b = _unit(a), _unit(b)
    return 2 * torch.atan2((unit_a - unit_b).norm(dim=-1), (unit_a + unit_b).norm(dim=-1))


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation [..., T, D] of endpoints a, b [..., D] at fractions t [T]: the
    direction moves along the great circle from â to b̂ at constant angular speed, the norm
    linearly from ‖a‖ to ‖b‖,

        slerp(a, b; t) = ((1 − t) ‖a‖ + t ‖b‖) · [sin((1 − t) Ω) â + sin(t Ω) b̂] / sin Ω,

    with â = a / ‖a‖ and Ω = angle(a, b). The point at t makes the angle t Ω with a and (1 − t) Ω
    with b; for ‖a‖ = ‖b‖ it is the classical slerp, whose norm is ‖a‖ all the way. Where the
    great circle is not defined (sin Ω < SLERP_EPS: equal or opposite directions; or a zero
    endpoint) that pair's path is linear.
    """
    t = t.to(a.dtype)[:, None]  # [T, 1]
    norm_a, norm_b = a.norm(dim=-1)[..., None, None], b.norm(dim=-1)[..., None, None]  # [..., 1, 1]
    omega = angle(a, b)[..., None, None]
    sin_omega = torch.sin(omega)
    safe = sin_omega.clamp_min(SLERP_EPS)
    weight_a, weight_b = torch.sin((1 - t) * omega) / safe, torch.sin(t * omega) / safe  # [..., T, 1]
    direction = weight_a * _unit(a)[..., None, :] + weight_b * _unit(b)[..., None, :]
    arc = ((1 - t) * norm_a + t * norm_b) * direction
    degenerate = (sin_omega < SLERP_EPS) | (norm_a == 0) | (norm_b == 0)
    return torch.where(degenerate, lerp(a, b, t[:, 0]), arc)


def path_points(a: torch.Tensor, b: torch.Tensor, steps: int, path: str = "linear") -> torch.Tensor:
    """`steps` evenly spaced points [..., steps, D] from a to b (both included) on the `path`
    (linear | slerp), at fractions t = 0, 1/(steps − 1), ..., 1."""
    if path not in get_args(PathKind):
        raise ValueError(f"path must be one of {'|'.join(get_args(PathKind))}, got {path!r}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (both endpoints), got {steps}")
    if a.shape != b.shape:
        raise ValueError(f"the endpoints differ in shape: {list(a.shape)} and {list(b.shape)}")
    t = torch.linspace(0.0, 1.0, steps, device=a.device, dtype=a.dtype)
    return (slerp if path == "slerp" else lerp)(a, b, t)


def traversal_points(
    centre: torch.Tensor, dims: Sequence[int], values: torch.Tensor, absolute: bool = False
) -> torch.Tensor:
    """[B, K, V, D]: `centre` [B, D] with coordinate dims[k] replaced by centre[:, dims[k]] +
    values[v] (or by values[v] itself if `absolute`); every other coordinate is the centre's."""
    latent_dim = centre.shape[-1]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad:
        raise ValueError(f"dims must lie in 0..{latent_dim - 1} (the latent has {latent_dim}), got {bad}")
    values = values.to(centre)
    points = centre[:, None, None, :].repeat(1, len(dims), len(values), 1)
    for k, d in enumerate(dims):
        points[:, k, :, d] = values if absolute else centre[:, d, None] + values
    return points


def perturbed_points(centre: torch.Tensor, scale: float, n: int) -> torch.Tensor:
    """[B, n, D]: centre [B, D] + scale · ε, ε ~ N(0, I) from torch's global generator (MolMIM's
    sampling around a point's code)."""
    if scale < 0:
        raise ValueError(f"scale must be non-negative, got {scale}")
    eps = torch.randn(centre.shape[0], n, centre.shape[-1], dtype=centre.dtype, device=centre.device)
    return centre[:, None, :] + scale * eps
