"""Metrics of token sequences that need no chemistry (docs/maths.md §3): reconstruction
accuracy of id rows, and the uniqueness and novelty of generated strings."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mimkit.data.tokens import PAD


def reconstruction_accuracy(x: torch.Tensor, decoded: torch.Tensor) -> tuple[float, float]:
    """(exact-match rate, token accuracy) of `decoded` [N, T'] against the data `x` [N, T] (id rows,
    PAD after EOS): a row matches exactly when every token up to and including its EOS is decoded
    and nothing follows; token accuracy is the fraction of x's tokens (EOS included) decoded at
    their own position."""
    width = max(x.shape[1], decoded.shape[1])
    x = torch.nn.functional.pad(x, (0, width - x.shape[1]), value=PAD)
    decoded = torch.nn.functional.pad(decoded, (0, width - decoded.shape[1]), value=PAD)
    tokens = x != PAD
    same = decoded == x
    exact = same.all(dim=1).double().mean()
    return float(exact), float((same & tokens).sum() / tokens.sum())


def unique_fraction(strings: Sequence[str], k: int | None = None) -> float:
    """Distinct strings among the first k (all if None) over their number; nan for none."""
    first = list(strings[:k])
    return len(set(first)) / len(first) if first else float("nan")


def novel_fraction(strings: Sequence[str], reference: set[str] | frozenset[str]) -> float:
    """Distinct strings not in `reference` over the distinct strings (MOSES's novelty, no
    chemistry); nan for none."""
    distinct = set(strings)
    return len(distinct - reference) / len(distinct) if distinct else float("nan")
