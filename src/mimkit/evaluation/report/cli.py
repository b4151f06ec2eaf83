"""The report's entry points: `report()` reads, aggregates and writes the outputs of a multirun;
`main()` is its command line (`python src/report.py`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mimkit.evaluation.report.aggregate import aggregate
from mimkit.evaluation.report.fig2_grid import fig2_grid
from mimkit.evaluation.report.panels import plot_rows
from mimkit.evaluation.report.paper_tables import paper_tables
from mimkit.evaluation.report.paper_values import CHOICES as PAPER_CHOICES
from mimkit.evaluation.report.paper_values import choose_figure
from mimkit.evaluation.report.runs import job_dirs, read_job
from mimkit.evaluation.report.sweep import DEFAULT_GROUP, infer_x_key
from mimkit.evaluation.report.tables import results_json, results_markdown

FIGURE_NAME = "figure.png"
TABLE_NAME = "results.md"
JSON_NAME = "results.json"
FIG2_NAME = "fig2_grid.png"


def sweep_name(task_names: list, roots: list[Path]) -> str:
    """The figure's title: the experiment (task_name) when every job ran the same one, else the
    multirun dirs' names (a fixed sweep dir such as `resumable` names no experiment)."""
    names = set(task_names)
    if len(names) == 1 and isinstance(next(iter(names)), str):
        return names.pop()
    return " + ".join(root.name for root in roots)


def report(
    multirun: str | Path | list,
    out: str | Path | None = None,
    x_key: str | None = None,
    group: str = DEFAULT_GROUP,
    paper: str = "auto",
) -> dict:
    """Read, aggregate and write figure.png, results.md, fig2_grid.png (when the jobs drew a
    fig2.png) and results.json into `out` (default: the multirun dir); for image models also the
    paper's Tables 1–2 (tables.md, tables.json) and each cell's pictures (figures.md, cells/).
    Returns results.json's dict.

    `multirun` may be a list of multirun dirs, read as one (e.g. the two Tables 1–2 grids; `out`
    is then required). `x_key` None infers the swept key; raises FileNotFoundError/ValueError on
    an empty multirun.

    `paper`: fig4|fig5 adds that figure's values from the paper (mimkit.evaluation.report.paper_values) beside
    the metrics of results.md and results.json, per objective and latent size; auto (default)
    does so when every job ran that figure's experiment (task_name fig4_gmm20d*, fig5_pca_fmnist*)
    and the sweep is over model.latent_dim; none never.
    """
    roots = [Path(m) for m in multirun] if isinstance(multirun, (list, tuple)) else [Path(multirun)]
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a directory")
    if len(roots) > 1 and out is None:
        raise ValueError("several multirun dirs need --out")
    multirun = roots[0] if len(roots) == 1 else " + ".join(map(str, roots))
    paths = [path for root in roots for path in job_dirs(root)]
    if not paths:
        raise ValueError(f"{multirun} holds no job directories (sub-directories with .hydra/)")
    jobs = [job for job in map(read_job, paths) if job is not None]
    skipped = [p for p in paths if p not in {job.path for job in jobs}]
    if not jobs:
        raise ValueError(f"no job of {multirun} has a metrics.json")
    if x_key is None:
        x_key = infer_x_key(jobs, group)
    task_names = [job.config.get("task_name") for job in jobs]
    paper_figure = choose_figure(paper, task_names, x_key)
    rows = aggregate(jobs, x_key, group)
    out_dir = Path(out) if out is not None else roots[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    results = results_json(rows, x_key, group, multirun, skipped, paper_figure)
    figure = plot_rows(
        rows,
        x_key,
        out_dir / FIGURE_NAME,
        title=f"{sweep_name(task_names, roots)}: {len(jobs)} jobs" + (f", x = {x_key}" if x_key else ""),
    )
    table = out_dir / TABLE_NAME
    table.write_text(results_markdown(rows, x_key, group, multirun, skipped, paper_figure))
    grid = fig2_grid(jobs, x_key, group, out_dir / FIG2_NAME)
    tables = paper_tables(jobs, out_dir)
    results["outputs"] = {
        "figure": str(figure) if figure else None,
        "table": str(table),
        "fig2_grid": str(grid) if grid else None,
        "json": str(out_dir / JSON_NAME),
        **(tables["outputs"] if tables else {}),
    }
    (out_dir / JSON_NAME).write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """`python src/report.py <multirun> [<multirun> ...] [--out DIR] [--x KEY] [--group KEY]
    [--paper auto|none|fig4|fig5]`; 1 on an error line."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Aggregate a Hydra multirun over seeds: figure.png (paper Figs. 3-5 style), "
        "results.md and results.json."
    )
    parser.add_argument(
        "multirun",
        nargs="+",
        help="the multirun directory (outputs/<task>/multiruns/<time>); several are read as one",
    )
    parser.add_argument("--out", help="output directory (default: the multirun directory)")
    parser.add_argument("--x", dest="x_key", help="the swept key of the x axis (default: inferred)")
    parser.add_argument(
        "--group", default=DEFAULT_GROUP, help=f"the key that makes the lines (default: {DEFAULT_GROUP})"
    )
    parser.add_argument(
        "--paper",
        default="auto",
        choices=PAPER_CHOICES,
        help="add the paper's Fig. 4 or 5 values (docs/maths.md §7) beside the metrics, per "
        "objective and latent size (default auto: by the jobs' experiment)",
    )
    args = parser.parse_args(argv)
    try:
        multirun = args.multirun[0] if len(args.multirun) == 1 else args.multirun
        results = report(multirun, args.out, args.x_key, args.group, args.paper)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"{results['jobs']} jobs, {len(results['rows'])} rows, x = {results['x']}, "
        f"group = {results['group']}"
        + (f", paper values: {results['paper']['title']}" if "paper" in results else "")
    )
    for kind, path in results["outputs"].items():
        if path:
            print(f"{kind}: {path}")
    return 0
