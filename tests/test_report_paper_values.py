"""The paper's Figs. 4–5 values (docs/maths.md §7) beside the report's own
(mimkit.evaluation.report.paper_values), on fake job dirs (tests/fake_runs.py)."""

import json
from pathlib import Path

import pytest
import yaml
from fake_runs import make_job

from mimkit.evaluation import report
from mimkit.evaluation.report.cli import main
from mimkit.evaluation.report.paper_values import FIGURES, PAPER_LATENTS, format_paper

OURS = {"test/mi": 1.5, "test/nll_1s": 50.0, "test/recon": 3.0, "test/knn5": 0.9}


def latent_sweep(root: Path, latents: list[int], task_name: str | None = None) -> Path:
    """mim and vae at each latent size, seeds 1-2, H = 50; `task_name` in every job's config."""
    num = 0
    for objective in ("mim", "vae"):
        for z in latents:
            for seed in (1, 2):
                job = make_job(root, num, objective, 50, seed, OURS, extra={"model.latent_dim": z})
                if task_name:
                    path = job / ".hydra" / "config.yaml"
                    path.write_text(
                        yaml.safe_dump(yaml.safe_load(path.read_text()) | {"task_name": task_name})
                    )
                num += 1
    return root


def table(markdown: str) -> dict[tuple[str, str], dict[str, str]]:
    """results.md's table as {(objective, latent): {header: cell}}."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(headers, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
    return {(row["objective"], row["model.latent_dim"]): row for row in rows}


def test_the_spec_values_are_given_only_where_the_spec_names_them():
    fig4, fig5 = FIGURES["fig4"]["values"], FIGURES["fig5"]["values"]
    assert PAPER_LATENTS == (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)
    # "VAE 1.4 → 0.8": the two ends only, nothing in between
    assert fig4["test/mi"]["vae"] == {2: 1.4, 20: 0.8}
    assert fig4["test/mi"]["mim"] == {
        2: 0.8,
        4: (1.7, 1.9),
        6: (1.7, 1.9),
        8: (1.7, 1.9),
        10: (1.7, 1.9),
        12: (1.7, 1.9),
        14: (1.7, 1.9),
        16: (1.7, 1.9),
        18: (1.7, 1.9),
        20: (1.7, 1.9),
    }
    # 5-NN MIM 0.2 (2), 0.33 (4), 0.4–0.5 (8–20): none at 6
    assert sorted(fig5["test/knn5"]["mim"]) == [2, 4, 8, 10, 12, 14, 16, 18, 20]
    assert fig5["test/mi"]["vae"] == {2: 1.35, 4: 1.8, 6: 2.0, 8: 2.0, 10: 1.8, 20: 1.0}
    assert format_paper((144.0, 146.0)) == "144–146" and format_paper(0.92) == "0.92"
    assert format_paper(None) == "–"


def test_fig4_columns_beside_the_metrics_by_experiment_name(tmp_path):
    root = latent_sweep(tmp_path / "mr", [2, 5, 20], task_name="fig4_gmm20d_raw")
    results = report.report(root)  # --paper auto: every job ran a fig4_gmm20d* experiment
    markdown = (root / report.TABLE_NAME).read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| objective"))
    assert header == (
        "| objective | model.latent_dim | n | MI | MI (paper) | NLL (1 sample) | "
        "NLL (1 sample) (paper) | recon | recon (paper) | 5-NN acc. | "
        "5-NN acc. (paper) | epochs | fit time (s) |"
    )
    rows = table(markdown)
    paper = ("MI (paper)", "5-NN acc. (paper)", "recon (paper)", "NLL (1 sample) (paper)")
    expected = {
        ("mim", "2"): ("0.8", "1", "144–146", "88"),
        ("mim", "5"): ("–", "–", "–", "–"),  # not one of the paper's sizes
        ("mim", "20"): ("1.7–1.9", "1", "144–146", "155"),
        ("vae", "2"): ("1.4", "0.92", "145", "75"),
        ("vae", "5"): ("–", "–", "–", "–"),
        ("vae", "20"): ("0.8", "0.65", "155", "90"),
    }
    for key, values in expected.items():
        assert tuple(rows[key][h] for h in paper) == values, key
    assert rows[("vae", "20")]["MI"] == "1.5 ± 0" and rows[("vae", "20")]["n"] == "2"
    assert "(paper) columns: paper Fig. 4 (20-D GMM), read off" in markdown
    assert "raw data scale" in markdown
    # results.json: the figure and each row's values, a range as [low, high]
    assert results["paper"]["figure"] == "fig4"
    saved = json.loads((root / report.JSON_NAME).read_text())
    by_row = {(r["group"], r["x"]): r["paper"] for r in saved["rows"]}
    assert by_row[("mim", 20)] == {
        "test/mi": [1.7, 1.9],
        "test/knn5": 1.0,
        "test/recon": [144.0, 146.0],
        "test/nll_1s": 155.0,
    }
    assert by_row[("vae", 2)] == {"test/mi": 1.4, "test/knn5": 0.92, "test/recon": 145.0, "test/nll_1s": 75.0}
    assert by_row[("mim", 5)] == {}


def test_fig5_on_the_command_line(tmp_path, capsys):
    root = latent_sweep(tmp_path / "mr", [2, 6, 12])  # no task_name: asked for by --paper
    assert main([str(root), "--paper", "fig5"]) == 0
    assert "paper values: paper Fig. 5 (PCA-Fashion-MNIST)" in capsys.readouterr().out
    rows = table((root / report.TABLE_NAME).read_text())
    paper = ("MI (paper)", "5-NN acc. (paper)", "recon (paper)", "NLL (1 sample) (paper)")
    expected = {
        ("mim", "2"): ("0.7", "0.2", "9", "60–130"),
        ("mim", "6"): ("2.2", "–", "5–6", "60–130"),
        ("mim", "12"): ("2.6–3", "0.4–0.5", "5–6", "60–130"),
        ("vae", "2"): ("1.35", "0.3", "7", "30"),
        ("vae", "6"): ("2", "–", "7", "30"),
        ("vae", "12"): ("–", "–", "7", "30"),
    }  # "then 1.8 → 1.0": 10 and 20 only
    for key, values in expected.items():
        assert tuple(rows[key][h] for h in paper) == values, key
    saved = json.loads((root / report.JSON_NAME).read_text())
    assert {(r["group"], r["x"]): r["paper"].get("test/knn5") for r in saved["rows"]} == {
        ("mim", 2): 0.2,
        ("mim", 6): None,
        ("mim", 12): [0.4, 0.5],
        ("vae", 2): 0.3,
        ("vae", 6): None,
        ("vae", 12): None,
    }


def test_no_paper_columns_unless_asked_or_detected(tmp_path):
    plain = latent_sweep(tmp_path / "plain", [2, 20])  # no experiment name
    assert "paper" not in report.report(plain)
    assert "(paper)" not in (plain / report.TABLE_NAME).read_text()
    other = latent_sweep(tmp_path / "other", [2, 20], task_name="fig3_gmm2d")
    assert "paper" not in report.report(other)
    named = latent_sweep(tmp_path / "named", [2, 20], task_name="fig5_pca_fmnist_separate")
    assert report.report(named)["paper"]["figure"] == "fig5"
    assert "paper" not in report.report(named, paper="none")
    assert "(paper)" not in (named / report.TABLE_NAME).read_text()


def test_paper_values_need_a_latent_sweep(tmp_path, capsys):
    root = tmp_path / "hidden"
    for num, hidden in enumerate((5, 50)):
        make_job(root, num, "mim", hidden, 1, OURS)
    assert main([str(root), "--paper", "fig4"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --paper fig4: the paper's values are per model.latent_dim, but this sweep's x is model.hidden"
    )
    with pytest.raises(ValueError, match="--paper must be one of auto, none, fig4, fig5"):
        report.report(root, paper="fig3")
