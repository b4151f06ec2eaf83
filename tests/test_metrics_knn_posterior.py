"""K-NN accuracy and posterior-collapse diagnostics (docs/maths.md §3) on hand-checkable examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimkit.evaluation.metrics.knn import knn_accuracy
from mimkit.evaluation.metrics.posterior import active_units, mean_posterior_variance, posterior_mean_variance


def test_knn_is_perfect_on_well_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train_y, test_y = rng.integers(0, 3, 300), rng.integers(0, 3, 100)
    train_z = centres[train_y] + 0.5 * rng.standard_normal((300, 2))
    test_z = centres[test_y] + 0.5 * rng.standard_normal((100, 2))
    assert knn_accuracy(train_z, train_y, test_z, test_y) == {1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}


def test_knn_hand_checked_1d():
    train_z = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    train_y = torch.tensor([0, 0, 1, 1, 1, 0])
    test_z = torch.tensor([[0.2], [2.2], [10.4], [11.9]])
    test_y = torch.tensor([0, 0, 1, 1])
    # k = 1: nearest labels 0, 1, 1, 0             -> right, wrong, right, wrong = 0.5
    # k = 3: {0,0,1} {1,0,0} {1,1,0} {0,1,1}       -> 0, 0, 1, 1: all right   = 1.0
    # k = 5: {0,0,1,1,1} {1,0,0,1,1} {1,1,0,1,0} {0,1,1,1,0} -> 1, 1, 1, 1    = 0.5
    assert knn_accuracy(train_z, train_y, test_z, test_y, ks=(1, 3, 5)) == {1: 0.5, 3: 1.0, 5: 0.5}


def test_knn_rejects_k_larger_than_the_training_set():
    with pytest.raises(ValueError):
        knn_accuracy(np.zeros((3, 1)), [0, 1, 0], np.zeros((2, 1)), [0, 1], ks=(5,))


def test_active_units_on_a_constructed_example():
    means = torch.tensor(
        [[-1.0, 0.05, 3.0, 0.0], [1.0, -0.05, 3.0, 0.0], [-1.0, 0.05, 3.0, 0.4], [1.0, -0.05, 3.0, 0.0]]
    )
    # Var_x per dimension: 1, 0.0025, 0 and (3·0.1² + 0.3²)/4 = 0.03
    assert torch.allclose(
        posterior_mean_variance(means), torch.tensor([1.0, 0.0025, 0.0, 0.03], dtype=torch.float64)
    )
    assert active_units(means) == 2  # threshold 0.01
    assert active_units(means, threshold=0.001) == 3
    assert active_units(means, threshold=0.5) == 1


def test_mean_posterior_variance_per_dimension():
    stds = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.allclose(mean_posterior_variance(stds), torch.tensor([5.0, 10.0], dtype=torch.float64))
