"""Brute-force nearest-neighbour distances in torch, chunked over rows, for the metrics of docs/maths.md §3
(KSG's max-norm counts, K-NN classification) on an accelerator.

Where a neighbour search runs is decided here and nowhere else (`search_device`): on the device
of the inputs when they live on an accelerator (a CUDA GPU), else on the CPU with the metric's
scipy / scikit-learn code; a caller can force torch on any device (tests run it on the CPU).

A chunk of `rows` query points against all N reference points holds a few [rows, N] float64
matrices: `chunk_rows` keeps them within `memory_bytes` (default 256 MiB), whatever N.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

MEMORY_BYTES = 2**28  # per chunk of distance matrices
FLOAT64_BYTES = 8


def search_device(*values, device: str | torch.device | None = None) -> torch.device | None:
    """The device a torch neighbour search runs on, or None for the CPU libraries: `device` when
    given; else the inputs' accelerator when any tensor is on one; else None."""
    if device is not None:
        return torch.device(device)
    for value in values:
        if isinstance(value, torch.Tensor) and value.device.type not in ("cpu", "meta"):
            return value.device
    return None


def chunk_rows(columns: int, matrices: int) -> int:
    """Query rows per chunk so that `matrices` float64 [rows, columns] matrices fit `MEMORY_BYTES`."""
    return max(1, MEMORY_BYTES // (columns * matrices * FLOAT64_BYTES))


def row_chunks(n: int, rows: int) -> Iterator[slice]:
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


def max_norm_distances(queries: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """[q, N] max-norm (L∞) distances ‖queries_i − points_j‖_∞, computed exactly: each entry is the
    largest |difference| of one coordinate, as scipy's cKDTree computes it."""
    return torch.cdist(queries, points, p=float("inf"))


def euclidean_distances(queries: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """[q, N] Euclidean distances, summed coordinate by coordinate (not through the ‖a‖² + ‖b‖² −
    2ab matrix product, whose cancellation would reorder near-equal neighbours)."""
    return torch.cdist(queries, points, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
