"""PixelCNN's masked convolutions (docs/maths.md §5; van den Oord et al. 2016).

The kernel sees only pixels before the centre in raster order: the rows above, and the pixels to
the left in the centre row; mask 'A' also hides the centre (the first layer, so no output sees its
own input pixel), mask 'B' keeps it (later layers, whose centre holds past information only).

The rows of the kernel below the centre are all masked, so they are not computed: the convolution
runs with the top k//2 + 1 rows of the kernel only (2 of 3 rows for k = 3: two thirds of the
multiply-adds of a full k×k kernel, in training and evaluation alike). With the usual symmetric
padding that gives k//2 extra output rows at the bottom, which are dropped; the rows kept equal
the full masked convolution's exactly (the same taps; only the summation order may differ).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


def raster_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """[k, k] mask of 1s at the taps a masked convolution of type 'A' or 'B' may use."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    mask = torch.ones(kernel_size, kernel_size)
    centre = kernel_size // 2
    mask[centre, centre + (mask_type == "B") :] = 0
    mask[centre + 1 :] = 0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A stride-1 'same' Conv2d whose weight is multiplied by the raster mask on every call (so the
    masked taps receive no gradient and stay irrelevant whatever the optimiser does to them).

    `forward(x, scale, shift)` may fold a per-output-channel affine map into the convolution:
    out = scale · conv(x) + shift, computed as one convolution (an eval-mode BatchNorm after it).
    """

    mask: torch.Tensor  # a buffer

    def __init__(
        self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False
    ):
        if kernel_size % 2 != 1:
            raise ValueError(f"a masked convolution needs an odd kernel size, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", raster_mask(kernel_size, mask_type), persistent=False)

    def masked_weight(self) -> torch.Tensor:
        """The used rows of the masked kernel, [out, in, k//2 + 1, k]."""
        rows = self.kernel_size[0] // 2 + 1
        return (self.weight * self.mask)[:, :, :rows]

    def folded(
        self, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) of the used rows, with out = scale · conv(x) + shift folded in if given."""
        weight, bias = self.masked_weight(), self.bias
        if scale is not None:
            weight = weight * scale.view(-1, 1, 1, 1)
            # scale and shift are given together (the folded BatchNorm)
            bias = shift if bias is None else bias * scale + cast(torch.Tensor, shift)
        return weight, bias

    def forward(
        self, x: torch.Tensor, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        return masked_conv2d(x, *self.folded(scale, shift))


def masked_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The 'same' masked convolution of x with the used rows `weight` [out, in, k//2 + 1, k] of a
    k×k kernel (symmetric padding k//2, the extra bottom rows dropped)."""
    pad = weight.shape[-1] // 2
    return F.conv2d(x, weight, bias, padding=pad)[:, :, : x.shape[-2]]
