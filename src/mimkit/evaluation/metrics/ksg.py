"""KSG mutual-information estimator (Kraskov, Stögbauer, Grassberger 2004, algorithm 1; docs/maths.md §3).

    I(X; Z) ≈ ψ(k) + ψ(N) − ⟨ψ(n_x + 1) + ψ(n_z + 1)⟩

ε_i is the max-norm distance from point i to its k-th nearest neighbour in the joint space
(x, z), where the joint max-norm is max(‖x_i − x_j‖_∞, ‖z_i − z_j‖_∞); n_x(i) (n_z(i)) is the
number of other points strictly closer than ε_i to point i in the marginal space of x (z).
The result is in nats.

All neighbour searches use k-d trees (scipy's cKDTree, p = ∞): O(N) memory, no N × N distance
matrix is ever formed. The joint k-NN query is O(N log N); the marginal counts cost
O(log N + n_x/leafsize) per point. For informative codes (z keeps x, as a trained encoder's)
the n's stay O(k) and the whole estimate is O(N log N); for nearly independent x and z the
counts grow as √(kN) and the cost towards N^1.25–1.5 (timings: docs/performance.md,
benchmarks/metrics_pass.py). The trees use the run's torch thread count (`threads`).

Inputs on an accelerator are counted there instead (`mimkit.evaluation.metrics.neighbours`): every point's
max-norm distances to all N points in x and in z, chunked over rows, in float64, give ε (the
(k+1)-th smallest joint distance, the point itself first) and both strict counts in one pass, the
same integers as the trees' (tested against them, ties included). 784-D images make the trees
slow (34.5 s for 3,000 MNIST pairs on the 2-core CPU) and the brute force fast on a GPU.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma

from mimkit.evaluation.metrics.neighbours import chunk_rows, max_norm_distances, row_chunks, search_device


def _as_points(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    points = np.asarray(values, dtype=np.float64)
    if points.ndim == 0:
        raise ValueError(f"{name} must be [N, ...], got a scalar")
    points = points.reshape(len(points), -1)  # [N] -> [N, 1]; images [N, C, H, W] -> [N, CHW]
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} holds non-finite values")
    return points


def _strictly_closer(points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For every point i, the number of other points j with ‖p_j − p_i‖_∞ < radii[i]."""
    tree = cKDTree(points)
    # cKDTree counts distances <= r (itself included); the largest float below ε turns that into
    # the strict "< ε" of the estimator, exactly, for max-norm distances (no arithmetic rounding)
    below = np.nextafter(radii, 0.0)
    counts = tree.query_ball_point(
        points, below, p=np.inf, return_length=True, workers=torch.get_num_threads()
    )
    counts = np.asarray(counts, dtype=np.int64) - 1
    counts[radii <= 0.0] = 0  # a duplicate at distance 0 = ε: nothing is strictly closer
    return counts


def _tree_counts(xs: np.ndarray, zs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_x, n_z) with k-d trees on the CPU."""
    joint = np.concatenate([xs, zs], axis=1)
    # k + 1 neighbours: the first is the point itself (distance 0)
    distances, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf, workers=torch.get_num_threads())
    eps = distances[:, -1]
    return _strictly_closer(xs, eps), _strictly_closer(zs, eps)


def _brute_force_counts(
    xs: np.ndarray, zs: np.ndarray, k: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """(n_x, n_z) from all pairwise max-norm distances on `device`, chunked over rows: a point's
    joint distance to j is max(‖x_i − x_j‖_∞, ‖z_i − z_j‖_∞), ε its (k+1)-th smallest (the point
    itself, at 0, is the first), and n_x = #{j ≠ i: ‖x_i − x_j‖_∞ < ε} (0 when ε = 0)."""
    x = torch.from_numpy(xs).to(device)
    z = torch.from_numpy(zs).to(device)
    n_x, n_z = [], []
    for rows in row_chunks(len(x), chunk_rows(len(x), matrices=4)):
        dx, dz = max_norm_distances(x[rows], x), max_norm_distances(z[rows], z)
        eps = torch.maximum(dx, dz).topk(k + 1, dim=1, largest=False).values[:, k : k + 1]
        positive = eps[:, 0] > 0  # the point itself (distance 0) is strictly closer than ε > 0
        n_x.append(torch.where(positive, (dx < eps).sum(1) - 1, 0))
        n_z.append(torch.where(positive, (dz < eps).sum(1) - 1, 0))
    return torch.cat(n_x).cpu().numpy(), torch.cat(n_z).cpu().numpy()


def ksg_mutual_information(
    x, z, k: int = 5, jitter: float = 0.0, seed: int = 0, device: str | torch.device | None = None
) -> float:
    """I(x; z) in nats from N paired samples x [N, dx], z [N, dz] (torch or numpy; extra
    dimensions are flattened).

    k: the neighbour order (docs/maths.md §3: k = 5). jitter: if > 0, Gaussian noise of std
    `jitter` × (each column's std) is added before the search, as Kraskov et al. advise for data
    with exact ties (duplicate points make ε = 0); continuous model samples need none, so it is
    off by default. seed: the noise's seed (the estimate stays a deterministic function of x, z).
    device: where the neighbours are counted (`mimkit.evaluation.metrics.neighbours.search_device`: by default
    the inputs' accelerator, else k-d trees on the CPU); the estimate is the same either way.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    xs, zs = _as_points(x, "x"), _as_points(z, "z")
    n = len(xs)
    if len(zs) != n:
        raise ValueError(f"x and z must hold the same number of points, got {n} and {len(zs)}")
    if n <= k:
        raise ValueError(f"need more than k = {k} points, got {n}")
    if jitter > 0:
        rng = np.random.default_rng(seed)
        xs = xs + jitter * xs.std(axis=0) * rng.standard_normal(xs.shape)
        zs = zs + jitter * zs.std(axis=0) * rng.standard_normal(zs.shape)
    where = search_device(x, z, device=device)
    n_x, n_z = _tree_counts(xs, zs, k) if where is None else _brute_force_counts(xs, zs, k, where)
    estimate = digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_z + 1))
    return float(estimate)
