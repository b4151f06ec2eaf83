"""RepresentationMetrics through a real (short) training run and its metrics.json, and inside a\nreal test run of a model built to have known answers."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch

from helpers import LinearGaussian
from mim.autoencoder import Autoencoder
from mim.callbacks.metrics import RepresentationMetrics
from mim.data.gmm import GMMDataModule
from mim.module import AutoencoderModule
from mim.priors.standard import StandardNormalPrior
from mim.run import train

METRICS = ["test/mi", "test/nll", "test/nll_1s", "test/knn1", "test/knn3", "test/knn5", "test/knn10",
           "test/active_units", "test/posterior_var_mean", "test/posterior_var/d0",
           "test/posterior_var/d1", "test/consistency"]
SMALL_MODEL = {"latent_dim": 3,
               "encoder": {"_target_": "mim.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 3, "hidden": 4},
               "decoder": {"_target_": "mim.nets.mlp.GaussianMLP", "in_dim": 3, "out_dim": 2, "hidden": 4}}


def test_train_writes_every_metric(train_config, tmp_path):
    # (lr_monitor needs a logger: with logger=none it must go too)
    cfg = train_config("logger=none", "callbacks.lr_monitor=null",
                       "callbacks.representation_metrics.nll_samples=50",
                       "callbacks.representation_metrics.consistency_samples=10",
                       "callbacks.representation_metrics.consistency_pairs=256")
    returned = train(cfg)
    written = json.loads((tmp_path / "metrics.json").read_text())
    for name in METRICS:
        assert name in written, name
        assert math.isfinite(written[name]), name
        assert written[name] == pytest.approx(returned[name])


def exact_posterior_model() -> Autoencoder:
    """x ∈ R², z ∈ R³: p(x|z) = N(A z, 0.1² I) with A = [I₂ 0], p(z) = N(0, I₃), and q(z|x) its
    exact posterior N(Σ Aᵀ x / 0.1², Σ), Σ = (I + AᵀA / 0.1²)⁻¹ = diag(1/101, 1/101, 1).

    Known answers: latent dims 0 and 1 follow x, dim 2 is the prior whatever x (2 active
    units); E_x[σ_d²] = 1/101, 1/101, 1; q(x) = N(0, (1 + 0.1²) I₂); Q(x,z) = P(x,z) so the
    consistency gap is 0 and every importance weight is q(x), so both NLL estimates are exact.
    """
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    decoder = LinearGaussian(a, torch.zeros(2), torch.full((2,), 0.1))
    encoder = LinearGaussian(100 / 101 * a.T, torch.zeros(3),
                             torch.tensor([1 / 101, 1 / 101, 1.0]).sqrt())
    return Autoencoder(encoder, decoder, StandardNormalPrior(3))


def test_known_answers_inside_a_real_test_run():
    module = AutoencoderModule(SMALL_MODEL, {"_target_": "mim.priors.standard.StandardNormalPrior"},
                               {"_target_": "mim.objectives.mim.MIM"},
                               {"lr": 1e-3, "schedule": "constant", "warmup": 0})
    module.model = exact_posterior_model()
    # std 0.05 around means ≥ 1 apart: the posterior means (≈ x) classify perfectly
    data = GMMDataModule(std=0.05, n_train=1000, n_val=100, n_test=1000)
    callback = RepresentationMetrics(mi_pairs=500, nll_samples=10, knn_train=1000, embed_sample=False,
                                     consistency_samples=5, consistency_pairs=500)
    trainer = L.Trainer(callbacks=[callback], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    metrics = trainer.test(module, datamodule=data, verbose=False)[0]
    assert metrics["test/active_units"] == 2
    for d, variance in enumerate((1 / 101, 1 / 101, 1.0)):
        assert metrics[f"test/posterior_var/d{d}"] == pytest.approx(variance, rel=1e-5)
    assert metrics["test/posterior_var_mean"] == pytest.approx((2 / 101 + 1) / 3, rel=1e-5)
    assert [metrics[f"test/knn{k}"] for k in (1, 3, 5, 10)] == [1.0] * 4
    assert metrics["test/consistency"] == pytest.approx(0.0, abs=1e-6)
    x = data.test[0].double()
    exact_nll = float((0.5 * x.pow(2).sum(1) / 1.01 + math.log(2 * math.pi * 1.01)).mean())
    assert metrics["test/nll"] == pytest.approx(exact_nll, abs=1e-4)
    assert metrics["test/nll_1s"] == pytest.approx(exact_nll, abs=1e-4)
    assert math.isfinite(metrics["test/mi"])


def test_eval_config_registers_the_callback(tmp_path):
    from conftest import compose_config

    cfg = compose_config("eval", ["ckpt_path=none"], tmp_path)
    node = cfg.callbacks.representation_metrics
    assert node._target_ == "mim.callbacks.metrics.RepresentationMetrics"
    assert (node.mi_pairs, node.ksg_k) == (10000, 5)


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        RepresentationMetrics(nll_samples=0)
    with pytest.raises(ValueError):
        RepresentationMetrics(knn_ks=(1, -3))
