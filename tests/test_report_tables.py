"""results.md and results.json (mimkit.evaluation.report.tables) for small fixed job dirs, written out
by hand."""

import json
import math
from pathlib import Path

import pytest
from fake_runs import make_job

from mimkit.evaluation import report
from mimkit.evaluation.report.tables import format_cell


def test_format_cell():
    assert format_cell({"mean": 4.5, "std": math.sqrt(0.5), "n": 2}, 2) == "4.5 ± 0.71"
    assert format_cell({"mean": 0.123456, "std": 0.0123456, "n": 3}, 3) == "0.1235 ± 0.012"
    assert format_cell({"mean": 2.5e9, "std": 1.04e9, "n": 3}, 3) == "2.5e+09 ± 1e+09"
    assert format_cell({"mean": 1.0, "std": 0.0, "n": 2}, 2) == "1 ± 0"
    assert format_cell({"mean": 0.74, "std": None, "n": 1}, 2) == "0.74 (1)"
    assert format_cell({"mean": None, "std": None, "n": 0}, 2) == "–"
    assert format_cell(None, 2) == "–"


@pytest.fixture
def small_multirun(tmp_path: Path) -> Path:
    """mim at H = 5 (seeds 1, 2) and H = 100 (seed 1); vae at H = 5 (seeds 1-3, MI NaN in seed 2),
    job 6 failed. make_job adds train/epochs = 10 * seed and time/fit_s = 1.5 to every job."""
    root = tmp_path / "mr"
    for num, (objective, hidden, seed, mi) in enumerate(
        [
            ("vae", 5, 1, 0.25),
            ("mim", 100, 1, 6.0),
            ("mim", 5, 1, 4.0),
            ("mim", 5, 2, 5.0),
            ("vae", 5, 2, math.nan),
            ("vae", 5, 3, 0.5),
        ]
    ):
        make_job(root, num, objective, hidden, seed, {"test/mi": mi})
    make_job(root, 6, "vae", 100, 1, None)
    return root


def test_results_markdown(small_multirun: Path, monkeypatch):
    # MI:     mim 5: 4, 5 -> 4.5 ± sqrt(0.5); vae 5: 0.25, 0.5 -> 0.375 ± sqrt(0.03125), 2 of 3
    # epochs: mim 5: 10, 20 -> 15 ± sqrt(50) = 7.07; vae 5: 10, 20, 30 -> 20 ± 10
    monkeypatch.chdir(small_multirun.parent)
    report.report(Path("mr"))
    assert (
        (small_multirun / report.TABLE_NAME).read_text()
        == """\
# Results of `mr`

6 jobs, grouped by `objective`, swept over `model.hidden`; mean ± sample std over seeds; \
n = jobs per row (a number in brackets: jobs with that metric, where fewer).
Skipped (no metrics.json): 6.

| objective | model.hidden | n | MI | epochs | fit time (s) |
|---|---|---|---|---|---|
| mim | 5 | 2 | 4.5 ± 0.71 | 15 ± 7.1 | 1.5 ± 0 |
| mim | 100 | 1 | 6 | 10 | 1.5 |
| vae | 5 | 3 | 0.375 ± 0.18 (2) | 20 ± 10 | 1.5 ± 0 |
"""
    )


def test_results_markdown_without_sweep(tmp_path: Path, monkeypatch):
    make_job(tmp_path / "mr", 0, "mim", 5, 1, {"test/nll": 2.0, "test/active_units": 2.0})
    make_job(tmp_path / "mr", 1, "vae", 5, 1, {"test/nll": 1.5})
    monkeypatch.chdir(tmp_path)
    report.report(Path("mr"))
    table = (tmp_path / "mr" / report.TABLE_NAME).read_text()
    assert table.endswith("""\
| objective | n | NLL | active units | epochs | fit time (s) |
|---|---|---|---|---|---|
| mim | 1 | 2 | 2 | 10 | 1.5 |
| vae | 1 | 1.5 | – | 10 | 1.5 |
""")
    assert "2 jobs, grouped by `objective`; mean ± sample std" in table


def test_results_json(small_multirun: Path):
    results = json.loads(Path(report.report(small_multirun)["outputs"]["json"]).read_text())
    assert (results["x"], results["group"], results["jobs"]) == ("model.hidden", "objective", 6)
    assert [Path(p).name for p in results["skipped"]] == ["6"]
    assert [(r["label"], r["x"], r["n"], [Path(p).name for p in r["jobs"]]) for r in results["rows"]] == [
        ("mim", 5, 2, ["2", "3"]),
        ("mim", 100, 1, ["1"]),
        ("vae", 5, 3, ["0", "4", "5"]),
    ]
    vae5 = results["rows"][2]["metrics"]
    assert vae5["test/mi"] == {"mean": 0.375, "std": pytest.approx(math.sqrt(0.03125)), "n": 2}
    assert vae5["train/epochs"] == {"mean": 20.0, "std": 10.0, "n": 3}
    assert vae5["val/loss"] == {"mean": 3.0, "std": 1.0, "n": 3}  # make_job: 1 + seed
    assert set(results["outputs"]) == {"figure", "table", "fig2_grid", "json"}
