import math

import pytest
import torch

from mimkit.model.distributions import Bernoulli, DiagonalGaussian, check_binary, standard_normal_log_prob


def test_gaussian_log_prob_hand_computed():
    d = DiagonalGaussian(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 2.0]]))
    x = torch.tensor([[1.0, 0.0]])
    # N(1; 0, 1) N(0; 1, 4): -1/2 - 1/2 log 2π  +  -1/8 - log 2 - 1/2 log 2π
    expected = -0.5 - 0.125 - math.log(2.0) - math.log(2 * math.pi)
    assert torch.allclose(d.log_prob(x), torch.tensor([expected]))


def test_gaussian_log_prob_broadcasts_sample_dims_and_matches_torch():
    mean, std = torch.randn(3, 4), torch.rand(3, 4) + 0.1
    d = DiagonalGaussian(mean, std)
    z = d.rsample((5,))
    assert z.shape == (5, 3, 4)
    ref = torch.distributions.Independent(torch.distributions.Normal(mean, std), 1).log_prob(z)
    assert torch.allclose(d.log_prob(z), ref, atol=1e-5)


def test_gaussian_rsample_is_differentiable_and_has_the_right_moments():
    mean = torch.tensor([2.0], requires_grad=True)
    d = DiagonalGaussian(mean, torch.tensor([0.5]))
    z = d.rsample((20000,))
    z.sum().backward()
    assert mean.grad.item() == 20000
    assert abs(z.mean().item() - 2.0) < 0.02 and abs(z.std().item() - 0.5) < 0.02


def test_image_event_dims_sum_over_all_pixels():
    d = DiagonalGaussian(torch.zeros(2, 1, 3, 3), torch.ones(2, 1, 3, 3), event_dims=3)
    assert torch.allclose(d.log_prob(torch.zeros(2, 1, 3, 3)), torch.full((2,), -4.5 * math.log(2 * math.pi)))


def test_bernoulli_log_prob_hand_computed():
    b = Bernoulli(torch.tensor([[0.0, math.log(3.0)]]))  # p = 1/2, 3/4
    x = torch.tensor([[1.0, 0.0]])
    assert torch.allclose(b.log_prob(x), torch.tensor([math.log(0.5) + math.log(0.25)]))
    assert not b.has_rsample
    assert torch.allclose(b.mean, torch.tensor([[0.5, 0.75]]))
    samples = b.sample((4000,))
    assert set(samples.unique().tolist()) <= {0.0, 1.0}
    assert abs(samples[:, 0, 1].mean().item() - 0.75) < 0.03


def test_standard_normal():
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    expected = torch.tensor([-math.log(2 * math.pi), -1.0 - math.log(2 * math.pi)])
    assert torch.allclose(standard_normal_log_prob(z), expected)


def test_bernoulli_log_prob_is_unchecked_and_check_binary_names_the_data():
    # log_prob reads nothing back from the device: x l - softplus(l) at l = 0 gives -log 2 per
    # coordinate, whatever x; and x = -1 with logits -50 "scores" +50, above any log-probability
    b = Bernoulli(torch.zeros(3, 2))
    assert torch.allclose(b.log_prob(torch.full((3, 2), -1.0)), torch.full((3,), -2 * math.log(2.0)))
    assert Bernoulli(torch.full((1, 1), -50.0)).log_prob(-torch.ones(1, 1)).item() == pytest.approx(50.0)
    # what the once-per-data-set check rejects
    check_binary(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), "the data")
    for bad, (low, high) in (
        (torch.full((3, 2), 0.5), (0.5, 0.5)),
        (torch.tensor([[1.0, 0.0], [-1.0, 1.0]]), (-1, 1)),
    ):
        with pytest.raises(
            ValueError, match=rf"^the data \(X\) holds values other than 0 and 1 \(in \[{low:g}, {high:g}\]\)"
        ):
            check_binary(bad, "the data (X)")


def test_half_precision_parameters_are_scored_in_fp32_and_float64_stays_float64():
    """Under bf16 autocast the networks emit bf16; densities must not be summed in bf16
    (8-bit mantissa: a sum of 784 log-probabilities of order 100 would lose whole nats)."""
    logits = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.bfloat16)
    x = torch.tensor([[1.0, 0.0, 1.0]])
    bern = Bernoulli(logits)
    assert bern.logits.dtype == torch.float32
    # exact value for the bf16-rounded logits, computed in float64 by hand
    l64 = logits.double()
    expected = (
        torch.nn.functional.logsigmoid(l64[0, 0])
        + torch.nn.functional.logsigmoid(-l64[0, 1])
        + torch.nn.functional.logsigmoid(l64[0, 2])
    )
    assert bern.log_prob(x).dtype == torch.float32
    assert abs(bern.log_prob(x).item() - expected.item()) < 1e-6
    gauss = DiagonalGaussian(torch.zeros(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.float16))
    assert gauss.mean.dtype == gauss.std.dtype == torch.float32
    assert gauss.rsample().dtype == torch.float32
    wide = DiagonalGaussian(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    assert wide.log_prob(torch.zeros(2, dtype=torch.float64)).dtype == torch.float64


def test_gaussian_heads_give_fp32_densities_under_bf16_autocast():
    from mimkit.model.nets.heads import GaussianHeads

    heads = GaussianHeads(8, 3)
    h = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        posterior = heads(h)
        assert posterior.mean.dtype == posterior.std.dtype == torch.float32
        log_q = posterior.log_prob(torch.zeros(4, 3))
    assert log_q.dtype == torch.float32
    exact = heads(h)  # fp32 throughout: bf16 networks change the answer by rounding only
    assert torch.allclose(log_q, exact.log_prob(torch.zeros(4, 3)), rtol=0.05, atol=0.5)
