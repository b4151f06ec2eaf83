"""Resumable sweeps: a re-run job whose run dir already holds its results is not trained again.

Every job that `mimkit.app.run.train` completes writes `metrics.json` and then `finished.json`, the
Hydra overrides it ran with. With `skip_finished=true`, `train` first looks in its run dir: a
complete metrics.json (a non-empty JSON object of numbers holding the optimized metric, plus
maybe the `skipped` record) beside a finished.json of the same overrides (in any order,
`skip_finished` itself aside) is a finished job, and its metrics are returned instead of training
again (one log line says so). Anything else (no or partial metrics.json, other overrides, a job
killed between the two files) trains again. Re-running a multirun with the same `hydra.sweep.dir`
thus completes it: Hydra gives every job the same sub-directory again (docs/sweeps.md). The
overrides, not the config files, identify a job: after editing a config or the code, use a new
sweep dir.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

log = logging.getLogger(__name__)

FINISHED_NAME = "finished.json"
METRICS_NAME = "metrics.json"
IGNORED_KEYS = frozenset({"skip_finished"})  # turning skipping on does not make another job
# metrics.json's one entry that is not a number: {metric or picture: why it was skipped}
SKIPPED = "skipped"


def job_overrides() -> list[str] | None:
    """The running Hydra job's task overrides (`key=value` strings), None outside Hydra."""
    if not HydraConfig.initialized():
        return None
    return [str(override) for override in HydraConfig.get().overrides.task]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def same_job(recorded: list[str], overrides: list[str]) -> bool:
    """Whether two override lists set the same values, order and IGNORED_KEYS aside."""

    def kept(items: list[str]) -> list[str]:
        return sorted(item for item in items if _key(item) not in IGNORED_KEYS)

    return kept(recorded) == kept(overrides)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def complete_metrics(path: Path, optimized_metric: str | None) -> dict[str, float] | None:
    """The metrics of a complete metrics.json (a non-empty JSON object of numbers that holds
    `optimized_metric` when one is named), else None."""
    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get(SKIPPED), dict):
        data = {name: value for name, value in data.items() if name != SKIPPED}
    if not isinstance(data, dict) or not data:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()):
        return None
    if optimized_metric and optimized_metric not in data:
        return None
    return {name: float(value) for name, value in data.items()}


def finished_metrics(
    output_dir: Path, overrides: list[str] | None, optimized_metric: str | None
) -> tuple[dict[str, float] | None, str]:
    """(metrics, why) of a job run with `overrides` in `output_dir`: the metrics when it already
    finished there, else None and the reason it did not."""
    if overrides is None:
        return None, "not a Hydra job (no overrides to compare)"
    metrics = complete_metrics(output_dir / METRICS_NAME, optimized_metric)
    if metrics is None:
        exists = (output_dir / METRICS_NAME).exists()
        return None, f"{METRICS_NAME} is {'incomplete' if exists else 'missing'}"
    record = _read_json(output_dir / FINISHED_NAME)
    if not (isinstance(record, dict) and isinstance(record.get("overrides"), list)):
        return None, f"no readable {FINISHED_NAME} beside {METRICS_NAME}"
    if not same_job([str(item) for item in record["overrides"]], overrides):
        return None, f"{METRICS_NAME} holds the results of other overrides"
    return metrics, "finished"


def skip_if_finished(output_dir: str | Path, optimized_metric: str | None) -> dict[str, float] | None:
    """The job's stored metrics if it already finished in `output_dir` (logged), else None
    (the reason logged too)."""
    output_dir = Path(output_dir)
    metrics, why = finished_metrics(output_dir, job_overrides(), optimized_metric)
    if metrics is None:
        log.info("skip_finished: training the job in %s (%s)", output_dir, why)
        return None
    shown = (
        f"{optimized_metric}={metrics[optimized_metric]:.6g}"
        if optimized_metric
        else f"{len(metrics)} metrics"
    )
    log.info(
        "skip_finished: skipping the job in %s: it already finished with these overrides (%s)",
        output_dir,
        shown,
    )
    return metrics


def forget_finished(output_dir: Path) -> None:
    """Drop the record of an earlier run in `output_dir` (a job starting to train again)."""
    (output_dir / FINISHED_NAME).unlink(missing_ok=True)


def mark_finished(output_dir: Path) -> None:
    """Record, after metrics.json, the overrides the job ran with (nothing outside Hydra)."""
    overrides = job_overrides()
    if overrides is not None:
        (output_dir / FINISHED_NAME).write_text(json.dumps({"overrides": overrides}, indent=2) + "\n")
