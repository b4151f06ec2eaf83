"""Faults met in a run, each ending in one clear line that names the path, with nothing earlier
lost: a full disk while writing a checkpoint, corrupt data files, a foreign checkpoint for
eval.py, and failing jobs of a sweep (basic and joblib launchers)."""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import math
import os

import numpy as np
import pytest
import torch
from conftest import CONF, compose_config, run_cli, write_idx_gz
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict
from PIL import Image
from test_data_mnist import make_arrays
from test_data_mnist_files import set_md5
from test_data_omniglot import DRAWINGS, LAYOUT, N_POOL, N_TEST, N_VAL
from test_data_omniglot import module as omniglot_module

from mimkit.app.cli import run_task
from mimkit.app.config import to_plain
from mimkit.app.hydra_callbacks import ReportFailures
from mimkit.app.run import evaluate, train
from mimkit.data.mnist_files import load_mnist_files
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import CheckpointWriteError, SafeCheckpointIO, load_checkpoint, load_module
from mimkit.training.module import AutoencoderModule

QUIET = ["callbacks.representation_metrics=null", "callbacks.fig2_plot=null", "callbacks.progress_bar=null"]


def error_line(capsys) -> str:
    """The one stderr line of a failed run_task, without its 'error: ' prefix."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0][len("error: ") :]


def fails(task, cfg, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        run_task(task, cfg)
    assert exit_.value.code == 1
    return error_line(capsys)


# --- a full disk while writing a checkpoint -------------------------------------------------


def full_disk_from(monkeypatch, epoch: int) -> list[str]:
    """torch.save writes some bytes of a checkpoint of epoch >= `epoch`, then fails with ENOSPC
    (as a full disk does); the names of the files it failed on are listed."""
    real_save, failed = torch.save, []

    def save(obj, file, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch", -1) >= epoch:
            file.write(b"PK\x03\x04 half a checkpoint")
            failed.append(file.name)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return failed


def test_checkpoint_io_keeps_the_earlier_file_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "checkpoints" / "last.ckpt"
    SafeCheckpointIO().save_checkpoint({"epoch": 0, "weights": torch.arange(3.0)}, target)
    before = target.read_bytes()
    failed = full_disk_from(monkeypatch, epoch=1)
    with pytest.raises(
        CheckpointWriteError,
        match=rf"^could not write the checkpoint {target}: "
        r"No space left on device; the checkpoints "
        r"written before it are kept$",
    ):
        SafeCheckpointIO().save_checkpoint({"epoch": 1, "weights": torch.zeros(3)}, target)
    assert len(failed) == 1 and failed[0] != str(target)  # it wrote to a temporary file ...
    assert target.read_bytes() == before  # ... so the old file is whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # none left over


def test_full_disk_during_training_names_the_checkpoint_and_keeps_earlier_ones(
    train_config, tmp_path, monkeypatch, capsys
):
    # warmup=0: epoch 1 (zero-based 0) is at β = 1, so it writes epoch_000.ckpt and last.ckpt
    cfg = train_config(*QUIET, "warmup=0", "trainer.max_epochs=3", "callbacks.early_stopping=null")
    failed = full_disk_from(monkeypatch, epoch=1)
    line = fails(train, cfg, capsys)
    assert len(failed) == 1
    name = os.path.basename(failed[0]).split(".ckpt.")[0][1:] + ".ckpt"  # .<name>.<pid>.<id>.tmp
    assert name in ("epoch_001.ckpt", "last.ckpt")
    assert line == (
        f"CheckpointWriteError: could not write the checkpoint {tmp_path / 'checkpoints' / name}: "
        f"No space left on device; the checkpoints written before it are kept"
    )
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]
    for path in checkpoints.iterdir():  # whole, and still those of the first epoch
        assert torch.load(path, weights_only=True)["epoch"] == 0
    with open(tmp_path / "csv" / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert {row["epoch"] for row in rows if row.get("train/loss")} == {"0"}  # the log is kept
    assert not (tmp_path / "metrics.json").exists()


# --- corrupt data files ---------------------------------------------------------------------


def image_run(train_config, tmp_path, data: str, source, *sizes):
    return train_config(
        f"data={data}",
        f"data.source_dir={source}",
        f"paths.data_dir={tmp_path / 'data'}",
        *sizes,
        *QUIET,
        "trainer.enable_progress_bar=false",
        fast=False,
        output_dir=tmp_path / "run",
    )


def test_truncated_mnist_file_ends_the_run_in_one_line(
    train_config, tmp_path, mnist_files, monkeypatch, capsys
):
    source = mnist_files("MNIST", make_arrays())
    cut = source / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    cut.write_bytes(cut.read_bytes()[:300])
    set_md5(monkeypatch, source)  # the md5 list agrees: only the gzip stream can tell
    cfg = image_run(
        train_config, tmp_path, "mnist", source, "data.n_train=80", "data.n_val=16", "data.n_test=16"
    )
    line = fails(train, cfg, capsys)
    copy = tmp_path / "data" / "MNIST" / "raw" / cut.name
    assert line.startswith(f"{copy} is not a readable gzip file (EOFError: ")
    assert line.endswith("delete it and copy a good one there")
    assert list((tmp_path / "run").iterdir()) == []  # no checkpoint, log or metrics.json


def test_idx_file_shorter_than_its_header_says_names_it(tmp_path, mnist_files, monkeypatch):
    """A whole gzip stream of a cut IDX file: 30 images in the header, 10 in the data."""
    arrays = make_arrays()
    source = mnist_files("MNIST", arrays)
    images = arrays["train_images"]
    path = source / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    header = (0x0803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path.write_bytes(gzip.compress(header + images[:10].tobytes()))
    set_md5(monkeypatch, source)
    with pytest.raises(
        ConfigError,
        match=r"^torchvision cannot read .*data/MNIST/raw/"
        r"train-images-idx3-ubyte / train-labels-idx1-ubyte "
        r"\((AssertionError|RuntimeError).*delete them to extract them "
        r"again$",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)


def test_an_idx_file_of_another_format_names_it(tmp_path, mnist_files, monkeypatch):
    """Labels written as 16-bit numbers (type 0x0B): not MNIST's unsigned bytes."""
    source = mnist_files("MNIST", make_arrays())
    write_idx_gz(source / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", np.zeros(60, np.uint8), magic=0x0B01)
    set_md5(monkeypatch, source)
    with pytest.raises(
        ConfigError,
        match=r"^torchvision cannot read .*t10k-images-idx3-ubyte / "
        r"t10k-labels-idx1-ubyte",
    ):
        load_mnist_files("MNIST", tmp_path / "data", source)


@pytest.fixture
def omniglot_tree(tmp_path, omniglot_zips):
    """Omniglot extracted into tmp_path/data (its decoded cache removed): the PNG tree."""
    source = omniglot_zips(LAYOUT, DRAWINGS)
    omniglot_module(tmp_path, source).cache_path.unlink()
    return source, tmp_path / "data" / "omniglot-py"


def gif_bytes() -> bytes:
    """A readable 105 x 105 image, but a GIF."""
    buffer = io.BytesIO()
    Image.new("1", (105, 105), 1).save(buffer, format="GIF")
    return buffer.getvalue()


def real_png_bytes(tree) -> bytes:
    return next(tree.rglob("*.png")).read_bytes()


@pytest.mark.parametrize("content", ["empty", "text", "gif", "truncated png"])
def test_a_png_that_is_not_a_png_is_named(tmp_path, omniglot_tree, content):
    source, tree = omniglot_tree
    bad = tree / "images_background" / "Beta" / "character03" / "0005_02.png"
    bad.write_bytes(
        {
            "empty": b"",
            "text": b"this is not an image\n",
            "gif": gif_bytes(),
            "truncated png": real_png_bytes(tree)[:60],
        }[content]
    )
    with pytest.raises(
        ConfigError,
        match=rf"^{bad} is not a readable PNG image \(.*\); delete "
        rf"{tree / 'images_background'} to extract it again$",
    ):
        omniglot_module(tmp_path, source)
    assert not (tree / "omniglot28_box.pt").exists()  # no cache of a partial read


def test_a_bad_omniglot_png_ends_the_run_in_one_line(train_config, tmp_path, omniglot_tree, capsys):
    source, tree = omniglot_tree
    bad = tree / "images_evaluation" / "Zeta" / "character01" / "0006_01.png"
    bad.write_bytes(b"not a png")
    cfg = image_run(
        train_config,
        tmp_path,
        "omniglot",
        source,
        f"data.n_train={N_POOL - N_VAL}",
        f"data.n_val={N_VAL}",
        f"data.n_test={N_TEST}",
        "data.test_per_character=2",
    )
    line = fails(train, cfg, capsys)
    assert line.startswith(f"{bad} is not a readable PNG image (UnidentifiedImageError: ")
    assert list((tmp_path / "run").iterdir()) == []


# --- a corrupt or foreign checkpoint for eval.py --------------------------------------------


def our_checkpoint(train_config) -> dict:
    """A checkpoint dict as train.py writes it (untrained weights: no training needed)."""
    module = AutoencoderModule.from_run_config(to_plain(train_config()))
    return {"epoch": 0, "state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}


FOREIGN = {
    "a bare state_dict": (
        lambda ours: {"encoder.weight": torch.zeros(2, 2), "encoder.bias": torch.zeros(2)},
        "is not a checkpoint written by train.py: it has no 'state_dict' or "
        "'hyper_parameters' (a bare state_dict?); its keys: encoder.weight, encoder.bias",
    ),
    "a tensor": (
        lambda ours: torch.zeros(3),
        "is not a checkpoint written by train.py: it holds a Tensor, not a checkpoint dict",
    ),
    "another model's checkpoint": (
        lambda ours: {"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {"lr": 0.1}},
        "is not a checkpoint written by train.py: its hyper_parameters are not this project's "
        "(expected model, prior, objective, optim)",
    ),
    "weights of another size": (
        lambda ours: {
            **ours,
            "state_dict": {k: v[..., :1] if v.ndim else v for k, v in ours["state_dict"].items()},
        },
        "does not fit this code's model (RuntimeError: Error(s) in loading state_dict for "
        "AutoencoderModule: size mismatch for ",
    ),
    "an unknown model class": (
        lambda ours: {
            **ours,
            "hyper_parameters": {
                **ours["hyper_parameters"],
                "model": {**ours["hyper_parameters"]["model"], "encoder": {"_target_": "gone.Encoder"}},
            },
        },
        "does not fit this code's model (InstantiationException: Error locating target 'gone.Encoder'",
    ),
    "no bytes": (None, "is not a readable checkpoint (EOFError)"),
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_eval_rejects_a_foreign_checkpoint_in_one_line(train_config, tmp_path, capsys, kind):
    make, message = FOREIGN[kind]
    path = tmp_path / "foreign.ckpt"
    if make is None:
        path.write_bytes(b"")
    else:
        torch.save(make(our_checkpoint(train_config)), path)
    cfg = compose_config("eval", [f"ckpt_path={path}"], tmp_path / "eval")
    line = fails(evaluate, cfg, capsys)
    assert line.startswith(f"ckpt_path {str(path)!r} {message}"), line
    assert not (tmp_path / "eval").exists()


def test_eval_accepts_our_checkpoint(train_config, tmp_path):
    """The same built checkpoint, unchanged, passes the checks (and evaluates)."""
    path = tmp_path / "ours.ckpt"
    torch.save(our_checkpoint(train_config), path)
    cfg = compose_config(
        "eval",
        [
            f"ckpt_path={path}",
            *QUIET,
            "trainer.enable_progress_bar=false",
            "+data_overrides.n_val=256",
            "+data_overrides.n_test=256",
        ],
        tmp_path / "eval",
    )
    assert math.isfinite(evaluate(cfg)["test/loss"])
    assert (tmp_path / "eval" / "metrics.json").is_file()


# the modules' paths before the packages by role (docs/layout.md), most specific first
PRE_LAYOUT = [
    ("mimkit.evaluation.callbacks.representation.", "mimkit.callbacks.metrics."),
    ("mimkit.evaluation.callbacks.fig2.", "mimkit.callbacks.plots."),
    ("mimkit.evaluation.callbacks.tsne_plot.", "mimkit.callbacks.tsne."),
    ("mimkit.evaluation.callbacks.", "mimkit.callbacks."),
    ("mimkit.training.callbacks.", "mimkit.callbacks."),
    ("mimkit.app.", "mimkit."),
    ("mimkit.evaluation.", "mimkit."),
    ("mimkit.training.", "mimkit."),
    ("mimkit.model.", "mimkit."),
]


def pre_layout(node):
    """`node` with its `_target_`s as a checkpoint written before the move named them."""
    if isinstance(node, dict):
        return {
            key: next((value.replace(new, old, 1) for new, old in PRE_LAYOUT if value.startswith(new)), value)
            if key == "_target_" and isinstance(value, str)
            else pre_layout(value)
            for key, value in node.items()
        }
    return [pre_layout(value) for value in node] if isinstance(node, list) else node


def test_a_checkpoint_with_the_pre_layout_module_paths_loads(train_config, tmp_path):
    ours = our_checkpoint(train_config)
    old = {**ours, "hyper_parameters": pre_layout(ours["hyper_parameters"])}
    assert old["hyper_parameters"]["objective"]["_target_"] == "mimkit.objectives.mim.MIM"
    assert old["hyper_parameters"]["run"]["callbacks"]["fig2_plot"]["_target_"] == (
        "mimkit.callbacks.plots.Fig2Plot"
    )
    path = tmp_path / "old.ckpt"
    torch.save(old, path)
    assert load_checkpoint(str(path))["hyper_parameters"] == ours["hyper_parameters"]
    module = load_module(str(path))
    assert all(torch.equal(module.state_dict()[k], v) for k, v in ours["state_dict"].items())


# --- failing jobs of a sweep ----------------------------------------------------------------


def sweep_config(tmp_path, job: int, overrides: list[str]):
    """The composed config of multirun job `job` (its run dir tmp_path/<job>), HydraConfig set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train", overrides=[*overrides, f"hydra.sweep.dir={tmp_path}"], return_hydra_config=True
        )
    with open_dict(cfg):
        cfg.hydra.mode = "MULTIRUN"
        cfg.hydra.job.num = job
        cfg.hydra.runtime.output_dir = str(tmp_path / str(job))
        cfg.hydra.overrides.task = overrides
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_a_failing_sweep_job_is_recorded_and_returns(tmp_path, capsys, caplog):
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "failure.json").write_text("{}")  # of an earlier, failed run of this job
    assert run_task(lambda cfg: {"val/loss": 1.0}, sweep_config(tmp_path, 3, ["seed=3"])) == 1.0
    assert not (tmp_path / "3" / "failure.json").exists()

    def bug(cfg):
        raise RuntimeError("an index out of range")

    cfg = sweep_config(tmp_path, 4, ["seed=4"])
    assert run_task(bug, cfg) is None  # a failed trial, to Hydra's Optuna sweeper
    assert error_line(capsys) == f"job 4 ({tmp_path / '4'}): RuntimeError: an index out of range"
    assert json.loads((tmp_path / "4" / "failure.json").read_text()) == {
        "job": 4,
        "overrides": ["seed=4"],
        "error": "RuntimeError: an index out of range",
    }
    assert "Traceback" in caplog.text and "an index out of range" in caplog.text

    def interrupted(cfg):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C still stops the whole sweep
        run_task(interrupted, cfg)


def test_sweep_report_lists_failures_and_removes_a_stale_one(tmp_path, capsys):
    for job, seed in enumerate((1, 2, 3)):
        (tmp_path / str(job) / ".hydra").mkdir(parents=True)
        (tmp_path / str(job) / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n- warmup=0\n")
    (tmp_path / "1" / "failure.json").write_text(
        json.dumps({"job": 1, "overrides": ["seed=2", "warmup=0"], "error": "boom"})
    )
    cfg = sweep_config(tmp_path, 0, [])
    with pytest.raises(SystemExit) as exit_:
        ReportFailures().on_multirun_end(cfg)
    assert exit_.value.code == 1
    assert error_line(capsys) == (
        f"1 of 3 jobs failed: job 1 (seed=2); their errors are in {tmp_path / 'failures.json'}"
    )
    assert json.loads((tmp_path / "failures.json").read_text()) == [
        {"job": 1, "overrides": ["seed=2", "warmup=0"], "error": "boom", "dir": str(tmp_path / "1")}
    ]
    (tmp_path / "1" / "failure.json").unlink()  # that job, run again, succeeded
    ReportFailures().on_multirun_end(cfg)
    assert not (tmp_path / "failures.json").exists()


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_failing_jobs_do_not_stop_a_sweep(tmp_path, launcher):
    # job 0: a non-finite loss at its first step; job 1: a config error; job 2 is fine
    args = [
        "-m",
        "optim.lr=1e6,-1,1e-3",
        "data.n_train=256",
        "data.n_val=256",
        "data.n_test=256",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        *QUIET,
        f"hydra.sweep.dir={tmp_path}",
    ]
    if launcher == "joblib":
        args += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    result = run_cli("train.py", *args, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = {
        0: "NonFiniteLossError: non-finite training loss (nan) at epoch 1, step 1: lower "
        "optim.lr or check the data",
        1: "optim.lr must be greater than 0, got -1",
    }
    for job, error in errors.items():
        assert f"error: job {job} ({tmp_path / str(job)}): {error}" in result.stderr
        assert json.loads((tmp_path / str(job) / "failure.json").read_text())["error"] == error
        assert not (tmp_path / str(job) / "metrics.json").exists()
    assert (tmp_path / "2" / "metrics.json").is_file() and not (tmp_path / "2" / "failure.json").exists()
    assert (
        f"error: 2 of 3 jobs failed: job 0 (optim.lr=1000000.0), job 1 (optim.lr=-1); their "
        f"errors are in {tmp_path / 'failures.json'}"
    ) in result.stderr
    listed = json.loads((tmp_path / "failures.json").read_text())
    assert [(r["job"], r["error"]) for r in listed] == sorted(errors.items())


def test_failed_trials_do_not_stop_an_optuna_search(tmp_path):
    """Trials whose learning rate is -1 (a config error) or 1e6 (a non-finite loss) fail; the
    search goes on, writes the best of the others, and lists the failed trials."""
    result = run_cli(
        "train.py",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        "optim.lr=choice(1e6,-1,0.001)",
        "data.n_train=256",
        "data.n_val=256",
        "data.n_test=256",
        "trainer.max_epochs=1",
        *QUIET,
        f"hydra.sweep.dir={tmp_path}",
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    jobs = sorted(int(p.parent.parent.name) for p in tmp_path.glob("*/.hydra/overrides.yaml"))
    assert jobs == [0, 1, 2]
    failed = [
        j
        for j in jobs
        if "optim.lr=0.001" not in (tmp_path / str(j) / ".hydra" / "overrides.yaml").read_text()
    ]
    assert 0 < len(failed) < 3  # the sampler's seed (1) draws good and bad values
    for job in jobs:
        assert (tmp_path / str(job) / "failure.json").exists() == (job in failed)
        assert (tmp_path / str(job) / "metrics.json").exists() == (job not in failed)
    assert [r["job"] for r in json.loads((tmp_path / "failures.json").read_text())] == failed
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "optim.lr: 0.001" in best
