"""Importance-sampling estimates of the decoder marginal q(x) = E_{p(z)}[p(x|z)] (docs/maths.md §2, §3).

With S proposals z_s ~ q(z|x):
    log q(x) ~= logsumexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)] - log S.
The same estimator is the training-time log q(x) of MIM (S = 1, Algorithm 2) and the
evaluation NLL = -log q(x) (S large, `chunked_log_marginal`: the S proposals in chunks of bounded
size, combined exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch


def importance_log_marginal(
    log_px_z: torch.Tensor, log_pz: torch.Tensor, log_qz_x: torch.Tensor, dim: int = 0
) -> torch.Tensor:
    """log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x), the S samples along `dim`."""
    log_w = log_px_z + log_pz - log_qz_x  # fp32 or wider: the distributions cast (full_precision)
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def sample_log_marginal(
    model,
    x: torch.Tensor,
    samples: int,
    posterior=None,
    log_prior: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """log q(x) for a batch x by `samples` fresh proposals from q(z|x) (one batched pass).

    `posterior` may pass an already computed q(z|x) for x; `log_prior` is the latent density of
    the marginal (default: the model prior). Returns a vector [B].
    """
    log_prior = model.prior.log_prob if log_prior is None else log_prior
    posterior = model.encoder(x) if posterior is None else posterior
    z = posterior.rsample((samples,))  # [S, B, D]
    log_px_z = model.decoder(z.flatten(0, 1)).log_prob(x.repeat(samples, *[1] * (x.dim() - 1)))
    log_px_z = log_px_z.view(samples, -1)
    return importance_log_marginal(log_px_z, log_prior(z), posterior.log_prob(z))


def chunk_sizes(samples: int, chunk: int) -> list[int]:
    """`samples` cut into ceil(samples / chunk) near-equal parts of at most `chunk` each."""
    parts = -(-samples // chunk)
    return [samples // parts + (i < samples % parts) for i in range(parts)]


def chunked_log_marginal(
    model,
    x: torch.Tensor,
    samples: int,
    chunk: int,
    posterior=None,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """log q(x) for a batch x with S = `samples` proposals drawn at most `chunk` per pass.

    Every pass draws `s` proposals for each x of the batch (s × B rows through the decoder) and
    reduces them to log sum_s w_s at once; the passes are combined exactly by a running
    logaddexp (in float32 or wider), so the result is the one-pass estimate for the same draws.
    q(z|x) is computed once (for the two-level encoder: q(z2|x) and the image features of
    q(z1|x, z2)); each pass recomputes only what depends on the samples. `on_chunk(rows)` is
    called after every pass. Returns a vector [B].
    """
    posterior = model.encoder(x) if posterior is None else posterior
    log_sum = None
    for s in chunk_sizes(samples, chunk):
        part = sample_log_marginal(model, x, s, posterior) + math.log(s)  # log sum_s w_s
        log_sum = part if log_sum is None else torch.logaddexp(log_sum, part)
        if on_chunk is not None:
            on_chunk(s * len(x))
    return cast(torch.Tensor, log_sum) - math.log(samples)  # samples ≥ 1: at least one chunk
