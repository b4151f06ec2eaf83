"""The reference code's training-image augmentation for PCA-Fashion-MNIST (`data.augment=true`).

`seraphlabs-ca/MIM` (`src/datasets.py`, `PCAFashionMNIST`) transforms every training image,
each epoch anew, before projecting it on the PCA; the paper does not mention it
(docs/results/README.md). With probability 0.5 a random affine map about the image centre (rotation angle
uniform in ±10°, translation uniform in ±10% of the side on each axis, whole pixels; scale
uniform in 0.8–1.2; shear along x uniform in ±5°), nearest-neighbour resampling and zeros
outside; then every image (transformed or not) is dequantised to (255 x + u) / 256, u ~ U(0, 1),
clipped to [0.001, 0.999]. The same ranges, written here with torch's `affine_grid`; the
composition order of rotation, shear and scale is ours (torchvision composes them in its own
way).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

P_APPLY = 0.5
DEGREES = 10.0
TRANSLATE = 0.1
SCALE = (0.8, 1.2)
SHEAR = 5.0
CLIP = 1e-3


def affine_thetas(
    angle: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor, side: int
) -> torch.Tensor:
    """`affine_grid`'s theta [N, 2, 3] of the forward maps x' = R(angle) Sh(shear) s x + shift
    about the centre: angle and shear in degrees [N], shift in pixels [N, 2] (x to the right, y
    down), scale [N], for square images of `side` pixels. theta is the inverse map, output
    coordinates to input ones, in [-1, 1] units (align_corners=False)."""
    a, s = torch.deg2rad(angle), torch.tan(torch.deg2rad(shear))
    cos, sin = torch.cos(a), torch.sin(a)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shearing = torch.zeros_like(rotation)
    shearing[:, 0, 0] = shearing[:, 1, 1] = 1.0
    shearing[:, 0, 1] = s
    forward = rotation @ shearing * scale[:, None, None]
    inverse = torch.linalg.inv(forward)
    offset = -(inverse @ (2.0 * shift / side)[..., None])
    return torch.cat([inverse, offset], -1)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """float images [N, H, W] resampled (nearest, zeros outside) through `theta` [N, 2, 3]."""
    grid = F.affine_grid(theta, [len(images), 1, *images.shape[1:]], align_corners=False)
    return F.grid_sample(images[:, None], grid, mode="nearest", padding_mode="zeros", align_corners=False)[
        :, 0
    ]


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float images [N, S, S]; each transformed with probability P_APPLY by a random affine map
    of the reference's ranges (module docstring), the others returned as they are."""
    n, side = len(images), images.shape[-1]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)

    apply = torch.rand(n, generator=generator) < P_APPLY
    max_shift = round(TRANSLATE * side)
    shift = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).double()
    theta = affine_thetas(uniform(-DEGREES, DEGREES), shift, uniform(*SCALE), uniform(-SHEAR, SHEAR), side)
    out = images.clone()
    if apply.any():
        out[apply] = warp(images[apply].double(), theta[apply]).to(images.dtype)
    return out


def dequantise(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(255 x + u) / 256 with u ~ U(0, 1) per pixel, clipped to [CLIP, 1 - CLIP]; x in [0, 1]."""
    noise = torch.rand(pixels.shape, generator=generator, dtype=pixels.dtype)
    return ((255.0 * pixels + noise) / 256.0).clamp_(CLIP, 1.0 - CLIP)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 images [N, S, S] -> the reference's augmented training pixels, float64 [N, S*S]."""
    pixels = random_affine(images.to(torch.float64).div_(255), generator)
    return dequantise(pixels, generator).reshape(len(images), -1)
