"""Negative log-likelihood −log q(x) of test data under the decoder marginal (docs/maths.md §3).

Importance sampling with the encoder as proposal, S samples z_s ~ q(z|x):

    −log q(x) ≈ −(logsumexp_s [log p(x|z_s) + log p(z_s) − log q(z_s|x)] − log S).

`nll_is` is the multi-sample estimate (S = 5000 for images in the paper's protocol);
`nll_one_sample` is the S = 1 estimate the reference reported for the toy figures. Both are
upper bounds in expectation (Jensen), with a gap that shrinks as S grows (Burda et al. 2016);
the gap is zero for any S when q(z|x) is the exact posterior.

Cost and memory. Test points are scored `batch_size` at a time, their S samples in passes of at
most R = `max_pairs` (x, z) rows (the evaluation pass size, `mimkit.evaluation.metrics.pass_size`;
`mimkit.model.marginal.chunked_log_marginal`): q(z|x) — for the image models the convolutions of
q(z2|x) and of q(z1|x, ·) — is computed once per batch, each pass runs only the sample-dependent
part (the dense layers of q(z1|x, z2), the priors, the decoder), and the VampPrior's K
components are encoded once (eval mode, no gradients; the model is switched to eval mode for the
pass if it is not already). For the image models the decoder over the S samples is nearly all of
the time (docs/performance.md). Peak memory grows with R, not with S.
A long estimate logs its progress (images done, time left) at most every `progress_every` s.
"""

from __future__ import annotations

import logging
import time

import torch

from mimkit.evaluation.metrics.pass_size import evaluation_passes
from mimkit.model.autoencoder import eval_mode
from mimkit.model.marginal import chunked_log_marginal, sample_log_marginal

log = logging.getLogger(__name__)

# seconds between two progress lines of a long estimate
PROGRESS_EVERY = 60.0


def _batches(x: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Logs how far an estimate over `points` test points with `samples` samples each is: points
    done (whole ones), the total, time elapsed and left (at the mean rate so far). At most one
    line per `every` seconds, so a short estimate says nothing; None: never."""

    def __init__(self, points: int, samples: int, every: float | None = PROGRESS_EVERY, name: str = "IS-NLL"):
        self.points, self.samples, self.every, self.name = points, samples, every, name
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.reported = False

    def advance(self, pairs: int) -> None:
        self.done += pairs
        now = time.perf_counter()
        if self.every is None or now - self.last < self.every:
            return
        self.last, elapsed, total = now, now - self.start, self.points * self.samples
        left = elapsed * (total - self.done) / max(self.done, 1)
        log.info(
            "%s (S = %d): %d/%d test points (%.1f %%), %s elapsed, %s left",
            self.name,
            self.samples,
            self.done // self.samples,
            self.points,
            100 * self.done / total,
            _clock(elapsed),
            _clock(left),
        )
        self.reported = True

    def finish(self) -> None:
        if self.reported:
            elapsed = time.perf_counter() - self.start
            log.info(
                "%s (S = %d): %d test points in %s (%.2f s per point)",
                self.name,
                self.samples,
                self.points,
                _clock(elapsed),
                elapsed / max(self.points, 1),
            )


@torch.no_grad()
def nll_per_example(
    model,
    x: torch.Tensor,
    samples: int = 1000,
    batch_size: int = 32,
    max_pairs: int | None = None,
    progress_every: float | None = PROGRESS_EVERY,
) -> torch.Tensor:
    """−log q(x) for every row of x [N, ...] by importance sampling with S = `samples`.

    x is scored at most `batch_size` examples at a time; within a batch the S samples are drawn
    in passes of at most `max_pairs` (x, z) rows (default: the device's,
    `mimkit.evaluation.metrics.pass_size`) and combined exactly. The model runs in eval mode (its
    modes are restored afterwards).
    """
    progress = Progress(len(x), samples, progress_every)
    parts = []
    with eval_mode(model), evaluation_passes(model, x, max_pairs) as max_pairs:
        for batch in _batches(x, min(batch_size, max_pairs)):
            chunk = max(1, min(samples, max_pairs // len(batch)))
            parts.append(-chunked_log_marginal(model, batch, samples, chunk, on_chunk=progress.advance))
    progress.finish()
    return torch.cat(parts)


def nll_is(
    model,
    x: torch.Tensor,
    samples: int = 1000,
    batch_size: int = 32,
    max_pairs: int | None = None,
    progress_every: float | None = PROGRESS_EVERY,
) -> float:
    """Mean over x of the S-sample importance-sampling estimate of −log q(x) (docs/maths.md §3)."""
    return float(nll_per_example(model, x, samples, batch_size, max_pairs, progress_every).double().mean())


@torch.no_grad()
def nll_one_sample(model, x: torch.Tensor, batch_size: int = 10000) -> float:
    """Mean of −[log p(x|z) + log p(z) − log q(z|x)] with one z ~ q(z|x) per x (docs/maths.md §3).

    The estimate the reference reported for the toy figures; it equals `nll_is` with S = 1.
    """
    with eval_mode(model):
        parts = [-sample_log_marginal(model, batch, 1) for batch in _batches(x, batch_size)]
    return float(torch.cat(parts).double().mean())
