"""RepresentationMetrics through a real (short) training run and its metrics.json."""

from __future__ import annotations

import json
import math

import pytest

from mim.callbacks.metrics import RepresentationMetrics
from mim.run import train

METRICS = ["test/mi", "test/nll", "test/nll_1s", "test/knn1", "test/knn3", "test/knn5", "test/knn10",
           "test/active_units", "test/posterior_var_mean", "test/posterior_var/d0",
           "test/posterior_var/d1", "test/consistency"]


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
    assert 0 <= written["test/active_units"] <= 2
    assert all(0 <= written[f"test/knn{k}"] <= 1 for k in (1, 3, 5, 10))
    assert written["test/consistency"] >= 0
    assert written["test/posterior_var_mean"] == pytest.approx(
        (written["test/posterior_var/d0"] + written["test/posterior_var/d1"]) / 2)


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
