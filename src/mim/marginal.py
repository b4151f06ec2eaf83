"""Importance-sampling estimates of the decoder marginal q(x) = E_{p(z)}[p(x|z)] (spec §2, §3).

With S proposals z_s ~ q(z|x):
    log q(x) ~= logsumexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)] - log S.
The same estimator is the training-time log q(x) of MIM (S = 1, Algorithm 2) and the
evaluation NLL = -log q(x) (S large).
"""

from __future__ import annotations

import math

import torch


def importance_log_marginal(log_px_z: torch.Tensor, log_pz: torch.Tensor,
                            log_qz_x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x), the S samples along `dim`."""
    log_w = log_px_z + log_pz - log_qz_x
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def sample_log_marginal(model, x: torch.Tensor, samples: int, posterior=None) -> torch.Tensor:
    """log q(x) for a batch x by `samples` fresh proposals from q(z|x) (one batched pass).

    `posterior` may pass an already computed q(z|x) for x. Returns a vector [B].
    """
    posterior = model.encoder(x) if posterior is None else posterior
    z = posterior.rsample((samples,))                                  # [S, B, D]
    log_px_z = model.decoder(z.flatten(0, 1)).log_prob(x.repeat(samples, *[1] * (x.dim() - 1)))
    log_px_z = log_px_z.view(samples, -1)
    return importance_log_marginal(log_px_z, model.prior.log_prob(z), posterior.log_prob(z))
