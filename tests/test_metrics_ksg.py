"""KSG estimator (docs/maths.md §3) against closed forms and a hand-worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mimkit.evaluation.metrics.ksg import ksg_mutual_information

EULER_GAMMA = 0.5772156649015329


def psi(n: int) -> float:
    """Digamma at a positive integer: ψ(n) = −γ + Σ_{j=1}^{n−1} 1/j."""
    return -EULER_GAMMA + sum(1.0 / j for j in range(1, n))


def correlated_gaussians(n: int, d: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """d independent pairs (x_i, z_i), each standard normal with correlation rho."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    z = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, d))
    return x, z


def test_hand_worked_example_k1():
    # points (x, z): joint max-norm distances
    #        P1  P2  P3  P4
    #   P0    3   3   4   8
    #   P1        2   3   7
    #   P2            3   5
    #   P3                4
    # ε (k = 1) = [3, 2, 2, 3, 4]
    # n_x: P0 |x|-dists 1,3,4,8 < 3 -> 1 (the 3 ties with ε and is not counted); P1 1,2,3,7 < 2 -> 1;
    #      P2 3,2,1,5 < 2 -> 1; P3 4,3,1,4 < 3 -> 1; P4 8,7,5,4 < 4 -> 0
    # n_z: P0 3,1,4,2 < 3 -> 2; P1 3,2,1,1 < 2 -> 2; P2 1,2,3,1 < 2 -> 2; P3 4,1,3,2 < 3 -> 2;
    #      P4 2,1,1,2 < 4 -> 4
    x = [0.0, 1.0, 3.0, 4.0, 8.0]
    z = [0.0, 3.0, 1.0, 4.0, 2.0]
    n_x, n_z = [1, 1, 1, 1, 0], [2, 2, 2, 2, 4]
    expected = psi(1) + psi(5) - np.mean([psi(a + 1) + psi(b + 1) for a, b in zip(n_x, n_z)])
    assert expected == pytest.approx(-1.0 / 3.0)  # 25/12 − (10 + 25/12)/5, the γ's cancel
    columns = np.array(x)[:, None], np.array(z)[:, None]
    assert ksg_mutual_information(*columns, k=1) == pytest.approx(expected, abs=1e-12)
    # torch input, 1-D vectors and float32 give the same numbers
    assert ksg_mutual_information(torch.tensor(x), torch.tensor(z), k=1) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("d, rho", [(1, 0.9), (1, 0.5), (2, 0.8), (3, 0.6)])
def test_correlated_gaussians_match_closed_form(d, rho):
    x, z = correlated_gaussians(5000, d, rho, seed=d)
    truth = -0.5 * d * math.log(1 - rho**2)
    estimate = ksg_mutual_information(x, z, k=5)
    assert estimate == pytest.approx(truth, abs=0.03 + 0.03 * truth)


def test_independent_data_gives_about_zero():
    rng = np.random.default_rng(3)
    x, z = rng.standard_normal((5000, 2)), rng.uniform(size=(5000, 3))
    assert abs(ksg_mutual_information(x, z, k=5)) < 0.02


def test_invariant_to_point_order_and_finite_with_duplicates():
    x, z = correlated_gaussians(500, 1, 0.7, seed=5)
    order = np.random.default_rng(0).permutation(500)
    shuffled = ksg_mutual_information(x[order], z[order])
    assert shuffled == pytest.approx(ksg_mutual_information(x, z), abs=1e-12)
    # exact duplicates (ε = 0 for k = 1: nothing is strictly closer) stay finite, with and
    # without the tie-breaking jitter
    dup_x, dup_z = np.repeat(x, 2, axis=0), np.repeat(z, 2, axis=0)
    assert math.isfinite(ksg_mutual_information(dup_x, dup_z, k=1))
    assert math.isfinite(ksg_mutual_information(dup_x, dup_z, k=1, jitter=1e-6))


def test_rejects_bad_input():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError):
        ksg_mutual_information(x, np.zeros((9, 2)))
    with pytest.raises(ValueError):
        ksg_mutual_information(x, x, k=0)
    with pytest.raises(ValueError):
        ksg_mutual_information(x[:5], x[:5], k=5)
