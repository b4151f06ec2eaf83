"""Each objective against values computed by hand on a 1-D affine model with eps = 0.

Model: q(z|x) = N(0.5 x, 0.5²), p(x|z) = N(1.5 z, 0.5²), p(z) = N(0, 1); x = 1 so z = 0.5.
    log q(z|x) = -log 0.5 - c                      = -0.2257913526
    log p(x|z) = -(1 - 0.75)² / (2·0.25) - log 0.5 - c = -0.3507913526
    log p(z)   = -0.5² / 2 - c                        = -1.0439385332
with c = ½ log 2π = 0.9189385332.
Decoder pair (anchor z = 1): x = 1.5, log p(x|z) = -0.2257913526, log p(z) = -1.4189385332,
    q(z|x) = N(0.75, 0.25): log q(1|x) = -0.125 + log 2 - c = -0.3507913526.
"""

import math

import pytest
import torch
from helpers import affine_model, noiseless

from mimkit.app.schema import check_node
from mimkit.errors import ConfigError
from mimkit.model.marginal import importance_log_marginal
from mimkit.model.objectives.mim import MIM, mim_pair_loss
from mimkit.model.objectives.score_function import leave_one_out_baseline, score_function_surrogate
from mimkit.model.objectives.vae import VAE, vae_pair_loss

C = 0.5 * math.log(2 * math.pi)
LOG_QZX = -math.log(0.5) - C
LOG_PXZ = -0.125 - math.log(0.5) + math.log(1.0) - C
LOG_PZ = -0.125 - C
DEC_LOG_PXZ = -math.log(0.5) - C
DEC_LOG_PZ = -0.5 - C
DEC_LOG_QZX = -0.125 - math.log(0.5) - C
X = torch.tensor([[1.0]])


def test_pair_losses_by_hand():
    assert float(
        vae_pair_loss(torch.tensor(-1.0), torch.tensor(-2.0), torch.tensor(0.5), 0.5)
    ) == pytest.approx(2.25)
    # -1/2 (-1 - 2 + 0.5 (0.5 - 3)) = 2.125
    assert float(
        mim_pair_loss(torch.tensor(-1.0), torch.tensor(-2.0), torch.tensor(0.5), torch.tensor(-3.0), 0.5)
    ) == pytest.approx(2.125)


def test_importance_log_marginal_by_hand():
    # weights 1 and 3 (log_px_z + log_pz - log_qz_x): log mean = log 2
    log_px_z = torch.tensor([[0.0], [math.log(3.0)]])
    out = importance_log_marginal(log_px_z, torch.zeros(2, 1), torch.zeros(2, 1))
    assert torch.allclose(out, torch.tensor([math.log(2.0)]))


def test_vae_loss(monkeypatch):
    noiseless(monkeypatch)
    out = VAE()(affine_model(), X, beta=0.5)
    expected = -(LOG_PXZ + 0.5 * (LOG_PZ - LOG_QZX))
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)
    assert out["kl"].item() == pytest.approx(LOG_QZX - LOG_PZ, rel=1e-6)
    # a KL weight scales β: 0.5 · 0.05 on the KL term; the reported KL is the KL itself
    weighted = VAE(kl_weight=0.05)(affine_model(), X, beta=0.5)
    assert weighted["loss"].item() == pytest.approx(-(LOG_PXZ + 0.025 * (LOG_PZ - LOG_QZX)), rel=1e-6)
    assert weighted["kl"].item() == pytest.approx(LOG_QZX - LOG_PZ, rel=1e-6)
    with pytest.raises(ConfigError, match=r"^objective.kl_weight must be greater than 0, got 0"):
        check_node("objective", {"_target_": "mimkit.model.objectives.vae.VAE", "kl_weight": 0.0})


def test_amim_loss_is_the_papers_encoder_pair_loss(monkeypatch):
    noiseless(monkeypatch)
    for beta in (0.5, 1.0):
        out = MIM(symmetric=False)(affine_model(), X, beta=beta)
        # z' = z: log q(z|x) cancels -> -(1 + β)/2 [log p(x|z) + log p(z)]
        assert out["loss"].item() == pytest.approx(-(1 + beta) / 2 * (LOG_PXZ + LOG_PZ), rel=1e-6)


def test_symmetric_mim_loss(monkeypatch):
    noiseless(monkeypatch)
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda model, n, like: torch.ones(n, 1)))
    encoder_pair = -(LOG_PXZ + LOG_PZ)
    decoder_pair = -0.5 * (DEC_LOG_PXZ + DEC_LOG_PZ + DEC_LOG_QZX + DEC_LOG_PXZ)
    out = MIM()(affine_model(), X, beta=1.0)
    assert out["loss"].item() == pytest.approx((encoder_pair + decoder_pair) / 2, rel=1e-6)
    assert out["decoder_pair_loss"].item() == pytest.approx(decoder_pair, rel=1e-6)
    # during warm-up the reference uses encoder pairs only
    warm = MIM()(affine_model(), X, beta=0.5)
    assert warm["loss"].item() == pytest.approx(-0.75 * (LOG_PXZ + LOG_PZ), rel=1e-6)
    assert "decoder_pair_loss" not in warm
    both = MIM(symmetric_during_warmup=True)(affine_model(), X, beta=0.5)
    half_decoder = -0.5 * (DEC_LOG_PXZ + DEC_LOG_PZ + 0.5 * (DEC_LOG_QZX + DEC_LOG_PXZ))
    assert both["loss"].item() == pytest.approx((-0.75 * (LOG_PXZ + LOG_PZ) + half_decoder) / 2, rel=1e-6)


def test_reencoded_decoder_qx(monkeypatch):
    noiseless(monkeypatch)
    monkeypatch.setattr(MIM, "sample_anchor", staticmethod(lambda model, n, like: torch.ones(n, 1)))
    # re-encode x = 1.5: z' = 0.75, log p(x|z') = -(1.5 - 1.125)²/0.5 - log 0.5 - C,
    # log p(z') = -0.28125 - C, log q(z'|x) = -log 0.5 - C
    log_qx = (-(0.375**2) / 0.5 - math.log(0.5) - C) + (-0.28125 - C) - (-math.log(0.5) - C)
    decoder_pair = -0.5 * (DEC_LOG_PXZ + DEC_LOG_PZ + DEC_LOG_QZX + log_qx)
    out = MIM(decoder_qx="reencode")(affine_model(), X, beta=1.0)
    assert out["decoder_pair_loss"].item() == pytest.approx(decoder_pair, rel=1e-6)


def test_fresh_qx_samples_use_logsumexp():
    # with K fresh proposals the estimate is the IS average: check against a brute-force
    # Monte-Carlo average computed here from the closed-form densities
    torch.manual_seed(0)
    model = affine_model()
    x = torch.tensor([[1.0], [-0.5]])
    out = MIM(symmetric=False, qx_samples=20000, qx_fresh=True)(model, x, beta=1.0)
    # marginal of the affine model: x ~ N(0, b² + t²) = N(0, 2.5)
    exact_log_qx = -0.5 * x.squeeze(1) ** 2 / 2.5 - 0.5 * math.log(2 * math.pi * 2.5)
    assert out["log_qx"].item() == pytest.approx(exact_log_qx.mean().item(), abs=0.01)


def test_objectives_reject_bad_options():
    with pytest.raises(ConfigError, match="^objective.qx_samples must be greater than 0, got 0$"):
        check_node("objective", {"_target_": "mimkit.model.objectives.mim.MIM", "qx_samples": 0})
    with pytest.raises(ConfigError, match=r"^objective.decoder_qx must be 'prior_sample' or 'reencode'"):
        check_node("objective", {"_target_": "mimkit.model.objectives.mim.MIM", "decoder_qx": "posterior"})


def test_leave_one_out_baseline_and_surrogate_by_hand():
    f = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(leave_one_out_baseline(f), torch.tensor([2.5, 2.0, 1.5]))
    theta = torch.tensor(1.0, requires_grad=True)
    log_prob = theta * torch.tensor([1.0, 2.0, 3.0])
    surrogate = score_function_surrogate(f, log_prob, baseline=True)
    assert torch.allclose(surrogate, f)  # the value is the loss itself
    surrogate.sum().backward()
    assert theta.grad.item() == pytest.approx(3.0)  # Σ (f - b) k = -1.5 + 0 + 4.5
    theta.grad = None
    score_function_surrogate(f, theta * torch.tensor([1.0, 2.0, 3.0]), baseline=False).sum().backward()
    assert theta.grad.item() == pytest.approx(14.0)  # Σ f k


def test_grouped_leave_one_out_baseline_by_hand():
    # two groups of three pairs sharing a z: each baseline is the mean of its group's others
    f = torch.tensor([1.0, 2.0, 6.0, 10.0, 20.0, 30.0])
    assert torch.allclose(leave_one_out_baseline(f, group=3), torch.tensor([4.0, 3.5, 1.5, 25.0, 20.0, 15.0]))
    # anything that depends on the group only (log p(z)) drops out of f - b
    shift = torch.tensor([5.0, 5.0, 5.0, -7.0, -7.0, -7.0])
    assert torch.allclose(
        (f + shift) - leave_one_out_baseline(f + shift, group=3), f - leave_one_out_baseline(f, group=3)
    )
    with pytest.raises(ConfigError, match="objective.x_per_z must be greater than 0"):
        check_node("objective", {"_target_": "mimkit.model.objectives.mim.MIM", "x_per_z": 0})


def test_score_function_gradient_is_unbiased():
    # d/dθ E_{x~Bern(σ(θ))}[(x - 0.3)²] = σ'(θ) (0.49 - 0.09) = 0.1 at θ = 0
    torch.manual_seed(0)
    theta = torch.zeros((), requires_grad=True)
    from mimkit.model.distributions import Bernoulli

    dist = Bernoulli(theta.expand(200000, 1))
    x = dist.sample()
    f = (x - 0.3).pow(2).squeeze(1)
    score_function_surrogate(f, dist.log_prob(x)).mean().backward()
    assert theta.grad.item() == pytest.approx(0.1, abs=0.005)
