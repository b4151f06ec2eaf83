import math

import pytest
import torch
from helpers import AffineGaussian

from mimkit.model.priors.mog import MixtureOfGaussiansPrior
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.vamp import VampPrior

C = 0.5 * math.log(2 * math.pi)


def test_mog_single_component_is_its_gaussian():
    prior = MixtureOfGaussiansPrior(latent_dim=1, components=1)
    with torch.no_grad():
        prior.means.fill_(1.0)
        prior.log_stds.fill_(math.log(2.0))
    # N(0; 1, 4) = -1/8 - log 2 - C
    assert prior.log_prob(torch.zeros(1, 1)).item() == pytest.approx(-0.125 - math.log(2) - C)


def test_mog_two_symmetric_components_by_hand():
    prior = MixtureOfGaussiansPrior(latent_dim=1, components=2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-1.0], [1.0]]))
        prior.log_stds.zero_()
        prior.logits.zero_()
    # ½ N(0; -1, 1) + ½ N(0; 1, 1) = N(0; 1, 1)
    assert prior.log_prob(torch.zeros(1, 1)).item() == pytest.approx(-0.5 - C)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([math.log(3.0), 0.0]))  # weights 3/4, 1/4
    z = torch.tensor([[1.0]])
    expected = math.log(0.75 * math.exp(-2.0 - C) + 0.25 * math.exp(-C))
    assert prior.log_prob(z).item() == pytest.approx(expected)


def test_vamp_prior_is_the_mean_of_encoded_pseudo_inputs():
    encoder = AffineGaussian(scale=0.5, std=0.5)
    prior = VampPrior(latent_dim=1, encoder=encoder, pseudo_inputs=2)
    with torch.no_grad():
        prior.pseudo_weights.copy_(torch.tensor([[0.0], [2.0]]))
    # components N(0, 0.25) and N(1, 0.25); z = 0.5 is one std from both
    z = torch.tensor([[0.5]])
    assert prior.log_prob(z).item() == pytest.approx(-0.5 - math.log(0.5) - C)
    z = torch.tensor([[0.0]])
    expected = math.log(0.5 * math.exp(-math.log(0.5) - C) + 0.5 * math.exp(-2.0 - math.log(0.5) - C))
    assert prior.log_prob(z).item() == pytest.approx(expected)
    assert "encoder.scale" not in prior.state_dict()  # held by reference only


def test_vamp_hardtanh_pseudo_inputs_in_unit_interval():
    prior = VampPrior(
        latent_dim=1,
        encoder=AffineGaussian(1.0, 1.0),
        pseudo_inputs=50,
        activation="hardtanh",
        init_mean=0.5,
        init_std=2.0,
    )
    u = prior.pseudo_inputs()
    assert u.min() >= 0 and u.max() <= 1 and u.shape == (50, 1)


def test_vamp_caches_components_only_in_eval_without_grad():
    encoder = AffineGaussian(scale=1.0, std=1.0)
    prior = VampPrior(latent_dim=1, encoder=encoder, pseudo_inputs=3)
    calls = []
    encoder.register_forward_hook(lambda *_: calls.append(1))
    z = torch.zeros(4, 1)
    prior.eval()
    with torch.no_grad():
        first = prior.log_prob(z)
        assert torch.equal(prior.log_prob(z), first) and len(calls) == 1  # cached
    prior.log_prob(z)  # with gradients: computed afresh
    prior.train()
    with torch.no_grad():
        prior.log_prob(z)
    assert len(calls) == 3


def _vamp_in_eval(dim: int = 2) -> VampPrior:
    torch.manual_seed(0)
    prior = VampPrior(dim, encoder=AffineGaussian(1.5, 0.7, dim=dim), pseudo_inputs=4, x_shape=[dim])
    return prior.eval()


def _vamp_log_prob_by_hand(prior: VampPrior, z: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k N(z; a u_k + b, s²) for the affine encoder, each a product over dims."""
    enc = prior.encoder
    u = prior.pseudo_weights.detach().to(z)
    mean, std = enc.scale.detach().to(z) * u + enc.shift.detach().to(z), enc.std * torch.ones_like(u)
    per_k = torch.distributions.Normal(mean, std).log_prob(z.unsqueeze(-2)).sum(-1)
    return torch.logsumexp(per_k, -1) - math.log(len(u))


@torch.no_grad()
def test_vamp_cache_follows_dtype_moves():
    prior = _vamp_in_eval()
    z = torch.randn(5, 2)
    prior.log_prob(z)  # builds the float32 cache
    prior.encoder.double(), prior.double()
    out = prior.log_prob(z.double())
    assert out.dtype == torch.float64 and prior.sample(3).dtype == torch.float64
    torch.testing.assert_close(out, _vamp_log_prob_by_hand(prior, z.double()))


@torch.no_grad()
def test_vamp_cache_follows_device_moves():
    prior = _vamp_in_eval()
    prior.log_prob(torch.randn(5, 2))  # builds the CPU cache
    prior.encoder.to("meta"), prior.to("meta")  # what .cuda() does to a model, on any machine
    assert prior.log_prob(torch.randn(5, 2, device="meta")).device.type == "meta"


@torch.no_grad()
def test_vamp_cache_follows_a_state_dict_load():
    prior, other = _vamp_in_eval(), _vamp_in_eval()
    with torch.no_grad():
        other.pseudo_weights.add_(1.0)
        other.encoder.scale.fill_(-2.0)
    z = torch.randn(5, 2)
    prior.log_prob(z)  # builds the cache with the old weights
    prior.load_state_dict(other.state_dict())
    prior.encoder.load_state_dict(other.encoder.state_dict())
    torch.testing.assert_close(prior.log_prob(z), _vamp_log_prob_by_hand(other, z))


@pytest.mark.parametrize(
    "make",
    [
        lambda: StandardNormalPrior(3),
        lambda: MixtureOfGaussiansPrior(3, components=4),
        lambda: VampPrior(3, encoder=AffineGaussian(1.0, 1.0, dim=3), pseudo_inputs=5, x_shape=[3]),
    ],
)
def test_prior_sample_shapes(make):
    prior = make()
    z = prior.sample(7)
    assert z.shape == (7, 3)
    assert prior.log_prob(z).shape == (7,)


def test_standard_prior_log_prob():
    assert StandardNormalPrior(2).log_prob(torch.zeros(1, 2)).item() == pytest.approx(-2 * C)


def test_mog_samples_follow_the_mixture():
    # weights 3/4, 1/4; means -1, 2; stds 0.5, 1: mean 3/4·(-1) + 1/4·2 = -0.25,
    # E[z²] = 3/4·(0.25 + 1) + 1/4·(1 + 4) = 2.1875, variance 2.1875 - 0.0625 = 2.125,
    # P(z > 0.5) = 3/4 P(N(0,1) > 3) + 1/4 P(N(0,1) > -1.5)
    prior = MixtureOfGaussiansPrior(latent_dim=1, components=2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-1.0], [2.0]]))
        prior.log_stds.copy_(torch.tensor([[math.log(0.5)], [0.0]]))
        prior.logits.copy_(torch.tensor([math.log(3.0), 0.0]))
    torch.manual_seed(0)
    z = prior.sample(200000).squeeze(1).double()
    upper = lambda t: 0.5 * math.erfc(t / math.sqrt(2))
    assert z.mean().item() == pytest.approx(-0.25, abs=0.015)  # 4.5 standard errors
    assert z.var().item() == pytest.approx(2.125, abs=0.04)
    assert (z > 0.5).double().mean().item() == pytest.approx(
        0.75 * upper(3.0) + 0.25 * upper(-1.5), abs=0.005
    )


def test_vamp_samples_follow_the_encoded_pseudo_inputs():
    # components q(z|u) = N(0.5 u, 0.5²) at u = 0 and 2: N(0, 0.25) and N(1, 0.25), equal
    # weights: mean 0.5, variance 0.25 + 0.25 = 0.5
    prior = VampPrior(latent_dim=1, encoder=AffineGaussian(scale=0.5, std=0.5), pseudo_inputs=2)
    with torch.no_grad():
        prior.pseudo_weights.copy_(torch.tensor([[0.0], [2.0]]))
    torch.manual_seed(0)
    z = prior.sample(200000).squeeze(1).double()
    assert z.mean().item() == pytest.approx(0.5, abs=0.01)
    assert z.var().item() == pytest.approx(0.5, abs=0.01)
