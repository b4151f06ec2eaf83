"""Symmetric MIM on images as the paper and the references define it (docs/maths.md §2, §5, §6),
against hand-computed values on tiny models: decoder pairs scored with the statistics the sampler
drew them with, one q(x) (the marginal under the density decoder pairs draw z from) for encoder
and decoder pairs under any prior, the biases of its estimates, the reparameterised prior draw,
and per-tensor gradient normalisation of fused layers."""

import copy
import math

import pytest
import torch
from helpers import AffineGaussian, noiseless
from torch import nn

from mimkit.model.autoencoder import Autoencoder
from mimkit.model.distributions import DiagonalGaussian, standard_normal_log_prob
from mimkit.model.nets.gated import GatedConv2d, GatedDense
from mimkit.model.nets.heads import GaussianHeads
from mimkit.model.nets.pixel_decoder import PixelDecoder
from mimkit.model.objectives.mim import MIM
from mimkit.model.priors.mog import MixtureOfGaussiansPrior
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.training.gradients import gradient_tensors, normalize_per_tensor

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


def linear_gaussian(prior: nn.Module, encoder: nn.Module | None = None) -> Autoencoder:
    """p(x|z) = N(A z + B, S²) under `prior`; q(z|x) = N(x/2, 0.5²) unless given; float64."""
    encoder = AffineGaussian(0.5, 0.5) if encoder is None else encoder
    return Autoencoder(encoder, AffineGaussian(A, S, shift=B), prior).double()


def one_gaussian_prior(mean: float, std: float) -> MixtureOfGaussiansPrior:
    prior = MixtureOfGaussiansPrior(1, components=1)
    with torch.no_grad():
        prior.means.fill_(mean)
        prior.log_stds.fill_(math.log(std))
    return prior


def decoder_pair_estimates(objective: MIM, model: Autoencoder, n: int):
    """The decoder pairs' x and their log q(x) estimates, read back from the per-pair loss at β = 1:
    ℓ = -½ [log p(x|z) + log p(z) + log q(z|x) + log q(x)]; x is what the encoder was given."""
    seen = []
    model.encoder.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        f, terms = objective.decoder_pair_terms(model, n, torch.zeros(n, 1, dtype=torch.float64), 1.0)
    log_qx = -2 * f - terms["log_px_z"] - terms["log_pz"] - terms["log_qz_x"]
    return seen[0].squeeze(1), log_qx, terms


# the marginal's latent density N(m, s²): the anchor N(0, 1), or a one-Gaussian model prior
MARGINALS = [("anchor", 0.0, 1.0), ("prior", 0.4, 0.5), ("prior_rsample", 0.4, 0.5)]


def marginal_log_prob(x: torch.Tensor, m: float, s: float) -> torch.Tensor:
    """log q(x) = log N(x; A m + B, A² s² + S²), the decoder marginal in closed form."""
    return normal_log_prob(x, A * m + B, math.sqrt(A**2 * s**2 + S**2))


@pytest.mark.parametrize("decoder_z, m, s", MARGINALS)
def test_one_sample_decoder_estimate_is_biased_by_the_mutual_information(decoder_z, m, s):
    # the pair's own z generated x: E[log p(x|z) - log q(x)] = I(x; z) = ½ log(1 + A² s² / S²)
    model = linear_gaussian(StandardNormalPrior(1) if decoder_z == "anchor" else one_gaussian_prior(m, s))
    torch.manual_seed(0)
    x, log_qx, terms = decoder_pair_estimates(MIM(decoder_z=decoder_z), model, 400_000)
    torch.testing.assert_close(log_qx, terms["log_px_z"])  # the one-sample estimate: log p(x|z)
    bias = (log_qx - marginal_log_prob(x, m, s)).mean().item()
    assert bias == pytest.approx(0.5 * math.log(1 + A**2 * s**2 / S**2), abs=0.01)


@pytest.mark.parametrize("decoder_z, m, s", MARGINALS[:2])
def test_reencode_bias_falls_towards_zero_as_proposals_are_added(decoder_z, m, s):
    # proposals from an encoder unlike the true posterior; importance sampling's bias is < 0 and
    # shrinks as O(1/S)
    prior = StandardNormalPrior(1) if decoder_z == "anchor" else one_gaussian_prior(m, s)
    biases = []
    for samples in (1, 4, 32):
        model = linear_gaussian(prior, encoder=AffineGaussian(0.3, 0.9, shift=0.2))
        torch.manual_seed(0)
        objective = MIM(decoder_z=decoder_z, decoder_qx="reencode", qx_samples=samples)
        x, log_qx, _ = decoder_pair_estimates(objective, model, 200_000)
        biases.append((log_qx - marginal_log_prob(x, m, s)).mean().item())
    assert biases[0] < biases[1] < biases[2] <= 0.005
    assert abs(biases[2]) < abs(biases[0]) / 10


PRIORS = {
    "standard": lambda: StandardNormalPrior(1),
    "mixture": mixture_prior,
}


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("decoder_z", ["anchor", "prior", "prior_rsample"])
def test_encoder_and_decoder_pairs_use_one_latent_density_inside_log_qx(monkeypatch, prior, decoder_z):
    """The density inside log q(x), named: N(0, I) for anchor draws, the model prior p(z) for prior
    draws; the encoder pairs' importance weight and the decoder pairs' draws use the same one."""
    model = linear_gaussian(PRIORS[prior]())
    # N(0, I) for anchor draws (the standard prior's own log_prob where the prior is N(0, I))
    anchor = decoder_z == "anchor" and prior != "standard"
    named = standard_normal_log_prob if anchor else model.prior.log_prob
    objective = MIM(decoder_z=decoder_z)
    assert objective.qx_log_prior(model) == named
    # A-MIM has no decoder pairs: its q(x) is the marginal under the model prior (paper Eq. 15)
    assert MIM(symmetric=False, decoder_z=decoder_z).qx_log_prior(model) == model.prior.log_prob
    x = torch.randn(64, 1, dtype=torch.float64)
    # encoder pairs (the pair's own z as the proposal): log p(x|z) + log P(z) - log q(z|x)
    torch.manual_seed(1)
    _, terms = objective.encoder_pairs(model, x, beta=1.0)
    torch.manual_seed(1)
    z = model.encoder(x).rsample()
    by_hand = terms["log_px_z"] + named(z) - terms["log_qz_x"]
    torch.testing.assert_close(terms["log_qx"], by_hand)
    # with fresh proposals, and for re-encoded decoder pairs: the same density is handed on
    handed = []
    monkeypatch.setattr(
        "mimkit.model.objectives.mim.sample_log_marginal",
        lambda model, x, samples, posterior, log_prior: handed.append(log_prior) or x.sum(1) * 0,
    )
    MIM(decoder_z=decoder_z, qx_fresh=True).encoder_pairs(model, x, beta=1.0)
    MIM(decoder_z=decoder_z, decoder_qx="reencode").decoder_pairs(model, 8, x, beta=1.0)
    assert handed == [named, named]
    # decoder pairs (prior_sample) draw z from that density: the anchor's or the prior's sampler
    drawn = []
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda *a: drawn.append("anchor") or x[:4]))
    monkeypatch.setattr(model.prior, "sample", lambda n: drawn.append("prior") or x[:4])
    objective.decoder_pairs(model, 4, x, beta=1.0)
    assert drawn == ["anchor" if decoder_z == "anchor" else "prior"]


@pytest.mark.parametrize("decoder_z", ["anchor", "prior"])
def test_decoder_pair_loss_under_a_mixture_prior_by_hand(monkeypatch, decoder_z):
    # q(z|x) = N(x/2, 0.5²), p(x|z) = N(A z + B, S²), p(z) the mixture; x = A z + B (noiseless);
    # log q(x) ≈ log p(x|z) at the pair's z, whichever density drew it; log p(z) is the model's
    noiseless(monkeypatch)
    model = Autoencoder(AffineGaussian(0.5, 0.5), AffineGaussian(A, S, shift=B), mixture_prior())
    z = 0.7
    fixed = torch.tensor([[z]])
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda *args: fixed))
    monkeypatch.setattr(model.prior, "sample", lambda n: fixed)
    x = A * z + B
    log_px_z, log_pz, log_qz_x = -math.log(S) - C, mixture_log_prob(z), normal_log_prob(z, x / 2, 0.5)
    beta = 0.7
    f = MIM(decoder_z=decoder_z).decoder_pairs(model, 1, torch.zeros(1, 1), beta)
    assert f.item() == pytest.approx(-0.5 * (log_px_z + log_pz + beta * (log_qz_x + log_px_z)), rel=1e-5)


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
