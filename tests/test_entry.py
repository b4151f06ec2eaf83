"""The shared entry points (mimkit.app.entry): `python src/<task>.py` and the console scripts
`mimkit-train`, `mimkit-eval`, `mimkit-embed`, `mimkit-latent` (pyproject's [project.scripts])
compose conf/."""

from __future__ import annotations

import sys
import tomllib

import pytest
import yaml
from conftest import ROOT, run_cli

from mimkit.app import entry


def composed(capsys, monkeypatch, main, *args: str) -> dict:
    """The config `main` composes for `args` (Hydra's --cfg all prints it and runs nothing)."""
    monkeypatch.setattr(sys, "argv", ["mimkit-x", "--cfg", "all", *args])
    main()
    return yaml.safe_load(capsys.readouterr().out)


def test_the_console_scripts_name_the_entry_functions():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "mimkit-train": "mimkit.app.entry:train",
        "mimkit-eval": "mimkit.app.entry:evaluate",
        "mimkit-embed": "mimkit.app.entry:embed",
        "mimkit-latent": "mimkit.app.entry:latent",
        "mimkit-report": "mimkit.evaluation.report:main",
    }


@pytest.mark.parametrize(
    "main, args, task",
    [
        (entry.train, ["optim=sgd"], "train"),
        (entry.evaluate, ["ckpt_path=x.ckpt"], "eval"),
        (entry.embed, ["ckpt_path=x.ckpt"], "embed"),
        (entry.latent, ["ckpt_path=x.ckpt", "tool=traverse"], "latent"),
    ],
)
def test_each_entry_function_composes_its_config_from_the_checkout(capsys, monkeypatch, main, args, task):
    cfg = composed(capsys, monkeypatch, main, *args)
    assert cfg["task_name"] == task
    assert cfg["hydra"]["job"]["name"] == "${task_name}"  # the log file: train.log, eval.log, ...
    assert cfg["hydra"]["runtime"]["config_sources"][1]["path"] == str(ROOT / "conf")
    assert cfg["paths"]["root_dir"] == "${oc.env:PROJECT_ROOT,${hydra:runtime.cwd}}"
    assert entry.PROJECT_ROOT == ROOT
    if task == "train":
        assert cfg["optim"]["optimizer"]["_target_"] == "torch.optim.SGD"


def test_the_checkout_is_found_without_project_root(tmp_path):
    """Without PROJECT_ROOT (the test suite sets it) the entry points find the checkout that holds
    the package, from any folder: a config error, not a missing conf/."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PROJECT_ROOT"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), "model.hidden=-5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert "error: model.hidden must be greater than 0, got -5" in done.stderr + done.stdout


def test_a_missing_conf_dir_is_one_line(monkeypatch):
    monkeypatch.setattr(entry, "CONFIG_DIR", ROOT / "nowhere")
    main = entry.hydra_entry("train", lambda cfg: {})
    with pytest.raises(SystemExit, match=r"^error: no train.yaml in .*/nowhere: set PROJECT_ROOT"):
        main()


def test_the_script_runs_the_same_entry(tmp_path):
    """`python src/train.py` is mimkit.app.entry.train: it writes train.log in its run dir."""
    run = tmp_path / "run"
    result = run_cli(
        "train.py",
        "trainer.max_epochs=1",
        "data.n_train=256",
        "data.n_val=64",
        "data.n_test=64",
        "callbacks=none",
        f"hydra.run.dir={run}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run / "train.log").is_file() and (run / "metrics.json").is_file()


HEAVY = ("lightning", "torchvision", "wandb", "matplotlib")


@pytest.mark.parametrize(
    "args, answer",
    [
        (["model.hidden=-5"], "error: model.hidden must be greater than 0, got -5"),
        (["data=mnist", "data.n_train=-1"], "error: data.n_train must be greater than 0, got -1"),
        (["data=omniglot", "model=convhvae", "objective.qx_samples=0"], "error: objective.qx_samples"),
        (["--help"], "train is powered by Hydra"),
    ],
)
def test_config_errors_and_help_come_before_the_heavy_imports(args, answer):
    """Fail fast: the answer comes before Lightning, torchvision, W&B or matplotlib is imported
    (`python -X importtime` lists every module imported)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "src" / "train.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if "import time:" in line]
    assert answer in done.stdout + done.stderr
    assert not [name for name in imported if name.split(".")[0] in HEAVY]
