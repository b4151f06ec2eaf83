"""IS-NLL and the MIM consistency gap on a linear-Gaussian model with closed-form answers.

Model: z ~ N(0, I_2), x | z ~ N(W z + b, σ² I_3) with orthogonal columns of W, so that
    x ~ N(b, W Wᵀ + σ² I)                                   (the marginal q(x), exact)
    z | x ~ N(Σ Wᵀ (x − b) / σ², Σ),  Σ = (I + WᵀW/σ²)⁻¹      (diagonal since WᵀW is)
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers import LinearGaussian

from mimkit.evaluation.metrics.consistency import consistency_gap, gap_terms
from mimkit.evaluation.metrics.nll import nll_is, nll_one_sample, nll_per_example
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.priors.standard import StandardNormalPrior

DTYPE = torch.float64
SIGMA = 0.5
COLUMN_NORMS = (2.0, 1.0)


def linear_gaussian_parts():
    rotation, _ = torch.linalg.qr(
        torch.tensor([[1.0, 0.3, -0.2], [0.4, -1.0, 0.5], [0.2, 0.7, 1.0]], dtype=DTYPE)
    )
    w = rotation[:, :2] * torch.tensor(COLUMN_NORMS, dtype=DTYPE)  # [3, 2], WᵀW = diag(4, 1)
    b = torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE)
    post_var = 1.0 / (1.0 + torch.tensor(COLUMN_NORMS, dtype=DTYPE) ** 2 / SIGMA**2)  # [1/17, 1/5]
    a = post_var[:, None] * w.T / SIGMA**2  # posterior mean map
    return w, b, a, post_var


def make_model(mean_scale: float = 1.0, std_scale: float = 1.0) -> Autoencoder:
    """The linear-Gaussian model; the encoder is the exact posterior scaled by the factors."""
    w, b, a, post_var = linear_gaussian_parts()
    decoder = LinearGaussian(w, b, torch.full((3,), SIGMA, dtype=DTYPE))
    encoder = LinearGaussian(mean_scale * a, -mean_scale * a @ b, std_scale * post_var.sqrt())
    return Autoencoder(encoder, decoder, StandardNormalPrior(2)).eval()


def true_log_marginal(x: torch.Tensor) -> torch.Tensor:
    w, b, _, _ = linear_gaussian_parts()
    cov = w @ w.T + SIGMA**2 * torch.eye(3, dtype=DTYPE)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def data(n: int, seed: int = 0) -> torch.Tensor:
    w, b, _, _ = linear_gaussian_parts()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=DTYPE)
    return z @ w.T + b + SIGMA * torch.randn(n, 3, generator=g, dtype=DTYPE)


def kl_to_exact_posterior(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || p(z|x)) per x, between diagonal Gaussians (closed form)."""
    exact = make_model().encoder(x)
    q = model.encoder(x)
    ratio = (q.std / exact.std) ** 2
    gap = ((q.mean - exact.mean) / exact.std) ** 2
    return 0.5 * (ratio + gap - 1.0 - torch.log(ratio)).sum(-1)


def test_exact_posterior_gives_exact_nll_with_one_sample():
    # (the seeds of the data and of the estimators' draws differ: equal seeds would make the
    # proposals z_s replay the data's own latents)
    model, x = make_model(), data(500, seed=10)
    truth = -true_log_marginal(x)
    torch.manual_seed(0)
    assert torch.allclose(nll_per_example(model, x, samples=1, batch_size=64), truth, atol=1e-10)
    assert nll_one_sample(model, x, batch_size=128) == pytest.approx(float(truth.mean()), abs=1e-10)
    # S = 7 in 7 chunks of one sample, 33 x per pass (Autoencoder.nll's log S is a float32: 1e-7)
    chunked = nll_is(model, x, samples=7, batch_size=33, max_pairs=50)
    assert chunked == pytest.approx(float(truth.mean()), abs=1e-6)


def test_one_sample_estimate_is_biased_by_the_posterior_kl():
    # E_q[−log p(x,z)/q(z|x)] = −log q(x) + KL(q(z|x) || p(z|x)): the one-sample bias is that KL
    # (a too narrow encoder: the per-example spread of the estimate is small, 0.006 on the mean)
    model, x = make_model(mean_scale=0.8, std_scale=0.7), data(20000, seed=11)
    bias = kl_to_exact_posterior(model, x)
    expected = float((-true_log_marginal(x) + bias).mean())
    assert float(bias.mean()) > 0.3  # the encoder is clearly wrong
    torch.manual_seed(1)
    assert nll_one_sample(model, x) == pytest.approx(expected, abs=0.025)


def test_importance_sampling_error_shrinks_with_samples():
    model, x = make_model(mean_scale=0.8, std_scale=1.5), data(1000, seed=12)
    truth = float(-true_log_marginal(x).mean())
    torch.manual_seed(2)
    errors = {s: nll_is(model, x, samples=s, batch_size=250) - truth for s in (1, 10, 100, 1000)}
    assert errors[1] > 0.3
    assert errors[1] > 3 * errors[10] > 0 and errors[10] > 3 * abs(errors[100])
    assert abs(errors[1000]) < 0.01
    # the same S with x and the samples cut into many small passes (uneven ones too)
    assert nll_is(model, x, samples=1000, batch_size=64, max_pairs=1000) == pytest.approx(truth, abs=0.01)
    assert nll_is(model, x, samples=1000, batch_size=250, max_pairs=3000) == pytest.approx(truth, abs=0.01)


@pytest.mark.parametrize(
    "samples, batch_size, max_pairs", [(1, 7, 3), (5, 64, 7), (13, 3, 1000), (40, 500, 64), (9, 1, 1)]
)
def test_exact_posterior_is_exact_for_any_samples_and_passes(samples, batch_size, max_pairs):
    # every importance weight is q(x): the batched, chunked path must return it whatever the cuts
    # (more points per batch than rows per pass included: the batch is cut to max_pairs points)
    model, x = make_model(), data(300, seed=15)
    torch.manual_seed(5)
    got = nll_per_example(model, x, samples, batch_size, max_pairs)
    assert torch.allclose(got, -true_log_marginal(x), rtol=0, atol=1e-10)


def test_gap_terms_by_hand():
    a = torch.tensor([0.0, -3.0, 1.0, 5.0], dtype=DTYPE)
    b = torch.tensor([0.0, -3.0, -1.0, 3.0], dtype=DTYPE)
    # log cosh((a − b)/2): 0, 0, log cosh 1, log cosh 1
    expected = torch.tensor([0.0, 0.0, math.log(math.cosh(1.0)), math.log(math.cosh(1.0))], dtype=DTYPE)
    assert torch.allclose(gap_terms(a, b), expected, atol=1e-12)
    assert torch.allclose(gap_terms(b, a), expected, atol=1e-12)


def test_consistency_is_zero_for_the_exact_posterior():
    torch.manual_seed(3)
    assert consistency_gap(make_model(), data(1000, seed=13), samples=10) == pytest.approx(0.0, abs=1e-9)


def test_consistency_is_positive_for_a_wrong_encoder():
    torch.manual_seed(4)
    x = data(1000, seed=14)
    slightly = consistency_gap(make_model(mean_scale=0.95, std_scale=1.1), x, samples=100)
    wrong = consistency_gap(make_model(mean_scale=0.5, std_scale=2.0), x, samples=100)
    assert 0 < slightly < wrong
    assert wrong > 0.1
