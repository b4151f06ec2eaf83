"""The linear probe (mimkit.evaluation.metrics.probe): known answers, no random draws, and `test/probe_acc`
beside the K-NN accuracies without changing any other metric."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mimkit.data.gmm import GMMDataModule
from mimkit.evaluation.callbacks.representation import RepresentationMetrics
from mimkit.evaluation.metrics.probe import probe_accuracy
from mimkit.model.autoencoder import build_autoencoder


def test_linearly_separable_classes_score_one():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 4))
    y = (z @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(int)
    z += np.where(y[:, None] == 1, 1.0, -1.0) * np.array([1.0, -2.0, 0.5, 0.0]) / 2.3  # a margin
    assert probe_accuracy(z[:400], y[:400], z[400:], y[400:]) == 1.0
    # three well-separated clusters too (multinomial)
    centres = np.array([[0.0, 10.0], [10.0, 0.0], [-10.0, -10.0]])
    labels = rng.integers(3, size=300)
    points = centres[labels] + rng.normal(size=(300, 2))
    assert (
        probe_accuracy(torch.tensor(points[:200]), torch.tensor(labels[:200]), points[200:], labels[200:])
        == 1.0
    )


def test_random_labels_score_chance():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(4000, 3)), rng.integers(4, size=4000)
    assert probe_accuracy(z[:3000], y[:3000], z[3000:], y[3000:]) == pytest.approx(0.25, abs=0.05)


def test_scale_of_the_features_does_not_matter():
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(500, 2)), rng.integers(2, size=500)
    z[:, 0] += 1.5 * y
    scaled = z * np.array([1e4, 1e-4])
    assert probe_accuracy(z[:400], y[:400], z[400:], y[400:]) == probe_accuracy(
        scaled[:400], y[:400], scaled[400:], y[400:]
    )


def test_it_draws_nothing_and_refuses_one_class():
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(300, 2)), rng.integers(3, size=300)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002 (the global stream)
    probe_accuracy(z[:200], y[:200], z[200:], y[200:])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))  # noqa: NPY002
    with pytest.raises(ValueError, match="at least 2 classes"):
        probe_accuracy(z, np.zeros(300), z, np.zeros(300))
    with pytest.raises(ValueError, match="same length"):
        probe_accuracy(z, y[:10], z, y)


def test_cost_on_the_default_toy_run_is_small():
    # the default run's probe: 10,000 2-D training embeddings of 5 classes, 10,000 test ones
    rng = np.random.default_rng(4)
    y = rng.integers(5, size=20000)
    z = rng.normal(size=(20000, 2)) + 3 * np.stack([np.cos(y), np.sin(y)], 1)
    start = time.perf_counter()
    accuracy = probe_accuracy(z[:10000], y[:10000], z[10000:], y[10000:])
    assert time.perf_counter() - start < 10  # ≈ 0.2 s on the 2-core CPU when idle
    assert accuracy > 0.8


def test_the_probe_leaves_every_other_metric_unchanged():
    torch.manual_seed(0)
    model = build_autoencoder(
        {
            "latent_dim": 2,
            "encoder": {
                "_target_": "mimkit.model.nets.mlp.GaussianMLP",
                "in_dim": 2,
                "out_dim": 2,
                "hidden": 8,
            },
            "decoder": {
                "_target_": "mimkit.model.nets.mlp.GaussianMLP",
                "in_dim": 2,
                "out_dim": 2,
                "hidden": 8,
            },
        },
        {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"},
    )
    data = GMMDataModule(n_train=500, n_val=100, n_test=300)
    settings = {"nll_samples": 20, "consistency_samples": 10, "knn_train": 400}
    with_probe = RepresentationMetrics(**settings).compute(model, data.test, data.train_fixed())
    without = RepresentationMetrics(**settings, probe=False).compute(model, data.test, data.train_fixed())
    assert 0.0 <= with_probe.pop("test/probe_acc") <= 1.0
    assert with_probe == without
    # without labels: neither K-NN nor the probe, and the reason recorded
    metrics = RepresentationMetrics(**settings)
    unlabelled = metrics.compute(model, (data.test[0], None), (data.train_fixed()[0], None))
    assert not any(name.startswith(("test/knn", "test/probe")) for name in unlabelled)
    assert metrics.skipped == {
        "test/knn": "the data have no labels",
        "test/probe_acc": "the data have no labels",
    }
    assert unlabelled["test/mi"] == without["test/mi"]
