"""The figures (mimkit.evaluation.report.panels, mimkit.evaluation.report.fig2_grid): colours, labels,
panel choice and the Fig. 2 grid."""

from pathlib import Path

import numpy as np
import pytest
from fake_runs import fake_multirun

from mimkit.evaluation import report
from mimkit.evaluation.report.aggregate import Row
from mimkit.evaluation.report.panels import (
    clipped_limits,
    colour,
    display,
    mark_off_axis,
    panel_metric,
    plot_rows,
)

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
    rows = [
        row({"test/nll": {"mean": None, "std": None, "n": 0}}),
        row({"test/nll_1s": {"mean": 2.0, "std": None, "n": 1}}),
    ]
    assert panel_metric(rows, ("test/nll", "test/nll_1s")) == "test/nll_1s"
    assert panel_metric(rows, ("test/mi",)) is None


def test_no_panel_metric_no_figure(tmp_path: Path, capsys):
    path = tmp_path / "figure.png"
    assert plot_rows([row({"val/loss": {"mean": 1.0, "std": None, "n": 1}})], "h", path) is None
    assert not path.exists() and "no figure" in capsys.readouterr().err


def test_clipped_limits_leave_out_far_out_means():
    # 100 ± 200 (one diverged seed: the std above the mean) lies 95.5 beyond the others' band
    # 0.5-4.5 (width 4), more than 3 widths, and its own band reaches into it: left out; the kept
    # band 0.5-4.5 is padded by 5% of 4 = 0.2
    points = [(1.0, 0.5), (2.0, 0.5), (3.0, 0.5), (4.0, 0.5), (100.0, 200.0)]
    assert clipped_limits(points) == pytest.approx((0.3, 4.7))
    # below: -100 ± 150 lies 101 under the band 1-4 (width 3); kept 1-4, padded 0.15
    low_points = [(-100.0, 150.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]
    assert clipped_limits(low_points) == pytest.approx((0.85, 4.15))
    # a NaN mean (a metric that failed) takes no part
    assert clipped_limits(points + [(float("nan"), 0.0)]) == pytest.approx((0.3, 4.7))


def test_clipped_limits_autoscale_without_far_out_means():
    # 9 lies 5 above the band 1-4 (width 3): under 3 widths
    assert clipped_limits([(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (9.0, 0.0)]) is None
    # 100 ± 1 is far above, but all its seeds moved (its band 99-101 stays clear of 1-4): a trend
    assert clipped_limits([(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0), (100.0, 1.0)]) is None
    # a cluster at 1.0 and a tail falling to 0.86 (a VAE's 5-NN): the tail is data, not an outlier
    tail = [(1.0, 0.0)] * 6 + [(0.99, 0.0), (0.97, 0.0), (0.90, 0.0), (0.86, 0.0)]
    assert clipped_limits(tail) is None
    assert clipped_limits([(1.0, 0.0), (2.0, 0.0), (100.0, 500.0)]) is None  # too few to judge
    assert clipped_limits([(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (float("nan"), 0.0)]) is None


def test_off_axis_means_are_arrows_at_the_edge_with_their_value():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    mark_off_axis(ax, (0.0, 10.0), [(1, 5.0, "red"), (2, 809.5, "blue"), (3, -20.0, "green")])
    assert [t.get_text() for t in ax.texts] == ["809.5", "-20"]
    assert [(line.get_marker(), list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines] == [
        ("^", [2], [10.0]),
        ("v", [3], [0.0]),
    ]
    plt.close(fig)


def test_one_diverged_point_does_not_flatten_the_panel(tmp_path: Path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    # 3, 3.5, ..., 7 (± 1: the band 2-8) and 809.5 ± 2546.9 (Fig. 5's diverged MIM seed), far
    # above it; the limits are the band padded by 0.3
    recon = [(3.0 + 0.5 * i, 1.0) for i in range(9)] + [(809.5, 2546.9)]
    rows = [
        Row(
            group="mim",
            label="mim",
            x=2 * (i + 1),
            jobs=[],
            metrics={"test/recon": {"mean": m, "std": s, "n": 10}},
        )
        for i, (m, s) in enumerate(recon)
    ]
    path = plot_rows(rows, "model.latent_dim", tmp_path / "figure.png")
    assert path.read_bytes().startswith(PNG_MAGIC)
    (ax,) = figures[0].axes
    assert ax.get_ylim() == pytest.approx((1.7, 8.3))
    assert [t.get_text() for t in ax.texts] == ["809.5"]


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
