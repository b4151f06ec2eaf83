"""The paper's Fig. 2 layout: the jobs' own fig2.png (posterior plots) tiled, a row per group and
a column per swept value."""

from __future__ import annotations

from pathlib import Path

from mimkit.evaluation.report.panels import DISPLAY_NAMES, display
from mimkit.evaluation.report.runs import Job
from mimkit.evaluation.report.sweep import SEED_KEY
from mimkit.evaluation.report.values import format_value, hashable, sort_key

JOB_FIGURE = "fig2.png"


def fig2_grid(jobs: list[Job], x_key: str | None, group: str, path: Path) -> Path | None:
    """Tile the jobs' fig2.png like the paper's Fig. 2: a row per group, a column per swept value
    (all of them up to 4, else the smallest two and the largest), the lowest seed of each cell.

    Returns None (and writes nothing) when no job has a fig2.png.
    """
    cells: dict[tuple, Job] = {}
    for job in sorted(jobs, key=lambda j: sort_key(j.value(SEED_KEY))):
        if (job.path / JOB_FIGURE).is_file():
            x = job.value(x_key) if x_key else None
            cells.setdefault((str(job.value(group)), hashable(x)), job)
    if not cells:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({g for g, _ in cells}, key=lambda g: (g not in DISPLAY_NAMES, g))[::-1]
    xs = sorted({x for _, x in cells}, key=sort_key)
    if len(xs) > 4:
        xs = xs[:2] + xs[-1:]
    fig, axes = plt.subplots(len(groups), len(xs), figsize=(3.2 * len(xs), 6.2 * len(groups)), squeeze=False)
    for i, g in enumerate(groups):
        for j, x in enumerate(xs):
            ax = axes[i][j]
            ax.axis("off")
            cell = cells.get((g, x))
            if cell is not None:
                ax.imshow(plt.imread(cell.path / JOB_FIGURE))
                ax.set_title(
                    f"{display(g)}, {x_key} = {format_value(x)}, seed {cell.value(SEED_KEY)}", fontsize=8
                )
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
