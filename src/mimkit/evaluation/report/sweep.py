"""What a multirun sweeps: the overrides that vary between its jobs, the x axis among them, and
the ones that split lines instead of being averaged over."""

from __future__ import annotations

from mimkit.evaluation.report.messages import warn
from mimkit.evaluation.report.runs import Job
from mimkit.evaluation.report.values import hashable, is_number

SEED_KEY = "seed"
DEFAULT_GROUP = "objective"


def varying_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value differs between jobs (a key missing in a job counts as a value)."""
    keys = sorted({key for job in jobs for key in job.overrides})
    return [key for key in keys if len({hashable(job.overrides.get(key)) for job in jobs}) > 1]


def infer_x_key(jobs: list[Job], group: str) -> str | None:
    """The swept numeric override: varying, numeric in every job, not the seed nor the group.

    With several candidates the one with the most distinct values is taken (with a warning);
    None when nothing numeric is swept.
    """
    candidates = [
        key
        for key in varying_keys(jobs)
        if key not in (SEED_KEY, group) and all(is_number(job.overrides.get(key)) for job in jobs)
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda k: -len({job.overrides[k] for job in jobs}))
    if len(candidates) > 1:
        warn(
            f"several numeric overrides vary ({', '.join(candidates)}); x axis: {candidates[0]} "
            f"(choose with --x); the others label separate lines"
        )
    return candidates[0]


def extra_keys(jobs: list[Job], x_key: str | None, group: str) -> list[str]:
    """Varying overrides other than x, seed and group: they split lines instead of being averaged."""
    return [key for key in varying_keys(jobs) if key not in (SEED_KEY, group, x_key)]
