"""The figures (mim.report.panels, mim.report.fig2_grid): colours, labels, panel choice and
the Fig. 2 grid."""

from pathlib import Path

import numpy as np
import pytest
from fake_runs import fake_multirun

from mim import report
from mim.report.aggregate import Row
from mim.report.panels import colour, display, panel_metric, plot_rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def multirun(tmp_path: Path) -> Path:
    return fake_multirun(tmp_path / "multiruns" / "2026-01-01_00-00-00")


def test_colours_paper_first_then_cycle():
    order = ["vae", "zeta", "MIM", "alpha"]
    assert [colour(g, order) for g in order] == ["tab:red", "tab:purple", "tab:blue", "tab:orange"]


def test_display_names():
    assert display("mim") == "MIM" and display("amim, prior=vamp") == "A-MIM, prior=vamp"
    assert display("other, lr=0.1") == "other, lr=0.1"


def row(metrics: dict) -> Row:
    return Row(group="mim", label="mim", x=5, jobs=[], metrics=metrics)


def test_panel_metric_takes_the_first_present_candidate():
    rows = [row({"test/nll": {"mean": None, "std": None, "n": 0}}),
            row({"test/nll_1s": {"mean": 2.0, "std": None, "n": 1}})]
    assert panel_metric(rows, ("test/nll", "test/nll_1s")) == "test/nll_1s"
    assert panel_metric(rows, ("test/mi",)) is None


def test_no_panel_metric_no_figure(tmp_path: Path, capsys):
    path = tmp_path / "figure.png"
    assert plot_rows([row({"val/loss": {"mean": 1.0, "std": None, "n": 1}})], "h", path) is None
    assert not path.exists() and "no figure" in capsys.readouterr().err


def test_fig2_grid_tiles_the_lowest_seed_of_each_cell(multirun: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # jobs 0 and 1: mim, H = 5, seeds 1 and 2 (red and blue); job 5: vae, H = 5, seed 1
    for num, c in ((0, (1, 0, 0)), (1, (0, 0, 1)), (5, (0, 1, 0))):
        plt.imsave(multirun / str(num) / "fig2.png", np.full((4, 4, 3), c, dtype=float))
    results = report.report(multirun)
    grid = Path(results["outputs"]["fig2_grid"])
    image = plt.imread(grid)
    assert grid.read_bytes().startswith(PNG_MAGIC)
    pixels = {tuple(p) for p in image[..., :3].reshape(-1, 3).round(2).tolist()}
    assert (1.0, 0.0, 0.0) in pixels and (0.0, 1.0, 0.0) in pixels  # mim seed 1, vae seed 1
    assert (0.0, 0.0, 1.0) not in pixels  # seed 2 is not shown


def test_no_fig2_grid_without_fig2_files(multirun: Path):
    assert report.report(multirun)["outputs"]["fig2_grid"] is None
