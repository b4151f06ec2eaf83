"""Regression: the committed docs/results tables come back unchanged from job dirs rebuilt out of
their results.json (each row's jobs given values with the row's mean, std and n; the paper's
columns, where the committed table has them, asked for by name: rebuilt jobs carry no task_name)."""

import json
from pathlib import Path

import pytest
from fake_runs import rebuild_multirun, values_with

from mimkit.evaluation import report

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
SWEEPS = sorted(p.parent.name for p in RESULTS.glob("*/results.json"))


def test_values_with_mean_and_std():
    from mimkit.evaluation.report.aggregate import mean_std

    for mean, std, n in ((1.5, 0.25, 2), (-3.0, 2.0, 3), (100.0, 0.0, 10)):
        stats = mean_std(values_with(mean, std, n))
        assert stats == {"mean": pytest.approx(mean), "std": pytest.approx(std, abs=1e-12), "n": n}


@pytest.mark.parametrize("sweep", SWEEPS)
def test_docs_results_table_unchanged(sweep: str, tmp_path: Path, monkeypatch):
    committed = json.loads((RESULTS / sweep / "results.json").read_text())
    monkeypatch.chdir(tmp_path)
    multirun = rebuild_multirun(committed, tmp_path)
    paper = (committed.get("paper") or {}).get("figure", "none")
    results = report.report(multirun, out=tmp_path / "out", paper=paper)
    assert (tmp_path / "out" / report.TABLE_NAME).read_text() == (
        RESULTS / sweep / report.TABLE_NAME
    ).read_text()
    assert (results["x"], results["jobs"], len(results["rows"])) == (
        committed["x"],
        committed["jobs"],
        len(committed["rows"]),
    )
