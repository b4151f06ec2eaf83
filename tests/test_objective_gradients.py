"""Gradients of every objective against computations that do not use the objective's graph.

Gaussian models: with the noise fixed (the same seed before every evaluation) each loss is a
smooth function of the parameters, so its gradient is checked against central finite
differences in float64. Finite differences see every path from a parameter to the loss, so
each of these tests fails when a path through a sampled variable is cut (a `.detach()` on z
of the encoder pairs, on x of the decoder pairs, on the proposals z' of log q(x), or `sample`
in place of `rsample`). The decoder pairs' anchor z ~ N(0, I) has no parameters upstream, so
there is no path through it to cut.

Bernoulli decoders: x ~ p(x|z) is discrete and the loss is not differentiable in the
parameters through it; the REINFORCE gradient is checked in expectation against the gradient
of the exact expectation over x ∈ {0, 1}.
"""

from __future__ import annotations

import pytest
import torch
from helpers import AffineBernoulli, AffineGaussian, noiseless

from mimkit.model.autoencoder import Autoencoder
from mimkit.model.objectives.mim import MIM, mim_pair_loss
from mimkit.model.objectives.vae import VAE
from mimkit.model.priors.mog import MixtureOfGaussiansPrior
from mimkit.model.priors.standard import StandardNormalPrior

X = torch.tensor([[1.0], [-0.4], [2.3], [0.1]], dtype=torch.float64)
SEED = 123


def gaussian_model(prior: str = "standard") -> Autoencoder:
    """1-D: q(z|x) = N(0.7 x + 0.1, 0.6²), p(x|z) = N(1.3 z - 0.2, 0.8²), every std learnable."""
    if prior == "standard":
        p_z = StandardNormalPrior(1)
    else:
        p_z = MixtureOfGaussiansPrior(1, components=2)
        with torch.no_grad():
            p_z.means.copy_(torch.tensor([[-0.5], [1.0]]))
            p_z.log_stds.copy_(torch.tensor([[0.2], [-0.3]]))
            p_z.logits.copy_(torch.tensor([0.3, -0.1]))
    model = Autoencoder(
        AffineGaussian(0.7, 0.6, shift=0.1, learn_std=True),
        AffineGaussian(1.3, 0.8, shift=-0.2, learn_std=True),
        p_z,
    )
    return model.double()


def autograd_gradient(model, loss_fn) -> dict[str, torch.Tensor]:
    model.zero_grad()
    torch.manual_seed(SEED)
    loss_fn(model).backward()
    return {
        name: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
        for name, p in model.named_parameters()
    }


@torch.no_grad()
def finite_difference_gradient(model, loss_fn, h: float = 1e-6) -> dict[str, torch.Tensor]:
    """Central differences of the loss with the same random draws (seed) at every evaluation."""

    def loss() -> float:
        torch.manual_seed(SEED)
        return loss_fn(model).item()

    grads = {}
    for name, p in model.named_parameters():
        flat, grad = p.view(-1), torch.zeros(p.numel(), dtype=torch.float64)
        for i in range(p.numel()):
            flat[i] += h
            up = loss()
            flat[i] -= 2 * h
            down = loss()
            flat[i] += h
            grad[i] = (up - down) / (2 * h)
        grads[name] = grad.view(p.shape)
    return grads


def assert_gradients_match(model, loss_fn) -> None:
    exact, numeric = autograd_gradient(model, loss_fn), finite_difference_gradient(model, loss_fn)
    assert any(g.abs().max() > 1e-3 for g in numeric.values())  # a loss that depends on θ
    for name in numeric:
        assert torch.allclose(exact[name], numeric[name], rtol=1e-6, atol=1e-8), (
            name,
            exact[name],
            numeric[name],
        )


CASES = {
    "vae beta<1": (VAE(), 0.5),
    "vae beta=1": (VAE(), 1.0),
    "amim beta<1": (MIM(symmetric=False), 0.5),
    "amim beta=1": (MIM(symmetric=False), 1.0),
    "mim beta<1 (encoder pairs)": (MIM(), 0.5),
    "mim beta<1, symmetric during warm-up": (MIM(symmetric_during_warmup=True), 0.5),
    "mim beta=1": (MIM(), 1.0),
    "mim fresh qx proposals": (MIM(qx_fresh=True, qx_samples=3), 1.0),
    "mim re-encoded decoder qx": (MIM(decoder_qx="reencode", qx_samples=2), 1.0),
}


@pytest.mark.parametrize("case", CASES)
def test_objective_gradient_matches_finite_differences(case):
    objective, beta = CASES[case]
    assert_gradients_match(gaussian_model(), lambda model: objective(model, X, beta)["loss"])


def test_gradient_reaches_a_learnable_prior():
    prior_params = {name for name, _ in gaussian_model("mog").named_parameters() if name.startswith("prior.")}
    assert prior_params == {"prior.means", "prior.log_stds", "prior.logits"}
    assert_gradients_match(gaussian_model("mog"), lambda model: MIM()(model, X, 1.0)["loss"])


@pytest.mark.parametrize("beta", [0.5, 1.0])
@pytest.mark.parametrize("pairs", ["encoder", "decoder"])
def test_each_pair_type_alone(pairs, beta):
    # the encoder pairs reach the encoder only through z ~ q(z|x) (log q(z|x) cancels in the
    # default log q(x)); the decoder pairs reach the decoder's mean only through x ~ p(x|z)
    # (log p(x|z) of a reparameterised x does not depend on it): a cut of either zeroes these
    objective = MIM()
    if pairs == "encoder":
        loss_fn = lambda model: objective.encoder_pairs(model, X, beta)[0].mean()
    else:
        loss_fn = lambda model: objective.decoder_pairs(model, len(X), X, beta).mean()
    model = gaussian_model()
    numeric = finite_difference_gradient(model, loss_fn)
    role = "encoder" if pairs == "encoder" else "decoder"
    assert numeric[f"{role}.scale"].abs() > 1e-2 and numeric[f"{role}.shift"].abs() > 1e-2
    assert_gradients_match(model, loss_fn)


def test_amim_gradient_by_hand(monkeypatch):
    # eps = 0, x = 1: z = a x = 0.5; loss = -(1+β)/2 [log p(x|z) + log p(z)] with
    # d/dz [log p(x|z) + log p(z)] = b (x - b z) / t² - z = 1.5 · 0.25 / 0.25 - 0.5 = 1
    # d loss / d a = -(1+β)/2 · x · 1 = -0.75 at β = 0.5
    noiseless(monkeypatch)
    model = Autoencoder(AffineGaussian(0.5, 0.5), AffineGaussian(1.5, 0.5), StandardNormalPrior(1))
    MIM(symmetric=False)(model, torch.tensor([[1.0]]), beta=0.5)["loss"].backward()
    assert model.encoder.scale.grad.item() == pytest.approx(-0.75)
    # d/db: log p(x|z) = -(x - b z)² / (2 t²) + const -> (x - b z) z / t² = 0.25 · 0.5 / 0.25
    assert model.decoder.scale.grad.item() == pytest.approx(-0.75 * 0.5)


# --- Bernoulli decoder: REINFORCE in expectation ---------------------------------------------

ANCHORS = torch.tensor([[-1.0], [0.5], [2.0]], dtype=torch.float64)


def bernoulli_model() -> Autoencoder:
    """q(z|x) = N(1.2 x - 0.3, 0.7²) on x ∈ {0, 1}; p(x|z) = Bernoulli(σ(0.9 z + 0.4))."""
    return Autoencoder(
        AffineGaussian(1.2, 0.7, shift=-0.3, learn_std=True),
        AffineBernoulli(0.9, 0.4),
        StandardNormalPrior(1),
    ).double()


def exact_decoder_pair_loss(model, beta: float) -> torch.Tensor:
    """E_z E_{x ~ p(x|z)} [ℓ(x, z)] over the anchors, the inner expectation summed over x ∈ {0, 1}."""
    total = 0.0
    for value in (0.0, 1.0):
        x = torch.full_like(ANCHORS, value)
        log_px_z = model.decoder(ANCHORS).log_prob(x)
        pair = mim_pair_loss(
            log_px_z, model.prior.log_prob(ANCHORS), model.encoder(x).log_prob(ANCHORS), log_px_z, beta
        )  # decoder_qx = prior_sample: log q(x) ≈ log p(x|z)
        total = total + (log_px_z.exp() * pair).mean()
    return total


@pytest.mark.parametrize("baseline,x_per_z", [(True, 1), (False, 1), (True, 2)])
def test_bernoulli_decoder_pairs_gradient_is_unbiased(monkeypatch, baseline, x_per_z):
    copies = 40000 // x_per_z
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda model, n, like: ANCHORS.repeat(copies, 1)))
    model = bernoulli_model()
    exact = autograd_gradient(model, lambda m: exact_decoder_pair_loss(m, 1.0))
    torch.manual_seed(0)
    model.zero_grad()
    objective = MIM(reinforce_baseline=baseline, x_per_z=x_per_z)
    pairs = objective.decoder_pairs(model, len(ANCHORS) * copies * x_per_z, ANCHORS, 1.0)
    assert len(pairs) == len(ANCHORS) * copies * x_per_z
    pairs.mean().backward()
    grads = dict(model.named_parameters())
    # Monte-Carlo std of these means over 120,000 pairs (8 seeds): ≤ 0.004 with the baseline,
    # ≤ 0.007 without; the tolerance is 4 of those
    for name in exact:
        assert grads[name].grad.item() == pytest.approx(exact[name].item(), abs=0.03), name
    # the decoder's logits reach the loss mostly through the sampled x, i.e. through the score
    # term (with it cut, the estimate of d/d decoder.scale is ≈ 0.000)
    assert exact["decoder.scale"].item() == pytest.approx(-0.4585, abs=1e-3)
