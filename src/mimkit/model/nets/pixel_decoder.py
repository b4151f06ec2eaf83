"""PixelHVAE's decoder p(x | z1, z2) = Π_i p(x_i | x_<i, z1, z2) (docs/maths.md §5), pixels in raster order.

z1 and z2 each → GatedDense(→ C·H·W) → a C×H×W map; [x, map1, map2] → masked conv 'A'
(3C → 64, k3, no bias) + BatchNorm + ReLU → 7 × (masked conv 'B' 64 → 64 + BatchNorm + ReLU)
→ 1×1 conv → the logits of every pixel given the pixels before it.

Likelihoods are teacher-forced (one pass over the observed x); drawing x ~ p(x|z) takes one step
per pixel (784 for 28×28), each computing only the pixels the next one depends on (`window_probability`),
with BatchNorm folded into the masked kernels once per draw. `sampler="compiled"` runs that step
through torch.compile (CUDA graphs on a GPU), falling back to eager with one log line.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from mimkit.errors import one_line
from mimkit.fields import PositiveInt, Shape
from mimkit.model.distributions import Bernoulli
from mimkit.model.nets.gated import GatedDense
from mimkit.model.nets.masked import MaskedConv2d, masked_conv2d
from mimkit.model.two_level import split

log = logging.getLogger(__name__)

Sampler = Literal["eager", "compiled"]

# below this many chains a sampling step is a few small kernels, which one thread runs faster
# than two (docs/performance.md, "Tuned constants")
ONE_THREAD_CHAINS = 16


@contextlib.contextmanager
def threads(count: int | None):
    """torch's intra-op threads set to `count` inside the block (None: unchanged)."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class AutoregressiveBernoulli:
    """p(x | z) of a PixelCNN decoder for fixed conditioning maps.

    `log_prob(x)` is teacher-forced. `sample()` draws pixel by pixel (no gradient; not
    reparameterisable, so MIM's decoder pairs use REINFORCE). `mean` is the per-pixel
    probabilities met along one such draw (the autoregressive mean is intractable).
    """

    has_rsample = False

    def __init__(self, decoder: PixelDecoder, maps: torch.Tensor, lead: torch.Size):
        self.decoder = decoder
        self.maps = maps  # [N, 2C, H, W]
        self.lead = lead  # the batch shape of z

    def _shape(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(*self.lead, *self.decoder.x_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, *self.decoder.x_shape)
        logits = self.decoder.logits(flat, self.maps)
        return Bernoulli(self._shape(logits), event_dims=3).log_prob(x)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        if tuple(sample_shape):
            raise ValueError("draw several samples by repeating z (one chain per row)")
        return self._shape(self.decoder.generate(self.maps)[0])

    def rsample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        raise NotImplementedError("a Bernoulli sample cannot be reparameterised; use sample()")

    @property
    def mean(self) -> torch.Tensor:
        return self._shape(self.decoder.generate(self.maps)[1])


def window_probability(
    h: torch.Tensor,
    inside: torch.Tensor | None,
    kernels: list[tuple[torch.Tensor, torch.Tensor]],
    out_weight: torch.Tensor,
    out_bias: torch.Tensor,
) -> torch.Tensor:
    """p(x_i = 1 | x_<i, z) [N, C] of the pixel i at the bottom centre of a window, rows r - L..r
    and columns c - L..c + L of the zero-padded input [x, maps] (h: [N, 3C, L + 1, 2L + 1]).

    Each of the L folded masked 3×3 layers (`kernels`: its used rows, [out, in, 2, 3], and bias)
    runs without padding, so layer k computes only the (L + 1 - k) × (2L + 1 - 2k) outputs the
    pixel depends on; where the window leaves the image, `inside` (1 on the image, 0 off it,
    [L + 1, 2L + 1]) zeroes each layer's outputs off the image, as the image's zero padding would
    have them (None: the window lies on the image). The last layer leaves the one pixel, read out
    by the 1×1 convolution.
    """
    width = h.shape[-1]
    for k, (weight, bias) in enumerate(kernels, start=1):
        h = F.conv2d(h, weight, bias).relu_()
        if inside is not None:
            h = h.mul_(inside[k:, k : width - k])
    return torch.sigmoid(F.linear(h.flatten(1), out_weight, out_bias))


class PixelDecoder(nn.Module):
    """sampler: "eager" (default) or "compiled", which runs every pixel step through torch.compile
    (mode "reduce-overhead", i.e. CUDA graphs, on a GPU) and runs eagerly, with one log line, where
    that fails."""

    binary_data = True  # p(x|z) is Bernoulli: the data are checked to be binary once, at start-up

    def __init__(
        self,
        x_shape: Shape,
        z1_dim: PositiveInt = 40,
        z2_dim: PositiveInt = 40,
        channels: PositiveInt = 64,
        layers: PositiveInt = 8,
        sampler: Sampler = "eager",
    ):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.z1_dim = z1_dim
        self.sampler = sampler
        c, size = self.x_shape[0], math.prod(self.x_shape)
        self.z1_map = GatedDense(z1_dim, size)
        self.z2_map = GatedDense(z2_dim, size)
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [
                MaskedConv2d("A" if i == 0 else "B", 3 * c if i == 0 else channels, channels, 3),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ]
        self.pixelcnn = nn.Sequential(*blocks)
        self.out = nn.Conv2d(channels, c, 1)
        # each masked 3×3 layer sees one row up and one column either side: the window of input
        # that output pixel (r, c) depends on is rows r - L..r, columns c - L..c + L
        self.reach = layers
        # the pixel step `generate` runs (compiled or not), chosen on first use
        self._step: Callable[..., torch.Tensor] | None = None

    def maps(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = split(z, self.z1_dim)
        return torch.cat(
            [self.z1_map(z1).view(-1, *self.x_shape), self.z2_map(z2).view(-1, *self.x_shape)], dim=1
        )

    def blocks(self) -> list[tuple[MaskedConv2d, nn.BatchNorm2d]]:
        """(masked convolution, BatchNorm) of every layer (each followed by a ReLU)."""
        layers = list(self.pixelcnn)
        return cast(list[tuple[MaskedConv2d, nn.BatchNorm2d]], list(zip(layers[0::3], layers[1::3])))

    def folded_kernels(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of every masked layer with its BatchNorm's running-statistics affine map
        folded in: scale · conv(x) + shift as one convolution (the used kernel rows only)."""
        kernels = []
        for conv, norm in self.blocks():
            # BatchNorm2d's running statistics (track_running_stats, the default) and the folded
            # bias (given a shift) are never None here
            mean, var = cast(torch.Tensor, norm.running_mean), cast(torch.Tensor, norm.running_var)
            scale = norm.weight * torch.rsqrt(var + norm.eps)
            weight, bias = conv.folded(scale, norm.bias - mean * scale)
            kernels.append((weight, cast(torch.Tensor, bias)))
        return kernels

    def logits(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Logits of p(x_i = 1 | x_<i, z) for every pixel i, teacher-forced on x [N, C, H, W].

        Without gradients and with BatchNorm in eval mode, the folded kernels are used, the ReLU
        runs in place and the layers run channels-last (no layout conversion inside every
        convolution). With gradients it keeps NCHW, where the backward pass is faster (both
        choices timed in docs/performance.md, "Tuned constants").
        """
        h = torch.cat([x, maps], dim=1)
        if torch.is_grad_enabled() or any(norm.training for _, norm in self.blocks()):
            return self.out(self.pixelcnn(h))
        h = h.contiguous(memory_format=torch.channels_last)
        for weight, bias in self.folded_kernels():
            h = torch.relu_(masked_conv2d(h, weight, bias))
        return self.out(h).contiguous()

    def forward(self, z: torch.Tensor) -> AutoregressiveBernoulli:
        return AutoregressiveBernoulli(self, self.maps(z.reshape(-1, z.shape[-1])), z.shape[:-1])

    @torch.no_grad()
    def generate(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, probabilities): x drawn pixel by pixel from p(x | z), and p(x_i = 1 | x_<i, z).

        BatchNorm uses running statistics, folded into the kernels once per call. Pixel (r, c) is
        computed from the window rows r - L..r, columns c - L..c + L of the image zero-padded by L
        above and either side (`window_probability`), so every step has the same shapes. One draw
        x_i ~ Bernoulli(p_i) per pixel in raster order: the random stream of a plain loop over the
        pixels.
        """
        n = maps.shape[0]
        channels, height, width = self.x_shape
        reach, span = self.reach, 2 * self.reach + 1
        # [x, maps] zero-padded by L rows above and L columns either side, channels-last (the
        # convolutions' fast layout on a CPU); x (its first C channels) is filled in as drawn
        pad = (reach, reach, reach, 0)  # left, right, top, bottom
        h = F.pad(torch.cat([torch.zeros_like(maps[:, :channels]), maps], dim=1), pad)
        h = h.contiguous(memory_format=torch.channels_last)
        inside = F.pad(maps.new_ones(height, width), pad)
        probs = maps.new_zeros(n, channels, height, width)
        kernels = [(w.contiguous(memory_format=torch.channels_last), b) for w, b in self.folded_kernels()]
        head = (self.out.weight.flatten(1), self.out.bias)
        step = self.pixel_step((h[:, :, : reach + 1, :span], inside[: reach + 1, :span], kernels, *head))
        with threads(1 if n <= ONE_THREAD_CHAINS else None):
            for r in range(height):
                rows = slice(r, r + reach + 1)
                for col in range(width):
                    cols = slice(col, col + span)
                    on_image = r >= reach and reach <= col < width - reach
                    p = step(h[:, :, rows, cols], None if on_image else inside[rows, cols], kernels, *head)
                    probs[:, :, r, col] = p
                    h[:, :channels, r + reach, col + reach] = torch.bernoulli(p)
        return h[:, :channels, reach:, reach : reach + width].contiguous(), probs

    def pixel_step(self, example: tuple):
        """`window_probability`, compiled if `sampler` is "compiled" and compiling works (tried
        once, on `example`, a window off the image, and on the same window taken as on it); else
        eager."""
        if self._step is None:
            eager = window_probability
            tried = [example, (example[0], None, *example[2:])]
            self._step = eager if self.sampler == "eager" else compiled_or_eager(eager, tried)
        return self._step


def compiled_or_eager(step, examples: list[tuple]):
    """torch.compile(step) (mode "reduce-overhead": CUDA graphs on a GPU) if it compiles and runs
    on every one of `examples` (argument tuples); else `step` itself, with one log line saying why."""
    mode = "reduce-overhead" if examples[0][0].is_cuda else "default"
    try:
        compiled = torch.compile(step, mode=mode, dynamic=False, fullgraph=True)
        for example in examples:
            compiled(*example)
    except Exception as error:  # any compiler or backend failure: run eagerly
        log.warning("sampler: torch.compile unavailable (%s); sampling eagerly", one_line(error, 200))
        return step
    return compiled
