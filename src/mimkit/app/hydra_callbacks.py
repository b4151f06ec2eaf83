"""Hydra callbacks: fail fast, in one line, when the run (or sweep) dir cannot be written; at the
end of a multirun, list the jobs that failed.

A job of a multirun that fails (a config error, a non-finite loss, any exception) does not stop
the sweep: `mimkit.app.cli.run_task` logs its error, writes it to `failure.json` in the job's dir and
returns. `ReportFailures` then gathers those files into `failures.json` in the sweep dir, logs
one line naming the failed jobs and ends the sweep with exit status 1.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mimkit.app.config import unwritable_reason

log = logging.getLogger("mim")

JOB_FAILURE = "failure.json"  # in a failed job's dir
SWEEP_FAILURES = "failures.json"  # in the sweep dir, when some jobs failed


def record_failure(job_dir: str | Path, job: int, overrides: list[str], error: str) -> Path:
    """Write a failed job's number, overrides and one-line error to `job_dir/failure.json`."""
    path = Path(job_dir) / JOB_FAILURE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job": job, "overrides": list(overrides), "error": error}, indent=2) + "\n")
    return path


def sweep_failures(sweep_dir: str | Path) -> tuple[list[dict], list[list[str]]]:
    """The failure records of the jobs under `sweep_dir` (by job number) and the overrides of
    every job (of each dir with .hydra/overrides.yaml)."""
    root = Path(sweep_dir)
    records = []
    for path in root.rglob(JOB_FAILURE):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            record = {"job": None, "overrides": [], "error": f"unreadable {path}"}
        records.append({**record, "dir": str(path.parent)})
    jobs = []
    for path in root.rglob("overrides.yaml"):
        if path.parent.name == ".hydra":
            try:
                jobs.append([str(o) for o in OmegaConf.load(path)])
            except Exception:  # unreadable: still a job
                jobs.append([])
    return sorted(records, key=lambda r: (r["job"] is None, r["job"] or 0, r["dir"])), jobs


def _swept(overrides: list[str], jobs: list[list[str]]) -> list[str]:
    """The overrides of a job that not every job of the sweep shares (its sweep values)."""
    return [o for o in overrides if not all(o in job for job in jobs)]


class CheckOutputDir(Callback):
    def _check(self, key: str, path: str) -> None:
        reason = unwritable_reason(path)
        if reason:
            print(f"error: {key} {path!r} is not writable: {reason}", file=sys.stderr)
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)  # so ${hydra:...} in the dir resolves
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)


class ReportFailures(Callback):
    """At the end of a multirun: `failures.json` in the sweep dir and one error line if any job
    failed (then exit status 1); a `failures.json` of an earlier sweep in that dir is removed."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        records, jobs = sweep_failures(sweep_dir)
        target = sweep_dir / SWEEP_FAILURES
        if not records:
            target.unlink(missing_ok=True)
            return
        target.write_text(json.dumps(records, indent=2) + "\n")
        failed = ", ".join(f"job {r['job']} ({' '.join(_swept(r['overrides'], jobs))})" for r in records)
        line = f"{len(records)} of {len(jobs)} jobs failed: {failed}; their errors are in {target}"
        log.error(line)
        print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
