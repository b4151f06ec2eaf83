"""The evaluation pass size R: the most (x, z) rows one evaluation pass holds (docs/gpu.md).

The importance-sampling NLL (`mimkit.evaluation.metrics.nll`, docs/maths.md §3) and the consistency gap
(`mimkit.evaluation.metrics.consistency`) draw many latent samples per data point; each pass sends at most R
(x, z) rows through the networks, and inside a pass the mixture priors (VampPrior, MoG) take its
rows at once (`mimkit.model.priors.chunked.pass_rows`). Peak memory is set by R, not by the number of
samples S or of data points; results do not depend on R (passes are combined exactly).

R is `callbacks.representation_metrics.rows_per_pass`; null picks a default per device:

- CPU: fixed values (`CPU_IMAGE_ROWS` for images, `CPU_ROWS` for flat data; how they were
  chosen: docs/performance.md, "Tuned constants"), the mixture priors keeping their own budget
  of `MAX_ELEMENTS` numbers per [rows, K, D] intermediate (`mimkit.model.priors.chunked`);
- CUDA: measured. Probe passes of 1, 2 and 4 × `PROBE_ROWS` give the peak memory per row c
  (the slopes between consecutive probes, so the fixed costs drop out; c is the largest, so one
  noisy pair cannot make it small); R = FREE_FRACTION × free / c, at most `MAX_GPU_ROWS`, where
  free is the device's free memory plus what torch's allocator holds unused. A slope ≤ 0 is
  noise, not a free row: if no slope is positive, probes of 8 and 16 × `PROBE_ROWS` follow, and
  if still none is, R falls back to the CPU default. The figure is logged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import torch

from mimkit.model.autoencoder import eval_mode
from mimkit.model.marginal import sample_log_marginal
from mimkit.model.priors.chunked import pass_rows

log = logging.getLogger(__name__)

# CPU rows per pass: flat data (a pass's activations stay in cache) and images (a convolutional
# decoder's activations per row); the timings behind both: docs/performance.md, "Tuned constants"
CPU_ROWS = 2**15
CPU_IMAGE_ROWS = 500
# CUDA: the share of free memory a pass may take (the rest: the allocator's rounding and blocks,
# other jobs sharing the device), the probe size, and a cap (no gain in speed beyond: an NLL
# batch of 32 points at S = 1000 is 32,000 rows)
FREE_FRACTION = 0.5
PROBE_ROWS = 64
MAX_GPU_ROWS = 2**16


def cpu_rows_per_pass(x: torch.Tensor) -> int:
    """R on a CPU for data x [N, ...]: CPU_IMAGE_ROWS for images ([N, C, H, W]), else CPU_ROWS."""
    return CPU_IMAGE_ROWS if x.dim() >= 4 else CPU_ROWS


def rows_from_memory(free_bytes: float, bytes_per_row: float) -> int:
    """R = FREE_FRACTION × free / (bytes per row > 0), between 1 and MAX_GPU_ROWS."""
    return int(min(MAX_GPU_ROWS, max(1, FREE_FRACTION * free_bytes // bytes_per_row)))


def cost_per_row(rows: Sequence[int], peaks: Sequence[float]) -> float | None:
    """The largest slope (bytes per row) between consecutive probes; None if none is positive."""
    slopes = [(p1 - p0) / (r1 - r0) for r0, r1, p0, p1 in zip(rows, rows[1:], peaks, peaks[1:])]
    positive = [s for s in slopes if s > 0]
    return max(positive) if positive else None


def _probe_peak(model, x: torch.Tensor, rows: int) -> int:
    """Bytes allocated at the peak of one IS pass of `rows` rows, above what was allocated before."""
    device = x.device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with pass_rows(rows):
        sample_log_marginal(model, x[:1], rows)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


@torch.no_grad()
def measured_rows_per_pass(model, x: torch.Tensor) -> int:
    """R on a CUDA device from its free memory and the measured memory per row of an IS pass of
    `model` on data like x (the model's RNG streams are left as they were). Logged."""
    device = x.device
    with eval_mode(model), torch.random.fork_rng(devices=[device]):
        _probe_peak(model, x, PROBE_ROWS)  # warm-up: cached prior components, cuDNN workspaces
        probes = [PROBE_ROWS, 2 * PROBE_ROWS, 4 * PROBE_ROWS]
        peaks = [_probe_peak(model, x, r) for r in probes]
        per_row = cost_per_row(probes, peaks)
        if per_row is None:  # noise: larger probes
            probes += [8 * PROBE_ROWS, 16 * PROBE_ROWS]
            peaks += [_probe_peak(model, x, r) for r in probes[3:]]
            per_row = cost_per_row(probes, peaks)
    if per_row is None:
        rows = cpu_rows_per_pass(x)
        log.warning(
            "evaluation passes: no memory per row measured on %s (probe peaks %s bytes at %s rows); "
            "using %d rows (callbacks.representation_metrics.rows_per_pass sets it)",
            device,
            peaks,
            probes,
            rows,
        )
        return rows
    free, _ = torch.cuda.mem_get_info(device)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    rows = rows_from_memory(free, per_row)
    log.info(
        "evaluation passes of %d rows on %s: %.2f GiB free, %.3f MiB per row measured, %.0f %% of "
        "free memory at most (callbacks.representation_metrics.rows_per_pass sets it)",
        rows,
        device,
        free / 2**30,
        per_row / 2**20,
        100 * FREE_FRACTION,
    )
    return rows


@contextlib.contextmanager
def evaluation_passes(model, x: torch.Tensor, rows: int | None = None):
    """Yields R for evaluating `model` on data x: `rows` if given, else the device's default.

    Inside the block the mixture priors evaluate up to R rows at once, except under the CPU
    default, where they keep their own element budget.
    """
    if rows is None and x.device.type != "cuda":
        yield cpu_rows_per_pass(x)
        return
    rows = measured_rows_per_pass(model, x) if rows is None else rows
    with pass_rows(rows):
        yield rows
