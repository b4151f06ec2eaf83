"""Row-chunked mixture log-densities: the hand-computed values, for any chunk size, within budget."""

import math

import pytest
import torch
from helpers import AffineGaussian, record_component_sizes

from mimkit.model.priors.chunked import over_row_chunks, rows_per_chunk
from mimkit.model.priors.mog import MixtureOfGaussiansPrior
from mimkit.model.priors.vamp import VampPrior

C = 0.5 * math.log(2 * math.pi)
HUGE = 2**40  # one chunk: the unchunked evaluation


def normal_log_pdf(z: float, mean: float, std: float) -> float:
    return -0.5 * ((z - mean) / std) ** 2 - math.log(std) - C


def hand_mog() -> MixtureOfGaussiansPrior:
    """p(z) = 3/4 N(z; -1, 1) + 1/4 N(z; 1, 2^2) in 1-D, float64."""
    prior = MixtureOfGaussiansPrior(latent_dim=1, components=2).double()
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-1.0], [1.0]]))
        prior.log_stds.copy_(torch.tensor([[0.0], [math.log(2.0)]], dtype=torch.float64))
        prior.logits.copy_(torch.tensor([math.log(3.0), 0.0], dtype=torch.float64))
    return prior


@pytest.mark.parametrize("budget", [1, 4, 6, HUGE])  # rows per chunk: 1, 2, 3, all
def test_mog_log_prob_matches_the_hand_formula_for_any_chunk(budget):
    z = torch.linspace(-3.0, 3.0, 13, dtype=torch.float64).view(13, 1)
    expected = [
        math.log(0.75 * math.exp(normal_log_pdf(v, -1.0, 1.0)) + 0.25 * math.exp(normal_log_pdf(v, 1.0, 2.0)))
        for v in z.flatten().tolist()
    ]
    got = hand_mog().log_prob(z, max_elements=budget)
    assert got.tolist() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("budget", [1, 3, HUGE])
def test_vamp_log_prob_matches_the_hand_formula_for_any_chunk(budget):
    # encoder N(0.5 u, 0.5^2) at pseudo-inputs 0 and 2: components N(0, 0.25), N(1, 0.25)
    prior = VampPrior(latent_dim=1, encoder=AffineGaussian(scale=0.5, std=0.5), pseudo_inputs=2).eval()
    with torch.no_grad():
        prior.pseudo_weights.copy_(torch.tensor([[0.0], [2.0]]))
        z = torch.linspace(-1.0, 2.0, 7).view(7, 1)
        got = prior.log_prob(z, max_elements=budget)
    expected = [
        math.log(0.5 * math.exp(normal_log_pdf(v, 0.0, 0.5)) + 0.5 * math.exp(normal_log_pdf(v, 1.0, 0.5)))
        for v in z.flatten().tolist()
    ]
    assert got.tolist() == pytest.approx(expected, rel=1e-5)


def random_mog(latent_dim=3, components=7) -> MixtureOfGaussiansPrior:
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(latent_dim=latent_dim, components=components)
    with torch.no_grad():
        prior.log_stds.normal_(0.0, 0.5)
        prior.logits.normal_()
    return prior


@pytest.mark.parametrize("budget", [1, 50, 500])
def test_chunked_equals_unchunked_on_random_batches_and_their_gradients(budget):
    prior = random_mog()
    z = 2 * torch.randn(4, 50, 3)  # leading sample and batch dimensions, as in the NLL passes
    whole = prior.log_prob(z, max_elements=HUGE)
    whole_grads = torch.autograd.grad(whole.sum(), list(prior.parameters()))
    chunked = prior.log_prob(z, max_elements=budget)
    chunked_grads = torch.autograd.grad(chunked.sum(), list(prior.parameters()))
    assert chunked.shape == (4, 50)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    for a, b in zip(chunked_grads, whole_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: random_mog(latent_dim=3, components=7),
        lambda: VampPrior(3, encoder=AffineGaussian(1.0, 1.0, dim=3), pseudo_inputs=7, x_shape=[3]).eval(),
    ],
)
def test_no_intermediate_exceeds_the_element_budget(make, monkeypatch):
    prior = make()
    sizes = record_component_sizes(prior, monkeypatch)
    z = torch.randn(10, 33, 3)
    with torch.no_grad():
        prior.log_prob(z, max_elements=100)  # K D = 21: 4 rows (84 numbers) per chunk
    assert max(sizes) == 84
    assert sum(sizes) == 330 * 21  # every row once


def test_rows_per_chunk():
    assert rows_per_chunk(2**22, 500 * 2) == 4194
    assert rows_per_chunk(10, 1000) == 1  # at least one row, whatever the budget


def test_over_row_chunks_keeps_small_inputs_whole():
    calls = []
    z = torch.arange(12.0).view(2, 3, 2)
    out = over_row_chunks(lambda rows: calls.append(rows.shape) or rows.sum(-1), z, rows=6)
    assert calls == [(2, 3, 2)] and out.tolist() == [[1.0, 5.0, 9.0], [13.0, 17.0, 21.0]]
    calls.clear()
    out = over_row_chunks(lambda rows: calls.append(rows.shape) or rows.sum(-1), z, rows=4)
    assert calls == [(3, 2), (3, 2)] and out.tolist() == [[1.0, 5.0, 9.0], [13.0, 17.0, 21.0]]
