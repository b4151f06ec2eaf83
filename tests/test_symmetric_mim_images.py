"""Symmetric MIM on images as the paper and the references define it (spec §2, §5, §6), against
hand-computed values on tiny models: decoder pairs scored with the statistics the sampler drew
them with, one q(x) (the marginal under p(z)) for encoder and decoder pairs under any prior, the
reparameterised prior draw, and per-tensor gradient normalisation of fused layers."""

import copy
import math

import pytest
import torch
from helpers import AffineGaussian, noiseless
from torch import nn

from mimkit.autoencoder import Autoencoder
from mimkit.distributions import DiagonalGaussian
from mimkit.gradients import gradient_tensors, normalize_per_tensor
from mimkit.marginal import anchor_log_marginal
from mimkit.nets.gated import GatedConv2d, GatedDense
from mimkit.nets.heads import GaussianHeads
from mimkit.nets.pixel_decoder import PixelDecoder
from mimkit.objectives.mim import MIM
from mimkit.priors.mog import MixtureOfGaussiansPrior
from mimkit.priors.standard import StandardNormalPrior

C = 0.5 * math.log(2 * math.pi)


def normal_log_prob(v, mean, std):
    return -0.5 * ((v - mean) / std) ** 2 - math.log(std) - C


# --- decoder pairs scored with the sampler's statistics (PixelHVAE) --------------------------------


class FlatAffineEncoder(nn.Module):
    """q(z|x) = N(W vec(x), 1), z 4-D."""

    def __init__(self, pixels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, pixels) * 0.3)

    def forward(self, x):
        mean = x.flatten(1) @ self.weight.T
        return DiagonalGaussian(mean, torch.ones_like(mean))


def tiny_pixel_model():
    torch.manual_seed(0)
    decoder = PixelDecoder([1, 3, 3], z1_dim=2, z2_dim=2, channels=4, layers=2)
    for module in decoder.modules():  # running statistics unlike any batch's
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.3, 3.0)
    return Autoencoder(FlatAffineEncoder(9), decoder, StandardNormalPrior(4)).train()


def test_decoder_pairs_are_scored_with_the_probabilities_they_were_drawn_with(monkeypatch):
    model = tiny_pixel_model()
    decoder = model.decoder
    drawn = []
    generate = decoder.generate
    monkeypatch.setattr(
        decoder, "generate", lambda maps: drawn.append((maps, *generate(maps))) or drawn[-1][1:]
    )
    norms = [m for m in decoder.modules() if isinstance(m, nn.BatchNorm2d)]
    running = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]

    torch.manual_seed(1)
    f, terms = MIM(x_per_z=1).decoder_pair_terms(model, 6, torch.zeros(6, 1, 3, 3), beta=1.0)

    (maps, x, probs) = drawn[0]
    by_hand = (x * probs.log() + (1 - x) * (1 - probs).log()).flatten(1).sum(1)
    assert torch.allclose(terms["log_px_z"], by_hand, atol=1e-5)
    # in a training step the same x under batch statistics has other probabilities: the test bites
    with torch.no_grad():
        batch_probs = torch.sigmoid(copy.deepcopy(decoder).train().logits(x, maps))
    assert (batch_probs - probs).abs().max() > 1e-2
    # training mode kept, running statistics untouched by the sampled images, gradients reach BN
    assert all(m.training for m in decoder.modules())
    for m, (mean, var) in zip(norms, running):
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)
    f.sum().backward()
    assert all(m.weight.grad.abs().sum() > 0 for m in norms)


# --- one q(x) under every prior -----------------------------------------------------------------

A, B, S = 1.2, 0.3, 0.6  # p(x|z) = N(A z + B, S²)
MEANS, STDS, WEIGHTS = (-2.0, 1.5), (0.5, 0.7), (0.3, 0.7)  # p(z), two components


def mixture_prior():
    prior = MixtureOfGaussiansPrior(1, components=2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor(MEANS).view(2, 1))
        prior.log_stds.copy_(torch.tensor(STDS).log().view(2, 1))
        prior.logits.copy_(torch.tensor(WEIGHTS).log())
    return prior


def mixture_log_prob(z):
    return math.log(sum(w * math.exp(normal_log_prob(z, m, s)) for m, s, w in zip(MEANS, STDS, WEIGHTS)))


def test_anchor_draws_estimate_the_marginal_under_the_model_prior():
    # q(x) = Σ_k π_k N(x; A μ_k + B, A² σ_k² + S²); z ~ N(0, 1) weighted by p(z) / N(z; 0, 1)
    x = 1.8
    closed_form = math.log(
        sum(
            w * math.exp(normal_log_prob(x, A * m + B, math.sqrt(A**2 * s**2 + S**2)))
            for m, s, w in zip(MEANS, STDS, WEIGHTS)
        )
    )
    torch.manual_seed(0)
    z = torch.randn(400_000, 1, dtype=torch.float64)
    log_px_z = DiagonalGaussian(A * z + B, torch.full_like(z, S)).log_prob(torch.full_like(z, x))
    log_pz = mixture_prior().double().log_prob(z)
    estimates = anchor_log_marginal(log_px_z, log_pz, z)
    log_mean = (torch.logsumexp(estimates, 0) - math.log(len(z))).item()
    assert log_mean == pytest.approx(closed_form, abs=0.01)
    # without the weight: the marginal under N(0, 1), N(x; B, A² + S²), another number
    unweighted = (torch.logsumexp(log_px_z, 0) - math.log(len(z))).item()
    assert unweighted == pytest.approx(normal_log_prob(x, B, math.sqrt(A**2 + S**2)), abs=0.01)
    assert abs(unweighted - closed_form) > 0.3


def test_standard_prior_anchor_estimate_is_log_px_z_to_the_last_bit():
    torch.manual_seed(0)
    z, log_px_z = torch.randn(1000, 6), torch.randn(1000) * 50
    log_pz = StandardNormalPrior(6).log_prob(z)
    assert torch.equal(anchor_log_marginal(log_px_z, log_pz, z), log_px_z)


@pytest.mark.parametrize("decoder_z", ["anchor", "prior"])
def test_decoder_pair_loss_under_a_mixture_prior_by_hand(monkeypatch, decoder_z):
    # q(z|x) = N(x/2, 0.5²), p(x|z) = N(A z + B, S²), p(z) the mixture; x = A z + B (noiseless)
    noiseless(monkeypatch)
    model = Autoencoder(AffineGaussian(0.5, 0.5), AffineGaussian(A, S, shift=B), mixture_prior())
    z = 0.7
    fixed = torch.tensor([[z]])
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda *args: fixed))
    monkeypatch.setattr(model.prior, "sample", lambda n: fixed)
    x = A * z + B
    log_px_z, log_pz, log_qz_x = -math.log(S) - C, mixture_log_prob(z), normal_log_prob(z, x / 2, 0.5)
    log_qx = log_px_z + log_pz - normal_log_prob(z, 0.0, 1.0) if decoder_z == "anchor" else log_px_z
    beta = 0.7
    f = MIM(decoder_z=decoder_z).decoder_pairs(model, 1, torch.zeros(1, 1), beta)
    assert f.item() == pytest.approx(-0.5 * (log_px_z + log_pz + beta * (log_qz_x + log_qx)), rel=1e-5)


def decoder_pair_loss_at(mean: float, decoder_z: str) -> torch.Tensor:
    """The decoder-pair loss with the prior's first mean at `mean` (one component), seed fixed."""
    model = Autoencoder(AffineGaussian(0.5, 0.5), AffineGaussian(A, S, shift=B), mixture_prior().double())
    model.double()
    with torch.no_grad():
        model.prior.means[0] = mean
        model.prior.logits.copy_(torch.tensor([0.0, -1e9]))  # the first component only
    torch.manual_seed(3)
    return model, MIM(decoder_z=decoder_z).decoder_pairs(
        model, 1, torch.zeros(1, 1, dtype=torch.float64), 1.0
    )


def test_reparameterised_prior_draws_carry_the_gradient_through_z(monkeypatch):
    # d/dμ of the loss with z = μ + σ ε (ε and x's noise fixed by the seed): central differences
    noiseless(monkeypatch)  # x = A z + B, so the loss is a smooth function of μ
    h = 1e-4
    numeric = (
        decoder_pair_loss_at(-2.0 + h, "prior_rsample")[1]
        - decoder_pair_loss_at(-2.0 - h, "prior_rsample")[1]
    ).item() / (2 * h)
    for decoder_z, reaches_z in [("prior_rsample", True), ("prior", False)]:
        model, f = decoder_pair_loss_at(-2.0, decoder_z)
        f.sum().backward()
        grad = model.prior.means.grad[0, 0].item()
        assert (grad == pytest.approx(numeric, rel=1e-5)) is reaches_z


# --- per-tensor normalisation of fused layers ---------------------------------------------------


def test_fused_gated_halves_are_normalised_as_separate_tensors():
    dense = GatedDense(3, 2)  # weight [4, 3]: rows 0-1 are h's, rows 2-3 g's
    dense.linear.weight.grad = torch.tensor([[3.0, 0, 0], [0, 4, 0], [0, 0, 1], [0, 0, 0]])
    dense.linear.bias.grad = torch.tensor([6.0, 8.0, 0.0, 2.0])
    conv = GatedConv2d(1, 1, 1)  # weight [2, 1, 1, 1]: h's, g's
    conv.conv.weight.grad = torch.tensor([-2.0, 0.5]).view(2, 1, 1, 1)
    conv.conv.bias.grad = torch.tensor([0.5, -3.0])
    heads = GaussianHeads(1, 1)  # weight [2, 1]: the mean's, the log-variance's
    heads.linear.weight.grad = torch.tensor([[4.0], [-0.25]])
    heads.linear.bias.grad = None  # no gradient: left out
    plain = nn.Linear(2, 1)  # not fused: one tensor
    plain.weight.grad, plain.bias.grad = torch.tensor([[3.0, 4.0]]), torch.tensor([2.0])
    model = nn.ModuleList([dense, conv, heads, plain])
    assert len(gradient_tensors(model)) == 4 + 4 + 2 + 2
    normalize_per_tensor(model, eps=0.0)
    # h by ‖h‖ = 5, g by ‖g‖ = 1 (their joint norm would be √26)
    assert dense.linear.weight.grad.flatten().tolist() == pytest.approx(
        [0.6, 0, 0, 0, 0.8, 0, 0, 0, 1, 0, 0, 0]
    )
    assert dense.linear.bias.grad.tolist() == pytest.approx([0.6, 0.8, 0.0, 1.0])
    assert conv.conv.weight.grad.flatten().tolist() == pytest.approx([-1.0, 1.0])
    assert conv.conv.bias.grad.tolist() == pytest.approx([1.0, -1.0])
    assert heads.linear.weight.grad.flatten().tolist() == pytest.approx([1.0, -1.0])
    assert plain.weight.grad.flatten().tolist() == pytest.approx([0.6, 0.8]) and plain.bias.grad.item() == 1.0
