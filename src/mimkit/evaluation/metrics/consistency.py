"""MIM's model-consistency gap (paper Eq. 10–11; docs/maths.md §1–2).

MIM's loss is the cross-entropy of the sample mixture M_S = ½(M_Q + M_P) under the two model
joints, ½ [CE(M_S, P) + CE(M_S, Q)], with P(x,z) = p(x|z) p(z) and Q(x,z) = q(z|x) q(x).
It upper-bounds the cross-entropy under their mixture M_θ = ½(P + Q); the gap

    R = E_{(x,z)~M_S} [ log ½(P(x,z) + Q(x,z)) − ½(log P(x,z) + log Q(x,z)) ]

is what pushes the encoding and decoding model distributions to agree. With a = log P and
b = log Q every pair contributes

    logaddexp(a, b) − log 2 − (a + b)/2 = log cosh((a − b)/2) ≥ 0,

(arithmetic ≥ geometric mean), zero exactly where P(x,z) = Q(x,z). R ≈ 0 therefore means the
encoder is the decoder's exact posterior, q(z|x) = p(x|z) p(z) / q(x).

Estimate: half the pairs are encoder pairs (x from the test data, z ~ q(z|x)), half decoder
pairs (z ~ P(z) = N(0, I), the latent anchor, and x ~ p(x|z)). log q(x) is the importance-sampling
estimate with S fresh proposals (`sample_log_marginal`), so for finite S, b carries the small
downward bias of that estimator. Every pass holds at most R (x, z) rows (the evaluation pass
size, `mimkit.evaluation.metrics.pass_size`); R does not change the estimate, only how it is cut.
"""

from __future__ import annotations

import math

import torch

from mimkit.evaluation.metrics.pass_size import evaluation_passes
from mimkit.model.marginal import chunked_log_marginal, sample_log_marginal


def gap_terms(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Per pair log ½(P + Q) − ½(log P + log Q) from a = log P, b = log Q.

    Each term is log cosh((a − b)/2) ≥ 0; the clamp only removes rounding below zero.
    """
    return (torch.logaddexp(log_p, log_q) - math.log(2.0) - 0.5 * (log_p + log_q)).clamp_min(0.0)


@torch.no_grad()
def model_log_joints(
    model, x: torch.Tensor, z: torch.Tensor, samples: int, rows: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log P(x,z), log Q(x,z)) per pair, log q(x) by importance sampling with S = `samples`, in
    passes of at most `rows` (x, z) rows (more samples than rows: one pair at a time, its samples
    in passes of `rows`)."""
    batch_size = max(1, rows // samples)
    log_p, log_q = [], []
    for start in range(0, len(x), batch_size):
        xb, zb = x[start : start + batch_size], z[start : start + batch_size]
        posterior = model.encoder(xb)
        log_p.append(model.decoder(zb).log_prob(xb) + model.prior.log_prob(zb))
        if samples <= rows:
            log_qx = sample_log_marginal(model, xb, samples, posterior)
        else:
            log_qx = chunked_log_marginal(model, xb, samples, rows, posterior)
        log_q.append(posterior.log_prob(zb) + log_qx)
    return torch.cat(log_p), torch.cat(log_q)


@torch.no_grad()
def mixture_pairs(model, x: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """2N pairs from M_S: (x, z ~ q(z|x)) for the N rows of x, then N (x ~ p(x|z), z ~ N(0, I));
    the networks see at most `rows` rows at a time."""
    z_enc = torch.cat([model.encoder(part).sample() for part in x.split(rows)])
    z_dec = torch.randn(len(x), z_enc.shape[-1], dtype=z_enc.dtype, device=z_enc.device)
    x_dec = torch.cat([model.decoder(part).sample() for part in z_dec.split(rows)]).to(x.dtype)
    return torch.cat([x, x_dec]), torch.cat([z_enc, z_dec])


def consistency_gap(model, x: torch.Tensor, samples: int = 100, max_pairs: int | None = None) -> float:
    """R on 2N pairs of M_S built from the N data points x (see the module docstring), nats; every
    pass holds at most `max_pairs` (x, z) rows (default: the device's,
    `mimkit.evaluation.metrics.pass_size`)."""
    with evaluation_passes(model, x, max_pairs) as rows:
        pairs_x, pairs_z = mixture_pairs(model, x, rows)
        log_p, log_q = model_log_joints(model, pairs_x, pairs_z, samples, rows)
    return float(gap_terms(log_p.double(), log_q.double()).mean())
