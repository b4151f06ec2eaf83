"""Negative log-likelihood −log q(x) of test data under the decoder marginal (spec §3).

Importance sampling with the encoder as proposal, S samples z_s ~ q(z|x):

    −log q(x) ≈ −(logsumexp_s [log p(x|z_s) + log p(z_s) − log q(z_s|x)] − log S).

`nll_is` is the multi-sample estimate (S = 5000 for images in the paper's protocol);
`nll_one_sample` is the S = 1 estimate the reference reported for the toy figures. Both are
upper bounds in expectation (Jensen), with a gap that shrinks as S grows (Burda et al. 2016);
the gap is zero for any S when q(z|x) is the exact posterior.
"""

from __future__ import annotations

import torch

from mim.config import positive_int
from mim.marginal import sample_log_marginal

# rows (x, z_s pairs) sent through the decoder per pass. On the 2-core CPU, 8k-32k rows were
# fastest for the toy MLPs (hidden activations of a few MB stay in cache; 1.3-1.8 s for 10,000 x
# at S = 1000 against 2.4-3.1 s at 131k-1M rows); image decoders may want fewer.
MAX_PAIRS = 2**15


def _batches(x: torch.Tensor, batch_size: int):
    positive_int("batch_size", batch_size)
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


@torch.no_grad()
def nll_per_example(model, x: torch.Tensor, samples: int = 1000, batch_size: int = 32,
                    max_pairs: int = MAX_PAIRS) -> torch.Tensor:
    """−log q(x) for every row of x [N, ...] by importance sampling with S = `samples`.

    x is scored `batch_size` examples at a time; within a batch the S samples are drawn in
    chunks of at most `max_pairs` // batch_size and combined exactly (`Autoencoder.nll`).
    """
    positive_int("samples", samples)
    parts = []
    for batch in _batches(x, batch_size):
        chunk = max(1, min(samples, max_pairs // len(batch)))
        parts.append(model.nll(batch, samples=samples, chunk=chunk))
    return torch.cat(parts)


def nll_is(model, x: torch.Tensor, samples: int = 1000, batch_size: int = 32,
           max_pairs: int = MAX_PAIRS) -> float:
    """Mean over x of the S-sample importance-sampling estimate of −log q(x) (spec §3)."""
    return float(nll_per_example(model, x, samples, batch_size, max_pairs).double().mean())


@torch.no_grad()
def nll_one_sample(model, x: torch.Tensor, batch_size: int = 10000) -> float:
    """Mean of −[log p(x|z) + log p(z) − log q(z|x)] with one z ~ q(z|x) per x (spec §3).

    The estimate the reference reported for the toy figures; it equals `nll_is` with S = 1.
    """
    parts = [-sample_log_marginal(model, batch, 1) for batch in _batches(x, batch_size)]
    return float(torch.cat(parts).double().mean())
