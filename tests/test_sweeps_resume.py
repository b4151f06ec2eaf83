"""Resumable sweeps (mimkit.app.finished, docs/sweeps.md): a re-run multirun skips its finished jobs."""

import json
from pathlib import Path

import pytest
from conftest import run_cli

from mimkit.app import run
from mimkit.app.finished import FINISHED_NAME, finished_metrics, same_job
from mimkit.evaluation import report

METRICS = {"val/loss": 1.25, "test/mi": 2.5, "test/knn5": 0.75}
OVERRIDES = ["objective=vae", "seed=2", "model.latent_dim=4"]


def write_job(folder: Path, overrides=OVERRIDES, metrics: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(METRICS) if metrics is None else metrics)
    (folder / FINISHED_NAME).write_text(json.dumps({"overrides": overrides}))
    return folder


def test_same_job_ignores_order_and_skip_finished_only():
    assert same_job(OVERRIDES, list(reversed(OVERRIDES)) + ["skip_finished=true"])
    assert same_job(OVERRIDES + ["+skip_finished=True"], OVERRIDES)
    assert not same_job(OVERRIDES, ["objective=vae", "seed=3", "model.latent_dim=4"])
    assert not same_job(OVERRIDES, OVERRIDES[:2])
    assert not same_job(OVERRIDES, OVERRIDES + ["trainer.max_epochs=5"])


@pytest.mark.parametrize(
    "metrics, why",
    [
        ('{"val/loss": 1.0, "test/mi"', "metrics.json is incomplete"),  # cut short
        ('{"test/mi": 2.5}', "metrics.json is incomplete"),  # no val/loss
        ('{"val/loss": "1.0"}', "metrics.json is incomplete"),  # not a number
        ("{}", "metrics.json is incomplete"),
    ],
)
def test_incomplete_metrics_are_not_finished(tmp_path, metrics, why):
    write_job(tmp_path, metrics=metrics)
    assert finished_metrics(tmp_path, OVERRIDES, "val/loss") == (None, why)


def test_finished_needs_metrics_and_the_same_overrides(tmp_path):
    assert finished_metrics(tmp_path, OVERRIDES, "val/loss") == (None, "metrics.json is missing")
    write_job(tmp_path)
    assert finished_metrics(tmp_path, OVERRIDES[::-1], "val/loss") == (METRICS, "finished")
    assert finished_metrics(tmp_path, OVERRIDES, None) == (METRICS, "finished")
    assert finished_metrics(tmp_path, ["objective=mim"] + OVERRIDES[1:], "val/loss") == (
        None,
        "metrics.json holds the results of other overrides",
    )
    assert finished_metrics(tmp_path, None, "val/loss")[0] is None  # outside Hydra
    (tmp_path / FINISHED_NAME).unlink()  # killed between metrics.json and finished.json
    assert finished_metrics(tmp_path, OVERRIDES, "val/loss") == (
        None,
        "no readable finished.json beside metrics.json",
    )


class Built(Exception):
    """Raised by the stand-in for run._build: train() went on to training."""


def test_train_returns_the_stored_metrics_without_building(train_config, tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    ran = []

    def build(cfg):
        ran.append(cfg)
        raise Built

    monkeypatch.setattr(run, "_build", build)
    cfg = train_config("objective=vae", "skip_finished=true")
    # the overrides the job composed with, as Hydra recorded them (skip_finished left out)
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("skip_")]
    write_job(tmp_path, overrides)
    assert run.train(cfg) == METRICS and not ran
    # other overrides: trained again
    write_job(tmp_path, ["objective=mim"] + overrides[1:])
    with pytest.raises(Built):
        run.train(cfg)
    assert len(ran) == 1
    # skip_finished=false (the default): trained again even when finished
    write_job(tmp_path, overrides)
    with pytest.raises(Built):
        run.train(train_config("objective=vae"))
    assert len(ran) == 2


TINY = [
    "data.n_train=128",
    "data.n_val=128",
    "data.n_test=128",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.fig2_plot=null",
    "callbacks.representation_metrics.nll_samples=10",
    "callbacks.representation_metrics.consistency_samples=10",
]


def test_rerun_of_a_joblib_sweep_trains_only_its_unfinished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    command = [
        "-m",
        "objective=mim,vae",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY,
        "skip_finished=true",
        f"hydra.sweep.dir={sweep}",
    ]
    first = run_cli("train.py", *command)
    assert first.returncode == 0, first.stderr[-2000:]
    kept, lost = sweep / "0", sweep / "1"
    before = {p: p.stat().st_mtime_ns for p in (kept / "metrics.json", kept / "checkpoints" / "last.ckpt")}
    kept_metrics = (kept / "metrics.json").read_text()
    (lost / "metrics.json").unlink()  # job 1 "failed"

    second = run_cli("train.py", *command)
    assert second.returncode == 0, second.stderr[-2000:]
    output = second.stdout + second.stderr
    # job 0 was skipped, with one log line (on the console and in its own train.log), untouched
    assert output.count("skip_finished: skipping the job") == 1
    assert f"skipping the job in {kept}: it already finished" in output
    assert "skip_finished: skipping" in (kept / "train.log").read_text()
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert (kept / "metrics.json").read_text() == kept_metrics
    # job 1 trained again and finished this time
    assert f"skip_finished: training the job in {lost} (metrics.json is missing)" in output
    assert json.loads((lost / "metrics.json").read_text())["val/loss"] > 0
    assert "objective=vae" in json.loads((lost / FINISHED_NAME).read_text())["overrides"]
    assert (lost / "metrics.json").stat().st_mtime_ns > before[kept / "metrics.json"]
    # the report reads both jobs
    results = report.report(sweep, out=tmp_path / "report")
    assert results["jobs"] == 2 and results["skipped"] == []
    assert sorted(row["group"] for row in results["rows"]) == ["mim", "vae"]
