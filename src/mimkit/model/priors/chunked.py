"""Row-chunked evaluation of a mixture prior's log-density, with bounded memory (docs/maths.md §3, §5).

A mixture's log p(z) = logsumexp_k [log π_k + log p_k(z)] evaluated for N points at once holds
[N, K, D] intermediates (every point against every component, before the sum over the latent
dimensions D). For the evaluation passes, N is (points × importance samples), e.g. 32,000 for a
NLL pass, which with the toy VampPrior's K = 500 makes several 128 MB tensors per call.
`over_row_chunks` takes the rows of z a bounded number at a time and reduces each chunk to its
[rows] log-densities before the next, so no intermediate exceeds `max_elements` numbers
whatever N, K and the prior. Rows are independent, so the result is the unchunked one.

Inside an evaluation pass of a chosen size R (`pass_rows(R)`: configured, or measured on a GPU,
`mimkit.evaluation.metrics.pass_size`) the chunks are R rows instead: the pass size is then the one bound on
memory, and a pass's rows go through the prior at once.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from contextvars import ContextVar

import torch

# numbers in one [rows, K, D] intermediate: 16 MiB in float32. With one torch thread the toy
# VampPrior's log-density (32,000 rows, K = 500, D = 2) took the same time at 2^20 ... 2^30;
# with two threads on a busy 2-core machine, smaller chunks (more parallel regions) cost more.
MAX_ELEMENTS = 2**22

# the evaluation pass size in force (None: none chosen, the element budget applies)
_PASS_ROWS: ContextVar[int | None] = ContextVar("pass_rows", default=None)


@contextlib.contextmanager
def pass_rows(rows: int):
    """Inside the block, `rows_per_chunk` is `rows`: the priors take an evaluation pass whole."""
    token = _PASS_ROWS.set(rows)
    try:
        yield
    finally:
        _PASS_ROWS.reset(token)


def rows_per_chunk(max_elements: int, per_row: int) -> int:
    """Rows of z per chunk so that rows × `per_row` (= K × D) stays within `max_elements`, or the
    evaluation pass size when one is in force (`pass_rows`)."""
    rows = _PASS_ROWS.get()
    return max(1, max_elements // max(1, per_row)) if rows is None else rows


def over_row_chunks(
    log_prob: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, rows: int
) -> torch.Tensor:
    """`log_prob` ([r, D] -> [r]) applied to z [..., D] at most `rows` rows at a time; result [...].

    Small inputs (at most `rows` rows) go through in one call, as unchunked.
    """
    flat = z.reshape(-1, z.shape[-1])
    if len(flat) <= rows:
        return log_prob(z)
    # chunks of equal size written into one output: each chunk's intermediates are the same
    # size and no partial result stays allocated between them (less heap fragmentation)
    out: torch.Tensor | None = None
    start = 0
    for part in flat.tensor_split(math.ceil(len(flat) / rows)):
        value = log_prob(part)
        out = value.new_empty(len(flat)) if out is None else out
        out[start : start + len(part)] = value
        start += len(part)
    assert out is not None  # more than `rows` rows: at least one chunk
    return out.view(z.shape[:-1])
