"""PixelCNN's masked convolutions (spec §5; van den Oord et al. 2016).

The kernel sees only pixels before the centre in raster order: the rows above, and the pixels to
the left in the centre row; mask 'A' also hides the centre (the first layer, so no output sees its
own input pixel), mask 'B' keeps it (later layers, whose centre holds past information only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def raster_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """[k, k] mask of 1s at the taps a masked convolution of type 'A' or 'B' may use."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    mask = torch.ones(kernel_size, kernel_size)
    centre = kernel_size // 2
    mask[centre, centre + (mask_type == "B"):] = 0
    mask[centre + 1:] = 0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A Conv2d whose weight is multiplied by the raster mask on every call (so the masked taps
    receive no gradient and stay irrelevant whatever the optimiser does to them)."""

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int = 3,
                 bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", raster_mask(kernel_size, mask_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)
