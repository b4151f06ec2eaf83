"""REINFORCE for samples x ~ p(x|z) that cannot be reparameterised (spec §2, paper Sec. 5.2)."""

from __future__ import annotations

import torch


def leave_one_out_baseline(f: torch.Tensor) -> torch.Tensor:
    """b_i = mean of the other pairs' losses: unbiased, and it cuts the estimator's variance."""
    n = f.shape[0]
    if n < 2:
        return torch.zeros_like(f)
    return (f.sum() - f) / (n - 1)


def score_function_surrogate(f: torch.Tensor, log_prob: torch.Tensor,
                             baseline: bool = True) -> torch.Tensor:
    """f + sg(f - b)·log p(x|z) - sg((f - b)·log p(x|z)).

    Its value equals f; its gradient adds (f - b) ∇ log p(x|z), the score-function term of
    ∇ E_{x~p(x|z)}[f]. `f` is the per-pair loss, `log_prob` the log-density of the sample.
    """
    f_detached = f.detach()
    if baseline:
        f_detached = f_detached - leave_one_out_baseline(f_detached)
    score = f_detached * log_prob
    return f + score - score.detach()
