"""Aggregating jobs over seeds: one row per (line, x value) with each metric's mean, sample
standard deviation and count."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from mimkit.evaluation.report.runs import Job
from mimkit.evaluation.report.sweep import DEFAULT_GROUP, extra_keys
from mimkit.evaluation.report.values import format_value, hashable, sort_key


def mean_std(values: list[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (n - 1 in the denominator; None for n < 2) and n."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = statistics.mean(values)
    return {"mean": mean, "std": statistics.stdev(values, mean) if n > 1 else None, "n": n}


@dataclass
class Row:
    """The aggregate of the jobs that share a group value, extra settings and x value."""

    group: str
    label: str
    x: Any
    jobs: list[Job]
    metrics: dict[str, dict] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.jobs)


def aggregate(jobs: list[Job], x_key: str | None, group: str = DEFAULT_GROUP) -> list[Row]:
    """Rows (group, label, x) with each metric's mean/std/n over the jobs (seeds) they hold,
    ordered by label, then x. The label is the group value followed by `key=value` for every
    other varying override (`extra_keys`), so that different settings are never averaged.

    Non-finite metric values are left out of the statistics (and so of that metric's n).
    """
    extras = extra_keys(jobs, x_key, group)
    buckets: dict[tuple, Row] = {}
    for job in jobs:
        group_value = format_value(job.value(group))
        label = ", ".join([group_value] + [f"{k}={format_value(job.overrides.get(k))}" for k in extras])
        x = job.value(x_key) if x_key else None
        key = (label, hashable(x))
        if key not in buckets:
            buckets[key] = Row(group=group_value, label=label, x=x, jobs=[])
        buckets[key].jobs.append(job)
    rows = sorted(buckets.values(), key=lambda r: (r.label, sort_key(r.x)))
    for row in rows:
        for name in sorted({name for job in row.jobs for name in job.metrics}):
            values = [
                job.metrics[name]
                for job in row.jobs
                if name in job.metrics and math.isfinite(job.metrics[name])
            ]
            row.metrics[name] = mean_std(values)
    return rows
