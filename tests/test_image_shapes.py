"""convHVAE and PixelHVAE on images other than 1 x 28 x 28 (`data=images`): x_shape = (C, H, W)
drives the encoder's flattened size, the decoders' image maps and the PixelCNN's channels. Shapes,
log-probabilities against the logits, the PixelCNN's causality and sampler with 3 channels, and the
parameter counts docs/images.md states."""

import math

import pytest
import torch
import torch.nn.functional as F

from mimkit.model.autoencoder import Autoencoder
from mimkit.model.nets.conv_decoder import ConvDecoder
from mimkit.model.nets.conv_encoder import TwoLevelConvEncoder, feature_size
from mimkit.model.nets.heads import GatedGaussianMLP
from mimkit.model.nets.pixel_decoder import PixelDecoder
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.two_level import TwoLevelPrior
from mimkit.model.priors.vamp import VampPrior

SHAPES = [(1, 32, 32), (3, 32, 32), (3, 64, 64)]
DECODERS = {"convhvae": ConvDecoder, "pixelhvae": PixelDecoder}

# docs/images.md, "Other image shapes": (convHVAE standard, VampPrior K = 500; PixelHVAE the same)
PARAMETERS = {
    (1, 28, 28): (2_210_861, 2_602_861, 1_385_821, 1_777_821),
    (3, 28, 28): (4_105_455, 5_281_455, 1_653_983, 2_829_983),
    (1, 32, 32): (2_621_921, 3_133_921, 1_547_761, 2_059_761),
    (3, 32, 32): (5_093_475, 6_629_475, 1_894_643, 3_430_643),
    (1, 64, 64): (7_883_489, 9_931_489, 3_620_593, 5_668_593),
    (3, 64, 64): (17_740_131, 23_884_131, 4_975_091, 11_119_091),
}


def model(name: str, x_shape, vamp: bool = False) -> Autoencoder:
    """The config's model (z1, z2 of 40, hidden 300, 64 channels) at `x_shape`."""
    encoder = TwoLevelConvEncoder(list(x_shape))
    if vamp:
        top = VampPrior(
            40, encoder.top, pseudo_inputs=500, activation="hardtanh", init_mean=0.05, init_std=0.01
        )
    else:
        top = StandardNormalPrior(40)
    return Autoencoder(encoder, DECODERS[name](list(x_shape)), TwoLevelPrior(top, GatedGaussianMLP(40, 40)))


@pytest.mark.parametrize("x_shape", PARAMETERS)
def test_parameter_counts_per_shape(x_shape):
    counts = tuple(
        sum(p.numel() for p in model(name, x_shape, vamp).parameters())
        for name in DECODERS
        for vamp in (False, True)
    )
    assert counts == PARAMETERS[x_shape]


@pytest.mark.parametrize("x_shape", SHAPES)
@pytest.mark.parametrize("name", DECODERS)
def test_forward_shapes_and_log_probs(name, x_shape):
    torch.manual_seed(0)
    ae = model(name, x_shape).eval()
    c, h, w = x_shape
    assert feature_size(x_shape) == 6 * math.ceil(h / 4) * math.ceil(w / 4)
    x = torch.bernoulli(torch.full((3, *x_shape), 0.3))
    with torch.no_grad():
        posterior = ae.encoder(x)
        z = posterior.rsample()
        assert z.shape == (3, 80) and posterior.log_prob(z).shape == (3,)
        likelihood = ae.decoder(z)
        log_px = likelihood.log_prob(x)
        if name == "convhvae":
            logits = likelihood.logits
        else:  # teacher-forced: every pixel's logit given the pixels before it
            logits = ae.decoder.logits(x, ae.decoder.maps(z))
        assert logits.shape == (3, *x_shape)
        by_hand = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
        assert log_px.shape == (3,) and torch.allclose(log_px, by_hand, rtol=1e-5)
        assert (log_px < 0).all() and (log_px > -c * h * w * 10).all()
        nll = ae.nll(x, samples=4)
        assert nll.shape == (3,) and torch.isfinite(nll).all() and (nll > 0).all()
        if name == "convhvae":  # the pixel sampler: the test below, at a small size
            assert ae.sample(2).shape == (2, *x_shape) and ae.reconstruct(x).shape == x.shape


def test_pixelcnn_with_three_channels_is_causal_over_pixels():
    # every channel of pixel i sees all channels of the pixels before i, none of pixel i or later
    torch.manual_seed(0)
    decoder = PixelDecoder([3, 6, 5], z1_dim=2, z2_dim=2, channels=8, layers=3).eval()
    maps = decoder.maps(torch.randn(1, 4)).detach()
    for r, col in [(0, 0), (2, 3), (5, 4)]:
        for channel in range(3):
            x = torch.bernoulli(torch.full((1, 3, 6, 5), 0.5)).requires_grad_()
            decoder.logits(x, maps)[0, channel, r, col].backward()
            grad = x.grad.abs().sum(1).flatten()  # per pixel, over the channels
            i = r * 5 + col
            assert grad[i:].max() == 0
            if i > 0:
                assert grad[:i].max() > 0


def test_pixel_sampler_with_three_channels_draws_from_the_scored_conditionals():
    torch.manual_seed(1)
    decoder = PixelDecoder([3, 5, 4], z1_dim=2, z2_dim=2, channels=8, layers=3).eval()
    maps = decoder.maps(torch.randn(2, 4))
    x, probs = decoder.generate(maps)
    assert x.shape == probs.shape == (2, 3, 5, 4) and set(x.unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        assert torch.allclose(probs, torch.sigmoid(decoder.logits(x, maps)), atol=1e-5)
