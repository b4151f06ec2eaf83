"""Resuming a training run: a real SIGKILL mid-epoch, then `resume=RUN_DIR` (mimkit.app.resume)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli
from pause_callback import LastCheckpointProbe
from test_callbacks import QUICK, script_val_loss

import mimkit.app.run
from mimkit.app.run import train
from mimkit.errors import ConfigError
from mimkit.training.callbacks.rng_state import collect_states, restore_states
from mimkit.training.checkpoint_io import stored_run_config

# 4 batches of 128 per epoch; warm-up 3 epochs (β and the Noam LR still rising when killed)
RUN = [
    "data.n_train=512",
    "data.n_val=256",
    "data.n_test=256",
    "trainer.max_epochs=5",
    "warmup=3",
    "threads=1",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.representation_metrics=null",
    "callbacks.fig2_plot=null",
    "+callbacks.pause._target_=pause_callback.PauseMidEpoch",
]


def without_times(metrics: dict) -> dict:
    return {name: value for name, value in metrics.items() if not name.startswith("time/")}


def csv_rows(run_dir) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_a_killed_run_resumes_to_the_metrics_of_an_uninterrupted_one(train_config, tmp_path):
    run_dir, paused = tmp_path / "run", tmp_path / "paused"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "tests"),
        "MIM_TEST_PAUSE_AT": "2,1",
        "MIM_TEST_PAUSE_FILE": str(paused),
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "train.py"), *RUN, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not paused.exists():  # the third epoch (index 2) is after its second batch
            assert process.poll() is None, process.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the training run never reached epoch 3"
            time.sleep(0.2)
        # last.ckpt is the end of the second epoch (β = 2/3: a warm-up epoch, no best checkpoint)
        assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    first_overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()

    env.pop("MIM_TEST_PAUSE_AT")
    result = subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), f"resume={run_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run dir: {run_dir}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paused", "run"]  # no new run dir
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == first_overrides
    resumed_hydra = list((run_dir / ".hydra" / "resumed").glob("*/overrides.yaml"))
    assert len(resumed_hydra) == 1 and f"resume={run_dir}" in resumed_hydra[0].read_text()

    whole = tmp_path / "whole"
    train(train_config(*RUN, fast=False, output_dir=whole))
    resumed = json.loads((run_dir / "metrics.json").read_text())
    uninterrupted = json.loads((whole / "metrics.json").read_text())
    assert resumed["train/epochs"] == 5
    assert without_times(resumed) == pytest.approx(without_times(uninterrupted), rel=1e-6, abs=1e-6)
    # the same best checkpoint, and last.ckpt overwritten (no last-v1.ckpt)
    names = lambda run: sorted(path.name for path in (run / "checkpoints").iterdir())
    assert names(run_dir) == names(whole) and len(names(whole)) == 2
    # one CSV, continued: the rows of epochs 1-2 from the killed run, the rest from the resumed one
    assert csv_rows(run_dir) == csv_rows(whole)
    assert [row["epoch"] for row in csv_rows(run_dir) if row.get("train/beta")] == ["0", "1", "2", "3", "4"]


def test_a_resumed_run_that_had_stopped_early_stops_again(train_config, tmp_path, monkeypatch):
    # as in test_callbacks: early stopping fires after epoch 6; the run dies before its final
    # evaluation (no metrics.json): resuming must not train a seventh epoch
    script_val_loss(monkeypatch, [0.1, 0.2, 4.0, 3.0, 3.5, 3.2, 1.0, 1.0, 1.0, 1.0])
    first = train(train_config(*QUICK, "patience=2"))
    (tmp_path / "metrics.json").unlink()
    again = train(train_config(*QUICK, "patience=2", f"resume={tmp_path}"))
    assert first["train/epochs"] == again["train/epochs"] == 6
    assert without_times(again) == without_times(first)


def test_last_checkpoint_is_written_every_epoch(train_config, tmp_path):
    # warm-up epochs (β < 1) are never best; last.ckpt still follows every epoch
    LastCheckpointProbe.seen = []
    train(
        train_config(
            "trainer.max_epochs=4",
            "warmup=3",
            "callbacks.representation_metrics=null",
            "callbacks.fig2_plot=null",
            "+callbacks.probe._target_=pause_callback.LastCheckpointProbe",
        )
    )
    assert LastCheckpointProbe.seen == [None, 0, 1, 2]


def test_resume_applies_the_command_line_over_the_run_config(train_config, tmp_path, monkeypatch):
    train(
        train_config(
            "trainer.max_epochs=1",
            "callbacks.representation_metrics=null",
            "callbacks.fig2_plot=null",
            "data.n_train=256",
        )
    )
    # the resuming command's config is the defaults (n_train 10,000), but the run's is kept; the
    # config is validated once and the checkpoint read once
    last, load, validate = tmp_path / "checkpoints" / "last.ckpt", torch.load, mimkit.app.run.validate
    reads, validations = [], []

    def counted(file, *args, **kwargs):  # a path, or an open file (Lightning's reads)
        reads.append(str(getattr(file, "path", getattr(file, "name", file))))
        return load(file, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counted)
    monkeypatch.setattr(mimkit.app.run, "validate", lambda *a: validations.append(a) or validate(*a))
    metrics = train(train_config(f"resume={tmp_path}", "trainer.max_epochs=2", fast=False))
    assert metrics["train/epochs"] == 2
    assert reads.count(str(last)) == 1 and len(validations) == 1
    stored = stored_run_config(load(last, weights_only=True))
    assert stored["data"]["n_train"] == 256 and stored["trainer"]["max_epochs"] == 2
    assert stored["resume"] == str(tmp_path)


def test_bad_resume_inputs_are_one_line_errors_naming_the_path(train_config, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (
            [f"resume={empty}"],
            f"holds no checkpoint to resume from: {empty}/checkpoints/last.ckpt is missing",
        ),
        ([f"resume={tmp_path / 'none'}"], f"resume '{tmp_path / 'none'}' is not a run directory"),
        ([f"ckpt_path={tmp_path / 'none.ckpt'}"], f"ckpt_path '{tmp_path / 'none.ckpt'}' is not a file"),
        ([f"resume={empty}", "ckpt_path=x.ckpt"], "not both"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match="^[^\n]*$") as error:
            train(train_config(*overrides, output_dir=empty))
        assert message in str(error.value)
    (empty / "checkpoints").mkdir()
    (empty / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(ConfigError, match="continues in that run dir"):
        train(train_config(f"resume={empty}", output_dir=tmp_path / "elsewhere"))


def test_resume_of_a_missing_dir_fails_before_creating_it(tmp_path):
    missing = tmp_path / "no_such_run"
    result = run_cli("train.py", f"resume={missing}", timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: resume '{missing}' is not a run directory"
    assert not missing.exists()


def test_rng_states_survive_a_weights_only_checkpoint():
    buffer = io.BytesIO()
    torch.save({"rng": collect_states()}, buffer)
    expected = (torch.rand(3), random.random(), np.random.rand())
    buffer.seek(0)
    restore_states(torch.load(buffer, weights_only=True)["rng"])
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(again[0], expected[0]) and again[1:] == expected[1:]
