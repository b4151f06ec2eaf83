"""Row-chunked evaluation of a mixture prior's log-density, with bounded memory (spec §3, §5).

A mixture's log p(z) = logsumexp_k [log π_k + log p_k(z)] evaluated for N points at once holds
[N, K, D] intermediates (every point against every component, before the sum over the latent
dimensions D). For the evaluation passes, N is (points × importance samples), e.g. 32,000 for a
NLL pass, which with the toy VampPrior's K = 500 makes several 128 MB tensors per call.
`over_row_chunks` takes the rows of z a bounded number at a time and reduces each chunk to its
[rows] log-densities before the next, so no intermediate exceeds `max_elements` numbers
whatever N, K and the prior. Rows are independent, so the result is the unchunked one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mimkit.config import positive_int

# numbers in one [rows, K, D] intermediate: 16 MiB in float32. With one torch thread the toy
# VampPrior's log-density (32,000 rows, K = 500, D = 2) took the same time at 2^20 ... 2^30;
# with two threads on a busy 2-core machine, smaller chunks (more parallel regions) cost more.
MAX_ELEMENTS = 2**22


def rows_per_chunk(max_elements: int, per_row: int) -> int:
    """Rows of z per chunk so that rows × `per_row` (= K × D) stays within `max_elements`."""
    positive_int("max_elements", max_elements)
    return max(1, max_elements // max(1, per_row))


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
    out, start = None, 0
    for part in flat.tensor_split(math.ceil(len(flat) / rows)):
        value = log_prob(part)
        out = value.new_empty(len(flat)) if out is None else out
        out[start : start + len(part)] = value
        start += len(part)
    return out.view(z.shape[:-1])
