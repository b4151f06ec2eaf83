"""The torch neighbour searches of KSG and K-NN (`mimkit.evaluation.metrics.neighbours`), run here on the CPU,
against scipy's k-d trees and scikit-learn on the same inputs, ties and chunking included; and
the seeded picture callbacks leaving every generator as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimkit.evaluation.metrics import ksg, neighbours
from mimkit.evaluation.metrics.knn import knn_accuracy
from mimkit.evaluation.metrics.ksg import ksg_mutual_information
from mimkit.evaluation.metrics.neighbours import chunk_rows, search_device

CPU = torch.device("cpu")


def correlated(n: int, dx: int, dz: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    z = x[:, :1] * 0.8 + 0.6 * rng.standard_normal((n, dz))
    return x, z


def same_estimate(x, z, k: int = 5) -> float:
    """The trees' estimate, after checking that the torch counts give exactly the same number."""
    trees = ksg_mutual_information(x, z, k=k)
    assert ksg_mutual_information(x, z, k=k, device=CPU) == trees
    return trees


def test_search_device_rule():
    cpu_tensor, array = torch.zeros(3), np.zeros(3)
    assert search_device(cpu_tensor, array) is None  # CPU inputs: the CPU libraries
    assert search_device(torch.zeros(3, device="meta")) is None
    assert search_device(array, device="cpu") == CPU  # forced: torch on that device


def test_chunk_rows_by_hand():
    assert chunk_rows(1000, 4) == 2**28 // (1000 * 4 * 8)  # 8,388 rows of four float64 [rows, 1000]
    assert chunk_rows(10**9, 4) == 1  # at least one row


def test_ksg_counts_equal_the_trees_on_continuous_data():
    x, z = correlated(600, 3, 2, seed=0)
    assert same_estimate(x, z) > 0.3
    same_estimate(*correlated(300, 1, 1, seed=1), k=1)


def test_ksg_hand_worked_ties_on_the_device_path():
    # the k = 1 example of test_metrics_ksg.py, where distances tie with ε and must not count
    x, z = np.array([0.0, 1.0, 3.0, 4.0, 8.0]), np.array([0.0, 3.0, 1.0, 4.0, 2.0])
    assert same_estimate(x, z, k=1) == pytest.approx(-1.0 / 3.0, abs=1e-12)


def test_ksg_ties_of_binary_images_and_duplicates():
    rng = np.random.default_rng(2)
    # binary x: every distance between distinct images is 1; z on a coarse grid: many exact ties
    x = (rng.random((400, 50)) < 0.1).astype(np.float32)
    z = np.round(x[:, :3] + rng.standard_normal((400, 3)), 1)
    same_estimate(x, z)
    # exact duplicates: ε = 0 for k = 1, nothing strictly closer
    dup_x, dup_z = np.repeat(x[:50], 2, axis=0), np.repeat(z[:50], 2, axis=0)
    same_estimate(dup_x, dup_z, k=1)
    same_estimate(dup_x, dup_z, k=3)


def test_chunks_stay_within_the_budget_and_change_nothing(monkeypatch):
    x, z = correlated(257, 4, 2, seed=3)
    whole = ksg_mutual_information(x, z, device=CPU)
    rows_seen = []

    def recording(queries, points):
        rows_seen.append(len(queries))
        return torch.cdist(queries, points, p=float("inf"))

    monkeypatch.setattr(neighbours, "MEMORY_BYTES", 257 * 4 * 8 * 10)  # 10 rows per chunk
    monkeypatch.setattr(ksg, "max_norm_distances", recording)
    assert ksg_mutual_information(x, z, device=CPU) == whole
    assert max(rows_seen) == 10 and sum(rows_seen) == 2 * 257  # x and z, every row once

    train_z, test_z = np.random.default_rng(4).standard_normal((2, 200, 3))
    train_y, test_y = np.arange(200) % 4, np.arange(200) % 3
    assert knn_accuracy(train_z, train_y, test_z, test_y, device=CPU) == knn_accuracy(
        train_z, train_y, test_z, test_y
    )


def test_knn_equals_scikit_learn_on_continuous_codes():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((6, 8)) * 1.5
    train_y, test_y = rng.integers(0, 6, 1500), rng.integers(0, 6, 700)
    train_z = centres[train_y] + rng.standard_normal((1500, 8))
    test_z = centres[test_y] + rng.standard_normal((700, 8))
    ks = (1, 2, 3, 4, 5, 10)
    ours = knn_accuracy(torch.tensor(train_z, dtype=torch.float32), train_y, test_z, test_y, ks, device=CPU)
    reference = knn_accuracy(train_z.astype(np.float32), train_y, test_z, test_y, ks)
    assert ours == reference
    assert 0.3 < ours[5] < 1.0  # a non-trivial case


def test_knn_vote_ties_go_to_the_smallest_label_as_in_scikit_learn():
    # test point 0.0: neighbours 0.1 (5), 0.2 (3), 1.0 (3), 1.1 (5): k=1 -> 5, k=2 tie -> 3, k=3 -> 3,
    # k=4 tie -> 3; test point 1.2: 1.1 (5), 1.0 (3), 0.2 (3), 0.1 (5): 5, tie -> 3, 3, tie -> 3;
    # a third test point's label 7 is not among the training labels: never right
    train_z, train_y = np.array([[0.1], [0.2], [1.0], [1.1]]), np.array([5, 3, 3, 5])
    test_z, test_y = np.array([[0.0], [1.2], [0.0]]), np.array([3, 5, 7])
    expected = {1: 1 / 3, 2: 1 / 3, 3: 1 / 3, 4: 1 / 3}
    assert knn_accuracy(train_z, train_y, test_z, test_y, ks=(1, 2, 3, 4), device=CPU) == expected
    assert knn_accuracy(train_z, train_y, test_z, test_y, ks=(1, 2, 3, 4)) == expected


def test_knn_device_path_rejects_bad_k_first():
    with pytest.raises(ValueError, match="k must be in"):
        knn_accuracy(np.zeros((3, 1)), [0, 1, 0], np.zeros((2, 1)), [0, 1], ks=(5,), device=CPU)
