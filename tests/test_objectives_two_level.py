"""The objectives over two-level latents z = [z1, z2] (docs/maths.md §1, "Hierarchical latents"), and
MIM's decoder pairs drawn from the model prior (docs/maths.md §2, "The authors' image code" (a)),
against hand-computed values."""

import math

import pytest
import torch
from helpers import affine_model, noiseless
from test_objectives import DEC_LOG_PXZ, DEC_LOG_PZ, DEC_LOG_QZX, LOG_PXZ, LOG_PZ, X
from torch import nn

from mimkit.app.schema import check_node
from mimkit.errors import ConfigError
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.distributions import DiagonalGaussian
from mimkit.model.objectives.mim import MIM
from mimkit.model.objectives.vae import VAE
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.two_level import TwoLevelPrior
from mimkit.model.two_level import TwoLevelGaussian, split

C = 0.5 * math.log(2 * math.pi)


class TwoLevelAffineEncoder(nn.Module):
    """q(z2|x) = N(x/2, 0.5²), q(z1|x, z2) = N(z2, 0.5²)."""

    def forward(self, x):
        top = DiagonalGaussian(0.5 * x, torch.full_like(x, 0.5))
        return TwoLevelGaussian(top, lambda z2: DiagonalGaussian(z2, torch.full_like(z2, 0.5)), 1)


class SumDecoder(nn.Module):
    """p(x|z) = N(z1 + z2, 0.5²)."""

    def forward(self, z):
        z1, z2 = split(z, 1)
        return DiagonalGaussian(z1 + z2, torch.full_like(z1, 0.5))


class Identity(nn.Module):
    """p(z1|z2) = N(z2, 1)."""

    out_dim = 1

    def forward(self, z2):
        return DiagonalGaussian(z2, torch.ones_like(z2))


def test_vae_over_two_level_latents(monkeypatch):
    noiseless(monkeypatch)  # z2 = 0.5, z1 = 0.5 for x = 1
    model = Autoencoder(
        TwoLevelAffineEncoder(), SumDecoder(), TwoLevelPrior(StandardNormalPrior(1), Identity())
    )
    log_q = 2 * (-math.log(0.5) - C)  # both levels at their means
    log_p = (-0.125 - C) + (-C)  # N(0.5; 0, 1) · N(0.5; 0.5, 1)
    log_px = -math.log(0.5) - C  # N(1; 1, 0.5²)
    out = VAE()(model, X, beta=1.0)
    assert out["loss"].item() == pytest.approx(-(log_px + log_p - log_q), rel=1e-6)
    amim = MIM(symmetric=False)(model, X, beta=1.0)
    assert amim["loss"].item() == pytest.approx(-(log_px + log_p), rel=1e-6)


def test_decoder_pairs_draw_z_from_the_model_prior(monkeypatch):
    noiseless(monkeypatch)
    model = affine_model()
    drawn = []

    def prior_sample(n):
        drawn.append(n)
        return torch.ones(n, 1, requires_grad=True)

    monkeypatch.setattr(model.prior, "sample", prior_sample)
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda *a: pytest.fail("anchor used")))
    out = MIM(decoder_z="prior")(model, X, beta=1.0)
    decoder_pair = -0.5 * (DEC_LOG_PXZ + DEC_LOG_PZ + DEC_LOG_QZX + DEC_LOG_PXZ)
    assert drawn == [1]
    assert out["loss"].item() == pytest.approx((-(LOG_PXZ + LOG_PZ) + decoder_pair) / 2, rel=1e-6)


def test_prior_draws_are_fixed_samples(monkeypatch):
    model = affine_model()
    seen = []
    decoder_forward = model.decoder.forward
    monkeypatch.setattr(model.decoder, "forward", lambda z: seen.append(z) or decoder_forward(z))
    monkeypatch.setattr(model.prior, "sample", lambda n: torch.ones(n, 1, requires_grad=True) * 2)
    MIM(decoder_z="prior").decoder_pairs(model, 3, X, beta=1.0)
    assert not seen[0].requires_grad


def test_unknown_decoder_z():
    with pytest.raises(ConfigError, match=r"objective.decoder_z must be 'anchor', 'prior'"):
        check_node("objective", {"_target_": "mimkit.model.objectives.mim.MIM", "decoder_z": "posterior"})
