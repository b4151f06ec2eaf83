"""docs/extend.md works as written: its files, its commands (with a small budget appended) and its
Python example, run from a fresh folder holding only what the page tells a user to write."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

PAGE = ROOT / "docs" / "extend.md"
BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run|python) -->\n```\w+\n(?P<body>.*?)```", re.S)
SMALL = [
    "data.n_train=512",
    "data.n_val=256",
    "data.n_test=256",
    "trainer.max_epochs=2",
    "warmup=1",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "callbacks.representation_metrics.nll_samples=10",
]


def examples() -> dict[str, list]:
    found: dict[str, list] = {"file": [], "run": [], "python": []}
    for match in BLOCK.finditer(PAGE.read_text()):
        kind = "file" if match["path"] else match.group(1)
        found[kind].append((match["path"], match["body"]))
    return found


@pytest.fixture
def user_folder(tmp_path) -> Path:
    for path, body in examples()["file"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    return tmp_path


def test_the_page_has_its_examples():
    found = examples()
    assert [path for path, _ in found["file"]] == [
        "my_parts.py",
        "my_conf/model/deep_mlp.yaml",
        "my_conf/protocol/deep_mlp.yaml",
        "my_conf/prior/scaled.yaml",
    ]
    assert len(found["run"]) == 2 and len(found["python"]) == 1


def command_line(text: str, folder: Path) -> list[str]:
    """The page's command as argv, run from `folder` (src/train.py is the repository's)."""
    words = shlex.split(text.replace("\\\n", " ").replace("$PWD", str(folder)))
    assert words[0] == "PYTHONPATH=." and words[1:3] == ["python", "src/train.py"], words
    return [sys.executable, str(ROOT / "src" / "train.py"), *words[3:]]


@pytest.mark.parametrize("index", [0, 1])
def test_the_commands_train_with_the_users_classes(user_folder, index):
    _, text = examples()["run"][index]
    run_dir = user_folder / "run"
    argv = command_line(text, user_folder) + SMALL + [f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "PYTHONPATH": str(user_folder), "PROJECT_ROOT": str(ROOT)}
    result = subprocess.run(argv, cwd=user_folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "my_parts.DeepGaussianMLP" in config and "my_parts.ScaledNormalPrior" in config
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert all(isinstance(metrics[name], float) for name in ("val/loss", "test/nll", "test/mi"))


def test_a_typo_in_a_users_key_is_one_line(user_folder):
    _, text = examples()["run"][0]
    argv = (
        command_line(text, user_folder) + SMALL + ["+prior.scael=2", f"hydra.run.dir={user_folder / 'bad'}"]
    )
    env = {**os.environ, "PYTHONPATH": str(user_folder), "PROJECT_ROOT": str(ROOT)}
    result = subprocess.run(argv, cwd=user_folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "scael" in result.stderr and "prior" in result.stderr
    assert not (user_folder / "bad" / "checkpoints").exists()


def test_the_python_example_trains(user_folder, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(user_folder))
    (_, code), *_ = examples()["python"]
    namespace: dict = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    model, x, objective = namespace["model"], namespace["x"], namespace["objective"]
    assert namespace["z"].shape == (256, 2) and namespace["nll"].shape == (256,)
    assert "loss" in capsys.readouterr().out
    # 200 steps moved the learned scale and lowered MIM's loss below the initial weights' loss
    assert float(model.prior.log_scale.detach()) != 0.0
    parts = __import__("my_parts")
    torch.manual_seed(0)
    untrained = type(model)(
        parts.DeepGaussianMLP(2, 2), parts.DeepGaussianMLP(2, 2), parts.ScaledNormalPrior(2)
    )
    torch.manual_seed(1)
    before = float(objective(untrained, x, 1.0)["loss"])
    torch.manual_seed(1)
    after = float(objective(model, x, 1.0)["loss"])
    assert after < before - 0.5, (before, after)
