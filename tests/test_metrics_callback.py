"""RepresentationMetrics: a real (short) training run and its metrics.json, known answers inside a
real test run, bounded passes, caps."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch
from helpers import LinearGaussian, record_component_sizes

import mimkit.evaluation.callbacks.representation as metrics_module
from mimkit.app.run import train
from mimkit.app.schema import check_node
from mimkit.data.gmm import GMMDataModule
from mimkit.errors import ConfigError
from mimkit.evaluation.callbacks.representation import RepresentationMetrics
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.nets.mlp import GaussianMLP
from mimkit.model.priors import vamp
from mimkit.model.priors.chunked import rows_per_chunk
from mimkit.model.priors.standard import StandardNormalPrior
from mimkit.model.priors.vamp import VampPrior
from mimkit.training.module import AutoencoderModule

METRICS = [
    "test/mi",
    "test/nll",
    "test/nll_1s",
    "test/knn1",
    "test/knn3",
    "test/knn5",
    "test/knn10",
    "test/active_units",
    "test/posterior_var_mean",
    "test/posterior_var/d0",
    "test/posterior_var/d1",
    "test/consistency",
]
SMALL_MODEL = {
    "latent_dim": 3,
    "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 3, "hidden": 4},
    "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 3, "out_dim": 2, "hidden": 4},
}


def test_train_writes_every_metric(train_config, tmp_path):
    # (lr_monitor needs a logger: with logger=none it must go too)
    cfg = train_config(
        "logger=none",
        "callbacks.lr_monitor=null",
        "callbacks.representation_metrics.nll_samples=50",
        "callbacks.representation_metrics.consistency_samples=10",
        "callbacks.representation_metrics.consistency_pairs=256",
    )
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
    encoder = LinearGaussian(100 / 101 * a.T, torch.zeros(3), torch.tensor([1 / 101, 1 / 101, 1.0]).sqrt())
    return Autoencoder(encoder, decoder, StandardNormalPrior(3))


def test_known_answers_inside_a_real_test_run():
    module = AutoencoderModule(
        SMALL_MODEL,
        {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"},
        {"_target_": "mimkit.model.objectives.mim.MIM"},
        {"lr": 1e-3, "schedule": "constant", "warmup": 0},
    )
    module.model = exact_posterior_model()
    # std 0.05 around means ≥ 1 apart: the posterior means (≈ x) classify perfectly
    data = GMMDataModule(std=0.05, n_train=1000, n_val=100, n_test=1000)
    callback = RepresentationMetrics(
        mi_pairs=500,
        nll_samples=10,
        knn_train=1000,
        embed_sample=False,
        consistency_samples=5,
        consistency_pairs=500,
    )
    trainer = L.Trainer(
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
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
    assert node._target_ == "mimkit.evaluation.callbacks.representation.RepresentationMetrics"
    assert (node.mi_pairs, node.ksg_k) == (10000, 5)


def test_rejects_bad_settings():
    with pytest.raises(ConfigError, match="^metrics.nll_samples must be greater than 0, got 0$"):
        check_node(
            "metrics",
            {
                "_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics",
                "nll_samples": 0,
            },
        )
    with pytest.raises(ConfigError, match=r"^metrics.knn_ks\[\d\] must be greater than 0"):
        check_node(
            "metrics",
            {
                "_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics",
                "knn_ks": [1, -3],
            },
        )


def _vamp_model(components=50):
    torch.manual_seed(0)
    encoder, decoder = GaussianMLP(2, 2, 8), GaussianMLP(2, 2, 8)
    return Autoencoder(encoder, decoder, VampPrior(2, encoder=encoder, pseudo_inputs=components))


def _labelled(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=generator), torch.randint(0, 3, (n,), generator=generator)


SMALL = dict(
    mi_pairs=300,
    nll_samples=40,
    consistency_samples=20,
    consistency_pairs=100,
    knn_train=300,
    encode_batch=128,
)


def test_vamp_evaluation_encodes_once_and_every_pass_stays_within_the_budget(monkeypatch):
    test, train_set = _labelled(300, 1), _labelled(300, 2)
    callback = RepresentationMetrics(**SMALL)
    reference = callback.compute(_vamp_model(), test, train_set)

    model = _vamp_model()
    budget = 1000  # K D = 100: 10 rows per chunk
    monkeypatch.setattr(vamp, "rows_per_chunk", lambda _, per_row: rows_per_chunk(budget, per_row))
    sizes = record_component_sizes(model.prior, monkeypatch)
    encodes = []
    pseudo_inputs = model.prior.pseudo_inputs
    monkeypatch.setattr(model.prior, "pseudo_inputs", lambda: encodes.append(1) or pseudo_inputs())
    chunked = callback.compute(model, test, train_set)
    assert len(encodes) == 1  # the K components, once for the whole evaluation
    assert max(sizes) <= budget
    assert len(sizes) > 300  # the NLL, nll_1s and consistency passes, chunk by chunk
    assert chunked.keys() == reference.keys()
    for name, value in reference.items():
        assert chunked[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_capped_settings():
    small = RepresentationMetrics(nll_samples=5, knn_train=100).capped(points=256, samples=10)
    assert (small.test_points, small.mi_pairs, small.knn_train, small.consistency_pairs) == (
        256,
        256,
        100,
        256,
    )
    assert (small.nll_samples, small.consistency_samples) == (5, 10)
    assert RepresentationMetrics().nll_samples == 1000  # the original is left as it was


def test_test_points_scores_the_first_points_only():
    test, train_set = _labelled(300, 1), _labelled(300, 2)
    first = RepresentationMetrics(**SMALL, test_points=120).compute(_vamp_model(5), test, train_set)
    cut = RepresentationMetrics(**SMALL).compute(_vamp_model(5), (test[0][:120], test[1][:120]), train_set)
    assert first == cut
    with pytest.raises(ConfigError, match="test_points must be greater than 0"):
        check_node(
            "metrics",
            {
                "_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics",
                "test_points": 0,
            },
        )


@pytest.mark.parametrize(
    "how, points, pairs",
    [("debug=fast_dev_run", 64, 16), ("+trainer.fast_dev_run=true", 256, 256)],
)
def test_fast_dev_run_computes_every_metric_on_one_small_batch(train_config, monkeypatch, how, points, pairs):
    # the preset sets the callback's knobs (conf/debug/fast_dev_run.yaml: 64 points, 16 consistency
    # pairs); a bare Trainer(fast_dev_run) is capped by the callback (256 points and pairs)
    seen = {}

    def spy(name, fn, size_of):
        def wrapped(*args, **kwargs):
            seen.setdefault(name, []).append(size_of(*args, **kwargs))
            return fn(*args, **kwargs)

        monkeypatch.setattr(metrics_module, name, wrapped)

    spy("encode", metrics_module.encode, lambda model, x, batch: len(x))
    spy("ksg_mutual_information", metrics_module.ksg_mutual_information, lambda x, z, k: len(x))
    spy("nll_shard", metrics_module.nll_shard, lambda model, x, samples, *shard: (len(x), samples))
    spy("nll_one_sample", metrics_module.nll_one_sample, lambda model, x, batch: len(x))
    spy("knn_accuracy", metrics_module.knn_accuracy, lambda a, b, c, d, ks: (len(a), len(c)))
    spy("consistency_gap", metrics_module.consistency_gap, lambda model, x, samples, **_: (len(x), samples))
    metrics = train(
        train_config("logger=none", "callbacks.lr_monitor=null", "data.n_test=1000", "data.n_train=1000", how)
    )
    assert all(name in metrics for name in METRICS)
    assert seen["encode"] == [points, points]  # test, then K-NN training points
    assert seen["ksg_mutual_information"] == [points] and seen["nll_one_sample"] == [points]
    assert seen["nll_shard"] == [(points, 10)] and seen["consistency_gap"] == [(pairs, 10)]
    assert seen["knn_accuracy"] == [(points, points)]


def test_nll_points_scores_the_nll_on_the_first_points_and_records_the_budget():
    # the exact posterior makes every importance weight q(x): the estimate is exact for any S
    model = exact_posterior_model()
    data = GMMDataModule(std=0.05, n_train=300, n_val=10, n_test=400)
    callback = RepresentationMetrics(
        mi_pairs=200,
        nll_samples=7,
        knn_train=300,
        nll_points=150,
        consistency_samples=5,
        consistency_pairs=100,
    )
    metrics = callback.compute(model, data.test, data.train_fixed())
    x = data.test[0][:150].double()
    exact_nll = float((0.5 * x.pow(2).sum(1) / 1.01 + math.log(2 * math.pi * 1.01)).mean())
    assert metrics["test/nll"] == pytest.approx(exact_nll, abs=1e-4)
    assert (metrics["test/nll_points"], metrics["test/nll_samples"]) == (150, 7)
    assert (metrics["test/points"], metrics["test/mi_points"]) == (400, 200)
    # more NLL points than test points: all of them
    everything = RepresentationMetrics(
        mi_pairs=200,
        nll_samples=3,
        knn_train=300,
        nll_points=10**6,
        consistency_samples=5,
        consistency_pairs=100,
    )
    assert everything.compute(model, data.test, data.train_fixed())["test/nll_points"] == 400
    assert callback.capped(points=100, samples=2).nll_points == 100
    with pytest.raises(ConfigError, match="nll_points must be greater than 0"):
        check_node(
            "metrics",
            {"_target_": "mimkit.evaluation.callbacks.representation.RepresentationMetrics", "nll_points": 0},
        )


class TwoLevelStub(torch.nn.Module):
    """q(z2|x) = N([x₀, x₁, 0], 0.1²) and q(z1|x, z2) = N(10⁻³ (z2₀ + z2₁), 0.1²), z1 of size 1:
    z2 has 2 active units (its means follow x), z1 none (Var_x of its mean ≈ 10⁻⁶ < 0.01)."""

    def forward(self, x):
        from mimkit.model.distributions import DiagonalGaussian
        from mimkit.model.two_level import TwoLevelGaussian

        top = DiagonalGaussian(torch.cat([x, torch.zeros(len(x), 1)], 1), torch.full((len(x), 3), 0.1))
        return TwoLevelGaussian(
            top,
            lambda z2: DiagonalGaussian(
                1e-3 * z2[..., :2].sum(-1, keepdim=True), torch.full_like(z2[..., :1], 0.1)
            ),
            z1_dim=1,
        )


def test_active_units_per_latent_group():
    decoder = LinearGaussian(
        torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]), torch.zeros(2), torch.full((2,), 0.1)
    )
    model = Autoencoder(TwoLevelStub(), decoder, StandardNormalPrior(4))
    data = GMMDataModule(std=0.05, n_train=200, n_val=10, n_test=200)
    metrics = RepresentationMetrics(
        mi_pairs=100, nll_samples=3, knn_train=200, consistency_samples=3, consistency_pairs=20
    ).compute(model, data.test, data.train_fixed())
    assert metrics["test/active_units"] == 2
    assert (metrics["test/active_units/z1"], metrics["test/active_units/z2"]) == (0, 2)
    # flat latents have no groups
    assert "test/active_units/z1" not in RepresentationMetrics(**SMALL).compute(
        _vamp_model(5), _labelled(100, 1), _labelled(100, 2)
    )
