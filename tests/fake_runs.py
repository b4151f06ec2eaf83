"""Fake Hydra job directories for the report tests: what a multirun leaves on disk, made by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

# (objective, hidden, seed, metrics) of the fake jobs; None: the job failed (no metrics.json)
JOBS = [
    ("mim", 5, 1, {"test/mi": 4.0, "test/nll": 3.0, "test/recon": 0.5, "test/knn5": 0.8}),
    ("mim", 5, 2, {"test/mi": 5.0, "test/nll": 3.5, "test/recon": 0.3, "test/knn5": 0.9}),
    ("mim", 500, 1, {"test/mi": 6.8, "test/nll": 3.2, "test/recon": 0.01, "test/knn5": 0.95}),
    ("mim", 500, 2, {"test/mi": 6.6, "test/nll": 3.4, "test/recon": 0.03, "test/knn5": 0.93}),
    ("mim", 500, 3, {"test/mi": 7.0, "test/nll": 3.0, "test/recon": 0.02, "test/knn5": 0.97}),
    ("vae", 5, 1, {"test/mi": 0.0, "test/nll": 2.8, "test/recon": 0.9, "test/knn5": 0.5}),
    ("vae", 5, 2, {"test/mi": 0.2, "test/nll": 2.9, "test/recon": 0.8, "test/knn5": 0.6}),
    ("vae", 500, 1, {"test/mi": 1.4, "test/nll": 2.6, "test/recon": 0.5}),  # no knn5 here
    ("vae", 500, 2, {"test/mi": 1.6, "test/nll": 2.7, "test/recon": 0.4, "test/knn5": 0.74}),
    ("vae", 500, 3, None),
]


def make_job(
    root: Path,
    num: int | str,
    objective: str,
    hidden: int,
    seed: int,
    metrics: dict | None,
    extra: dict | None = None,
) -> Path:
    """`root/num` as Hydra writes a job: .hydra/{overrides,config,hydra}.yaml, and metrics.json
    (the given metrics plus a few constant ones) unless `metrics` is None (a failed job)."""
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    overrides = [f"objective={objective}", f"model.hidden={hidden}", f"seed={seed}"]
    overrides += [f"{k}={v}" for k, v in (extra or {}).items()]
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {
        "seed": seed,
        "model": {"latent_dim": 2, "hidden": hidden, "encoder": {"hidden": "${model.hidden}"}},
        "objective": {"_target_": f"mimkit.model.objectives.{objective}.{objective.upper()}"},
        "data": {"x_dim": 2, "seed": "${seed}"},
    }
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (job / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"runtime": {"choices": {"objective": objective, "model": "mlp"}}}})
    )
    if metrics is not None:
        full = {
            "val/loss": 1.0 + seed,
            "test/loss": 2.0,
            "train/epochs": 10.0 * seed,
            "time/fit_s": 1.5,
            "time/total_s": 2.0,
            **metrics,
        }
        (job / "metrics.json").write_text(json.dumps(full))
    return job


def values_with(mean: float, std: float | None, n: int) -> list[float]:
    """n values whose mean is `mean` and sample std `std`: mean ± a·std on two of them, the rest
    at the mean, with a = sqrt((n - 1) / 2) so that 2 a² std² / (n - 1) = std²."""
    if n == 1:
        return [mean]
    a = math.sqrt((n - 1) / 2)
    return [mean + a * std, mean - a * std] + [mean] * (n - 2)


def rebuild_multirun(results: dict, cwd: Path) -> Path:
    """The job directories of a results.json, under `cwd`: each row's jobs get its group as
    `objective`, its x as the swept override, seeds 1..n, and metric values with the row's mean,
    std and n (a metric with n = 0 reads NaN in every job); skipped jobs as dirs without metrics.
    Returns the multirun dir, relative."""
    assert all(row["label"] == row["group"] for row in results["rows"]), "extra keys not rebuilt"
    multirun = Path(results["multirun"])
    for row in results["rows"]:
        jobs = [Path(path).name for path in row["jobs"]]
        metrics: list[dict] = [{} for _ in jobs]
        for name, stats in row["metrics"].items():
            values = (
                [math.nan] * len(jobs)
                if stats["n"] == 0
                else values_with(stats["mean"], stats["std"], stats["n"])
            )
            for job_metrics, value in zip(metrics, values):
                job_metrics[name] = value
        for seed, (num, job_metrics) in enumerate(zip(jobs, metrics), start=1):
            job = cwd / multirun / num
            (job / ".hydra").mkdir(parents=True)
            overrides = [f"objective={row['group']}", f"seed={seed}"]
            if results["x"] is not None:
                overrides.append(f"{results['x']}={row['x']}")
            (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
            (job / "metrics.json").write_text(json.dumps(job_metrics))
    for path in results.get("skipped", []):  # jobs without metrics.json (e.g. cut off mid-run)
        (cwd / multirun / Path(path).name / ".hydra").mkdir(parents=True)
    return multirun


def fake_multirun(root: Path) -> Path:
    """The jobs of JOBS as a multirun under `root` (job 9 failed), with Hydra's multirun.yaml."""
    for num, (objective, hidden, seed, metrics) in enumerate(JOBS):
        make_job(root, num, objective, hidden, seed, metrics)
    (root / "multirun.yaml").write_text("hydra: {}\n")  # Hydra's top-level file: not a job
    return root
