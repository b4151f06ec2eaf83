"""src/train.py and src/eval.py as a user runs them (subprocesses)."""

import json

import pytest
import torch
from conftest import FAST as SMALL
from conftest import run_cli
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from mimkit.app.cli import run_task
from mimkit.errors import ConfigError
from mimkit.training.nonfinite import NonFiniteLossError


def test_train_then_eval_round_trip(tmp_path):
    run_dir, eval_dir = tmp_path / "run", tmp_path / "eval"
    # warmup=1: both epochs train at β = 1, so one of them is the best checkpoint
    result = run_cli("train.py", *SMALL, "warmup=1", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run dir: {run_dir}" in result.stdout
    assert "val/loss" in result.stdout and "test/recon" in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("val/loss", "test/loss", "test/recon", "test/recon_mean"):
        assert isinstance(metrics[name], float)
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "csv" / "metrics.csv").is_file()
    checkpoints = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))
    assert len(checkpoints) == 1 and (run_dir / "checkpoints" / "last.ckpt").is_file()
    torch.load(checkpoints[0], weights_only=True)

    result = run_cli(
        "eval.py",
        f"ckpt_path={checkpoints[0]}",
        f"hydra.run.dir={eval_dir}",
        "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    shared = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
    assert {k: evaluated[k] for k in shared} == pytest.approx(shared, rel=1e-6)


def test_multirun_one_dir_per_job(tmp_path):
    result = run_cli(
        "train.py", "-m", "objective=mim,vae", *SMALL, "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for job, objective in ((0, "mim"), (1, "vae")):
        assert (tmp_path / str(job) / "metrics.json").is_file()
        assert f"objective={objective}" in (tmp_path / str(job) / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=mpl"], "Could not find 'model/mpl'"),
        (["model.hiden=5"], "model.hiden"),
        (["model.hidden=-5"], "error: model.hidden must be greater than 0, got -5"),
        (["model.hidden=abc"], "error: model.hidden must be a valid integer, got 'abc'"),
        (["data.batch_size=0"], "error: data.batch_size must be greater than 0, got 0"),
        (["optim.lr=1e6"], "error: NonFiniteLossError: non-finite training loss"),
        (["hydra.run.dir=/proc/no_such_dir"], "error: hydra.run.dir '/proc/no_such_dir' is not writable"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_message(tmp_path, args, message):
    result = run_cli("train.py", *SMALL, f"hydra.run.dir={tmp_path}", *args, timeout=120)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr[-2000:]


def test_eval_rejects_a_missing_or_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    for path, message in ((tmp_path / "none.ckpt", "is not a file"), (bad, "is not a readable checkpoint")):
        result = run_cli("eval.py", f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'e'}", timeout=120)
        assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]


def _raising(error: BaseException):
    def task(cfg):
        raise error

    return task


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("data.n_train must be > 0, got -1"),
        NonFiniteLossError("train/loss is nan at step 3"),
        PermissionError("outputs/x is not writable"),
        InstantiationException("Error in call to target"),
    ],
)
def test_a_users_mistake_ends_in_one_line(error, capsys):
    if isinstance(error, InstantiationException):
        error.__cause__ = ConfigError("model.hidden must be > 0, got -5")
    with pytest.raises(SystemExit) as stop:
        run_task(_raising(error), OmegaConf.create({}))
    err = capsys.readouterr().err
    assert stop.value.code == 1 and err.count("\n") == 1 and err.startswith("error: ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "error", [TypeError("unsupported operand"), ValueError("too many values to unpack"), KeyError("z")]
)
def test_a_bug_keeps_its_traceback(error):
    with pytest.raises(type(error)) as raised:
        run_task(_raising(error), OmegaConf.create({}))
    assert raised.value is error  # propagated as raised: Python prints the whole traceback


def test_a_bug_inside_a_constructor_keeps_its_traceback():
    error = InstantiationException("Error in call to target 'mimkit.model.nets.mlp.GaussianMLP'")
    error.__cause__ = TypeError("unsupported operand type(s)")
    with pytest.raises(InstantiationException):
        run_task(_raising(error), OmegaConf.create({}))
