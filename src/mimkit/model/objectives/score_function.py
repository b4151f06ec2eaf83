"""REINFORCE for samples x ~ p(x|z) that cannot be reparameterised (docs/maths.md §2, paper Sec. 5.2)."""

from __future__ import annotations

import torch


def leave_one_out_baseline(f: torch.Tensor, group: int = 1) -> torch.Tensor:
    """b_i = mean of the other pairs' losses, unbiased because pair i's x is drawn independently
    of them. `group` = 1: the other pairs of the batch. `group` = m > 1: consecutive runs of m
    pairs share one z (m draws x ~ p(x|z)) and b_i averages the other m - 1 pairs of its own
    group (RLOO, Kool et al. 2019), so b_i also cancels everything in f that depends on z only:
    log p(z), and most of the spread of log q(z|x) across z."""
    if group > 1:
        rows = f.view(-1, group)
        return ((rows.sum(dim=1, keepdim=True) - rows) / (group - 1)).view(-1)
    n = f.shape[0]
    if n < 2:
        return torch.zeros_like(f)
    return (f.sum() - f) / (n - 1)


def score_function_surrogate(
    f: torch.Tensor, log_prob: torch.Tensor, baseline: bool = True, group: int = 1
) -> torch.Tensor:
    """f + sg(f - b)·log p(x|z) - sg((f - b)·log p(x|z)).

    Its value equals f; its gradient adds (f - b) ∇ log p(x|z), the score-function term of
    ∇ E_{x~p(x|z)}[f]. `f` is the per-pair loss, `log_prob` the log-density of the sample;
    `group` as in `leave_one_out_baseline`.
    """
    f_detached = f.detach()
    if baseline:
        f_detached = f_detached - leave_one_out_baseline(f_detached, group)
    score = f_detached * log_prob
    return f + score - score.detach()
