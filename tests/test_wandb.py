"""W&B dashboards (mimkit.app.loggers), offline: read back from the offline runs' .wandb files."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from wandb_offline import read_run

from mimkit.app.loggers import job_name, wandb_logger
from mimkit.app.run import train

SMALL = [
    "data.n_train=256",
    "data.n_val=128",
    "data.n_test=128",
    "trainer.max_epochs=1",
    "threads=1",
    "trainer.enable_progress_bar=False",
    "callbacks.progress_bar=null",
    "callbacks.representation_metrics=null",
    "+callbacks.fig2_plot.grid=10",
    "+callbacks.fig2_plot.samples=2",
]


@pytest.fixture(autouse=True)
def no_account(monkeypatch, tmp_path):
    """No W&B key or settings of this machine's user reach the runs."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def offline_runs(run_dir) -> list:
    return [read_run(folder) for folder in sorted((run_dir / "wandb").glob("offline-run-*"))]


def test_job_name_is_the_override_dirname_without_the_logger_and_resume_switches():
    assert (
        job_name(
            [
                "seed=2",
                "objective=vae",
                "logger=wandb",
                "+logger.wandb.offline=true",
                "resume=/r",
                "ckpt_path=/c",
                "+extra=1",
            ]
        )
        == "extra=1,objective=vae,seed=2"
    )
    assert job_name([]) == ""


def test_a_sweep_is_one_group_each_job_a_run_with_config_summary_and_figures(tmp_path):
    sweep = tmp_path / "my_sweep"
    result = run_cli("train.py", "-m", "seed=1,2", "logger=wandb", *SMALL, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-2000:]
    for job, seed in ((0, 1), (1, 2)):
        job_dir = sweep / str(job)
        (run,) = offline_runs(job_dir)
        assert run.group == "my_sweep" and run.job_type == "train"
        assert run.name == ",".join(sorted([o.lstrip("+") for o in SMALL] + [f"seed={seed}"]))
        assert run.folder.name.endswith(run.id)
        assert json.loads((job_dir / "wandb" / "run_id.json").read_text())["id"] == run.id
        # the resolved config
        assert run.config["seed"] == seed and run.config["data"]["n_train"] == 256
        assert run.config["paths"]["output_dir"] == str(job_dir)
        assert run.config["logger"]["wandb"]["save_dir"] == str(job_dir)
        # the summary is metrics.json
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert {name: run.summary[name] for name in metrics} == pytest.approx(metrics, rel=1e-9)
        # the figure the run wrote (fig2.png), as a W&B image
        (image,) = [path for path in run.files if path.startswith("media/images/test/fig2")]
        assert (run.folder / "files" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (job_dir / "fig2.png").is_file() and run.summary["test/fig2"]["format"] == "png"
    assert offline_runs(sweep / "0")[0].id != offline_runs(sweep / "1")[0].id


def test_a_resumed_run_logs_to_the_same_wandb_run(train_config, tmp_path):
    train(train_config(*SMALL, "logger=wandb", "callbacks.fig2_plot=null", output_dir=tmp_path / "run"))
    train(
        train_config(
            f"resume={tmp_path / 'run'}", "trainer.max_epochs=2", fast=False, output_dir=tmp_path / "run"
        )
    )
    first, second = offline_runs(tmp_path / "run")
    assert first.id == second.id and first.name == second.name
    assert first.summary["train/epochs"] == 1 and second.summary["train/epochs"] == 2
    # a fresh run in another dir is another W&B run
    train(train_config(*SMALL, "logger=wandb", "callbacks.fig2_plot=null", output_dir=tmp_path / "other"))
    assert offline_runs(tmp_path / "other")[0].id != first.id


def test_online_without_credentials_logs_offline_instead(tmp_path, caplog):
    logger = wandb_logger(save_dir=str(tmp_path), project="mim", offline=False, init_timeout=10)
    assert logger.experiment.settings.mode == "offline"
    logger.experiment.finish()
    assert "logging offline" in caplog.text
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1
