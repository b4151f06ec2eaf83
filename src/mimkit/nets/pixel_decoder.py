"""PixelHVAE's decoder p(x | z1, z2) = Π_i p(x_i | x_<i, z1, z2) (spec §5), pixels in raster order.

z1 and z2 each → GatedDense(→ C·H·W) → a C×H×W map; [x, map1, map2] → masked conv 'A'
(3C → 64, k3, no bias) + BatchNorm + ReLU → 7 × (masked conv 'B' 64 → 64 + BatchNorm + ReLU)
→ 1×1 conv → the logits of every pixel given the pixels before it.

Likelihoods are teacher-forced (one pass over the observed x); drawing x ~ p(x|z) takes one step
per pixel (784 for 28×28), each computing only the window of pixels the next one can see.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from mimkit.distributions import Bernoulli
from mimkit.nets.gated import GatedDense
from mimkit.nets.masked import MaskedConv2d
from mimkit.two_level import split

# below this many chains a sampling step is a few small kernels, which one thread runs faster
# than two (measured: 4 chains, 4 ms a step on one thread, 180 ms on two of a busy 2-core CPU)
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


@contextlib.contextmanager
def batchnorm_running_stats(module: nn.Module):
    """BatchNorm layers use their running statistics inside the block (a half-drawn image has no
    meaningful batch statistics); every module's mode is restored afterwards."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in norms]
    for m in norms:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.train(mode)


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


class PixelDecoder(nn.Module):
    def __init__(
        self, x_shape: list[int], z1_dim: int = 40, z2_dim: int = 40, channels: int = 64, layers: int = 8
    ):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.z1_dim = z1_dim
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

    def maps(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = split(z, self.z1_dim)
        return torch.cat(
            [self.z1_map(z1).view(-1, *self.x_shape), self.z2_map(z2).view(-1, *self.x_shape)], dim=1
        )

    def blocks(self) -> list[tuple[MaskedConv2d, nn.BatchNorm2d]]:
        """(masked convolution, BatchNorm) of every layer (each followed by a ReLU)."""
        layers = list(self.pixelcnn)
        return list(zip(layers[0::3], layers[1::3]))

    def logits(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Logits of p(x_i = 1 | x_<i, z) for every pixel i, teacher-forced on x [N, C, H, W].

        With BatchNorm in eval mode, each norm's affine map is folded into the convolution before
        it (one pass less over the activations per layer), the ReLU runs in place and the layers
        run channels-last (no layout conversion inside every convolution). Measured on the 2-core
        CPU, forward of 100 images: 1.5× faster than the plain Sequential in NCHW with full 3×3
        kernels. Training keeps NCHW: channels-last with the cropped kernels made the backward
        pass 1.9× slower there.
        """
        h = torch.cat([x, maps], dim=1)
        if any(norm.training for _, norm in self.blocks()):
            return self.out(self.pixelcnn(h))
        h = h.contiguous(memory_format=torch.channels_last)
        for conv, norm in self.blocks():
            scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
            h = torch.relu_(conv(h, scale, norm.bias - norm.running_mean * scale))
        return self.out(h).contiguous()

    def forward(self, z: torch.Tensor) -> AutoregressiveBernoulli:
        return AutoregressiveBernoulli(self, self.maps(z.reshape(-1, z.shape[-1])), z.shape[:-1])

    @torch.no_grad()
    def generate(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, probabilities): x drawn pixel by pixel from p(x | z), and p(x_i = 1 | x_<i, z).

        Pixel (r, c) is computed on the window rows r - L..r, columns c - L..c + L only, where its
        value equals the whole image's (zero padding at a window edge reaches at most L - 1 layers
        inward); BatchNorm uses running statistics.
        """
        n = maps.shape[0]
        channels, height, width = self.x_shape
        x = maps.new_zeros(n, channels, height, width)
        probs = torch.zeros_like(x)
        reach = self.reach
        with batchnorm_running_stats(self), threads(1 if n <= ONE_THREAD_CHAINS else None):
            for r in range(height):
                r0 = max(0, r - reach)
                for col in range(width):
                    c0, c1 = max(0, col - reach), min(width, col + reach + 1)
                    window = self.logits(x[:, :, r0 : r + 1, c0:c1], maps[:, :, r0 : r + 1, c0:c1])
                    p = torch.sigmoid(window[:, :, r - r0, col - c0])
                    probs[:, :, r, col] = p
                    x[:, :, r, col] = torch.bernoulli(p)
        return x, probs
