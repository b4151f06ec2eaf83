"""The multirun report end to end: `report()` and `python src/report.py` on fake job dirs
(tests/fake_runs.py); the pieces have their own test_report_*.py files."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from fake_runs import fake_multirun, make_job

from mimkit.evaluation import report
from mimkit.evaluation.report.cli import sweep_name

ROOT = Path(__file__).resolve().parents[1]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    return fake_multirun(tmp_path / "multiruns" / "2026-01-01_00-00-00")


def row(results: dict, group: str, x) -> dict:
    matches = [r for r in results["rows"] if r["group"] == group and r["x"] == x]
    assert len(matches) == 1
    return matches[0]


def sample_std(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_aggregates_over_seeds(multirun: Path, capsys):
    results = report.report(multirun)
    assert results["x"] == "model.hidden"
    assert results["group"] == "objective"
    assert results["jobs"] == 9
    assert [Path(p).name for p in results["skipped"]] == ["9"]
    assert "skipping job" in capsys.readouterr().err
    assert len(results["rows"]) == 4

    mim5 = row(results, "mim", 5)["metrics"]
    assert mim5["test/mi"]["mean"] == pytest.approx(4.5)
    assert mim5["test/mi"]["std"] == pytest.approx(math.sqrt(0.5))
    assert mim5["test/mi"]["n"] == 2
    assert mim5["train/epochs"]["mean"] == pytest.approx(15.0)

    mim500 = row(results, "mim", 500)
    assert mim500["n"] == 3
    assert mim500["metrics"]["test/mi"]["mean"] == pytest.approx(6.8)
    assert mim500["metrics"]["test/mi"]["std"] == pytest.approx(0.2)
    assert mim500["metrics"]["test/recon"]["mean"] == pytest.approx(0.02)
    assert mim500["metrics"]["test/recon"]["std"] == pytest.approx(0.01)
    assert mim500["metrics"]["test/nll"]["std"] == pytest.approx(sample_std([3.2, 3.4, 3.0]))

    vae500 = row(results, "vae", 500)
    assert vae500["n"] == 2  # the failed seed-3 job is not counted
    assert vae500["metrics"]["test/knn5"] == {"mean": pytest.approx(0.74), "std": None, "n": 1}
    assert vae500["metrics"]["test/nll"]["mean"] == pytest.approx(2.65)


def test_writes_files(multirun: Path):
    report.report(multirun)
    png = multirun / report.FIGURE_NAME
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert json.loads((multirun / report.JSON_NAME).read_text())["x"] == "model.hidden"

    table = (multirun / report.TABLE_NAME).read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:3] == ["objective", "model.hidden", "n"]
    assert {"MI", "NLL", "recon", "5-NN acc.", "epochs", "fit time (s)"} <= set(header)
    assert "active units" not in header  # absent metrics get no column
    body = {tuple(c.strip() for c in line.strip("|").split("|")[:3]) for line in lines[1:]}
    assert body == {("mim", "5", "2"), ("mim", "500", "3"), ("vae", "5", "2"), ("vae", "500", "2")}
    mim5 = next(line for line in lines if line.startswith("| mim | 5 |"))
    assert "4.5 ± 0.71" in mim5
    vae500 = next(line for line in lines if line.startswith("| vae | 500 |"))
    assert "0.74 (1)" in vae500  # one of the row's two jobs has knn5
    assert "Skipped (no metrics.json): 9" in table


def test_out_dir_and_missing_metrics(multirun: Path, tmp_path: Path):
    # jobs with only the loss metrics: no panel metric at all, so no figure, but a table
    bare = tmp_path / "bare"
    for num, (objective, hidden) in enumerate([("mim", 2), ("mim", 4), ("vae", 2), ("vae", 4)]):
        make_job(bare, num, objective, hidden, 1, {})
    out = tmp_path / "out"
    results = report.report(bare, out=out)
    assert results["outputs"]["figure"] is None
    assert not (out / report.FIGURE_NAME).exists()
    assert (out / report.TABLE_NAME).is_file() and (out / report.JSON_NAME).is_file()
    assert not (bare / report.TABLE_NAME).exists()


def test_some_panels_missing(tmp_path: Path):
    root = tmp_path / "mr"
    for num, (objective, dim, seed) in enumerate(
        [("mim", 2, 1), ("mim", 20, 1), ("vae", 2, 1), ("vae", 20, 1), ("mim", 2, 2)]
    ):
        make_job(
            root, num, objective, 50, seed, {"test/recon": 0.1 * dim + seed}, extra={"model.latent_dim": dim}
        )
    results = report.report(root)
    assert results["x"] == "model.latent_dim"
    assert row(results, "mim", 2)["metrics"]["test/recon"]["mean"] == pytest.approx(1.7)
    assert (root / report.FIGURE_NAME).read_bytes()[:8] == PNG_MAGIC


def test_extra_varying_override_splits_lines(tmp_path: Path):
    root = tmp_path / "mr"
    for num, (prior, hidden) in enumerate([("standard", 5), ("standard", 50), ("vamp", 5), ("vamp", 50)]):
        make_job(root, num, "mim", hidden, 1, {"test/mi": hidden / 10}, extra={"prior": prior})
    results = report.report(root)
    assert results["x"] == "model.hidden"
    assert sorted({r["label"] for r in results["rows"]}) == ["mim, prior=standard", "mim, prior=vamp"]
    assert all(r["n"] == 1 for r in results["rows"])


def test_explicit_x_from_config(multirun: Path, tmp_path: Path):
    # x read from the stored config (resolving ${model.hidden}) when it is not an override
    results = report.report(multirun, out=tmp_path / "o", x_key="model.encoder.hidden")
    assert sorted({r["x"] for r in results["rows"]}) == [5, 500]


def test_no_jobs(tmp_path: Path):
    with pytest.raises(ValueError, match="no job directories"):
        report.report(tmp_path)


def test_cli(multirun: Path, tmp_path: Path):
    out = tmp_path / "cli_out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "src" / "report.py"), str(multirun), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "9 jobs, 4 rows, x = model.hidden" in done.stdout
    assert "skipping job" in done.stderr
    assert (out / report.FIGURE_NAME).is_file()
    missing = subprocess.run(
        [sys.executable, str(ROOT / "src" / "report.py"), str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and missing.stderr.startswith("error:")


def test_cli_unparsable_override_is_one_error_line(multirun: Path):
    overrides = multirun / "3" / ".hydra" / "overrides.yaml"
    overrides.write_text("- objective=mim\n- model.hidden=[500,\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "src" / "report.py"), str(multirun)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(overrides) in errors[0] and "model.hidden=[500," in errors[0]


def test_figure_title_names_the_shared_experiment_else_the_dirs():
    roots = [Path("outputs/a/multiruns/resumable"), Path("outputs/b/multiruns/2026")]
    assert sweep_name(["fig4_gmm20d_raw"] * 3, roots[:1]) == "fig4_gmm20d_raw"
    assert sweep_name(["fig4_gmm20d_raw", "fig4_gmm20d_paper"], roots) == "resumable + 2026"
    assert sweep_name([None, None], roots[:1]) == "resumable"
