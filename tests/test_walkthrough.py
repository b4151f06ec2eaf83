"""docs/walkthrough-digits.md works as written: every block marked `<!-- walkthrough: python -->` or
`<!-- walkthrough: bash -->` runs, in the page's order, in a fresh folder, at a tiny budget (one
seed, one short epoch, metrics on a few points). The commands run in this process (Hydra's own
command-line parsing included) so that torch is imported once and the test stays fast."""

import json
import re
import shlex
import sys

import pytest
from conftest import ROOT
from hydra.core.global_hydra import GlobalHydra

PAGE = ROOT / "docs" / "walkthrough-digits.md"
BLOCK = re.compile(r"<!-- walkthrough: (?P<kind>python|bash) -->\n```\w+\n(?P<body>.*?)```", re.S)

# set (or replaced) in every training command of the page
TINY = {
    "seed": "1",
    "trainer.max_epochs": "1",
    "warmup": "0",
    "+trainer.limit_train_batches": "2",
    "+trainer.limit_val_batches": "1",
    "trainer.enable_progress_bar": "false",
    "callbacks.progress_bar": "null",
    "callbacks.representation_metrics.test_points": "40",
    "callbacks.representation_metrics.mi_pairs": "40",
    "callbacks.representation_metrics.knn_train": "100",
    "callbacks.representation_metrics.nll_samples": "5",
    "callbacks.representation_metrics.consistency_pairs": "8",
    "callbacks.representation_metrics.consistency_samples": "5",
    "callbacks.tsne.points": "40",
}
# and in those on data=images
TINY_IMAGES = {
    "data.n_train": "100",
    "data.n_val": "20",
    "data.n_test": "40",
    "callbacks.image_grids.n_samples": "4",
    "callbacks.image_grids.n_reconstructions": "4",
    "callbacks.latent_grids.pairs": "2",
    "callbacks.latent_grids.steps": "3",
    "callbacks.latent_grids.points": "2",
    "callbacks.latent_grids.n_around": "3",
}


def blocks() -> list[tuple[str, str]]:
    return [(match["kind"], match["body"]) for match in BLOCK.finditer(PAGE.read_text())]


def commands(body: str) -> list[list[str]]:
    """The bash block's commands as word lists (comments and blank lines dropped)."""
    lines = body.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.split("#")[0].strip()]


def tiny(args: list[str]) -> list[str]:
    """The training command's arguments at the tiny budget: TINY's keys replaced or added."""
    settings = dict(TINY, **(TINY_IMAGES if "data=images" in args else {}))
    keys = {key.lstrip("+") for key in settings}
    kept = [arg for arg in args if arg.split("=")[0].lstrip("+") not in keys]
    return kept + [f"{key}={value}" for key, value in settings.items()]


def run_command(words: list[str], monkeypatch) -> None:
    assert words[0] == "python", words
    script, *args = words[1:]
    if script == "src/train.py":
        from mimkit.app.entry import train

        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", [str(ROOT / script), *tiny(args)])
        train()
    elif script == "src/report.py":
        from mimkit.evaluation.report import main

        assert main(args) == 0, words
    else:
        raise AssertionError(f"the test does not know how to run {script}")


def test_the_page_has_its_blocks():
    kinds = [kind for kind, _ in blocks()]
    assert kinds == ["python", "python", "bash", "bash", "python", "python"], kinds
    trains = [words for kind, body in blocks() if kind == "bash" for words in commands(body)]
    assert sum(words[1] == "src/train.py" for words in trains) == 2
    assert all("seed=1,2,3" in words and "objective=mim,vae" in words for words in trains[:2])


def test_the_pages_commands_run_in_a_fresh_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for kind, body in blocks():
        if kind == "python":
            exec(compile(body, str(PAGE), "exec"), {"__name__": "__walkthrough__"})
        else:
            for words in commands(body):
                run_command(words, monkeypatch)
    # the data the page writes
    assert len(list((tmp_path / "digits").glob("*/*.png"))) == 1797
    # both sweeps trained both objectives (a failed job does not stop a Hydra multirun)
    for sweep in ("digits_tensors", "digits_images"):
        failures = tmp_path / "outputs" / "walkthrough" / sweep / "failures.json"
        assert not failures.exists(), failures.read_text()
        jobs = sorted((tmp_path / "outputs" / "walkthrough" / sweep).glob("[0-9]*"))
        assert len(jobs) == 2, jobs
        for job in jobs:
            metrics = json.loads((job / "metrics.json").read_text())
            for name in ("test/mi", "test/knn5", "test/probe_acc", "test/nll", "time/total_s"):
                assert isinstance(metrics[name], float), (job, name)
    results = tmp_path / "docs" / "results" / "walkthrough_digits"
    for sweep in ("tensors", "images"):
        assert (results / sweep / "results.md").is_file()
    # the table and the pictures
    table = capsys.readouterr().out
    assert re.search(r"\| digits_tensors \| mim \| 1 \|", table) and "| digits_images | vae | 1 |" in table
    pictures = {path.name for path in (results / "pictures").iterdir()}
    assert pictures == {
        f"{data}_{objective}_{picture}.png"
        for data in ("tensors", "images")
        for objective in ("mim", "vae")
        for picture in ("interpolations", "samples_around")
    }


@pytest.mark.parametrize("words", [["python", "src/train.py", "-m", "seed=1,2,3", "warmup=2", "x=1"]])
def test_tiny_replaces_the_budget_and_keeps_the_rest(words):
    args = tiny(words[2:])
    assert "seed=1" in args and "seed=1,2,3" not in args and "warmup=0" in args and "warmup=2" not in args
    assert args[:2] == ["-m", "x=1"] and "data.n_train=100" not in args
