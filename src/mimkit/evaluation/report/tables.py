"""The aggregated rows as tables: results.md (mean ± std per row) and results.json (every
metric). With a paper figure (`mimkit.evaluation.report.paper_values`, Figs. 4–5), each metric the paper plots
gets a "(paper)" column beside its own, and each row of results.json a "paper" entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mimkit.evaluation.report.aggregate import Row
from mimkit.evaluation.report.paper_values import FIGURES, format_paper, paper_value
from mimkit.evaluation.report.values import format_value

# (column header, metric) of the markdown table, in order; absent metrics are left out
TABLE_METRICS = (
    ("MI", "test/mi"),
    ("NLL", "test/nll"),
    ("NLL (1 sample)", "test/nll_1s"),
    ("recon", "test/recon"),
    ("recon (means)", "test/recon_mean"),
    ("5-NN acc.", "test/knn5"),
    ("active units", "test/active_units"),
    ("consistency", "test/consistency"),
    # token models (docs/sequences.md)
    ("valid", "test/gen/validity"),
    ("unique@10k", "test/gen/unique@10000"),
    ("novel", "test/gen/novelty"),
    ("IntDiv", "test/gen/int_div"),
    ("FCD", "test/gen/fcd"),
    ("recon exact", "test/recon/exact"),
    ("token acc.", "test/recon/token_acc"),
    ("epochs", "train/epochs"),
    ("fit time (s)", "time/fit_s"),
)


def _significant(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def format_cell(stats: dict | None, row_n: int) -> str:
    """ "mean ± std" (4 and 2 significant digits), with "(n)" appended when fewer jobs than the
    row's `row_n` have the metric; "–" when none has it."""
    if not stats or stats["n"] == 0:
        return "–"
    text = _significant(stats["mean"], 4)
    if stats["std"] is not None:
        text += f" ± {_significant(stats['std'], 2)}"
    if stats["n"] != row_n:
        text += f" ({stats['n']})"
    return text


def table_columns(rows: list[Row]) -> list[tuple[str, str]]:
    """The (header, metric) pairs of TABLE_METRICS that at least one row has a value of."""
    present = {name for row in rows for name, s in row.metrics.items() if s["n"] > 0}
    return [(header, name) for header, name in TABLE_METRICS if name in present]


def row_paper_values(row: Row, figure: str | None) -> dict:
    """{metric: the paper's value} for this row's objective and latent size (its x)."""
    if figure is None:
        return {}
    found = {metric: paper_value(figure, metric, row.group, row.x) for metric in FIGURES[figure]["values"]}
    return {metric: value for metric, value in found.items() if value is not None}


def markdown_table(rows: list[Row], x_key: str | None, group: str, figure: str | None = None) -> str:
    """A markdown table: the line label, x (when swept), n, then one column per table metric;
    with a paper `figure`, a "(paper)" column after each metric the paper gives a row value of."""
    present = {name for _, name in table_columns(rows)}
    papers = [row_paper_values(row, figure) for row in rows]
    in_paper = {name for values in papers for name in values}
    columns = []  # (header, metric, from the paper)
    for header, name in TABLE_METRICS:
        if name in present:
            columns.append((header, name, False))
        if name in in_paper:
            columns.append((f"{header} (paper)", name, True))
    headers = [group] + ([x_key] if x_key else []) + ["n"] + [h for h, _, _ in columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row, paper in zip(rows, papers):
        cells = [row.label] + ([format_value(row.x)] if x_key else []) + [str(row.n)]
        cells += [
            format_paper(paper.get(name)) if from_paper else format_cell(row.metrics.get(name), row.n)
            for _, name, from_paper in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_markdown(
    rows: list[Row],
    x_key: str | None,
    group: str,
    multirun: str | Path,
    skipped: list[Path],
    figure: str | None = None,
) -> str:
    """results.md: a title, what was aggregated and skipped, and the markdown table (with the
    paper `figure`'s columns and a line saying where they come from)."""
    parts = [f"# Results of `{multirun}`", ""]
    jobs = sum(row.n for row in rows)
    parts.append(
        f"{jobs} jobs, grouped by `{group}`"
        + (f", swept over `{x_key}`" if x_key else "")
        + "; mean ± sample std over seeds; n = jobs per row (a number in brackets: "
        "jobs with that metric, where fewer)."
    )
    if skipped:
        parts.append(f"Skipped (no metrics.json): {', '.join(p.name for p in skipped)}.")
    if figure is not None:
        parts += [
            "",
            f"(paper) columns: {FIGURES[figure]['title']}, {FIGURES[figure]['note']}; "
            f"a range where the plot gives one, – where it gives no value at that size.",
        ]
    parts += ["", markdown_table(rows, x_key, group, figure)]
    return "\n".join(parts)


def results_json(
    rows: list[Row],
    x_key: str | None,
    group: str,
    multirun: str | Path,
    skipped: list[Path],
    figure: str | None = None,
) -> dict:
    """results.json's content (the outputs' paths apart): every row with every metric's stats;
    with a paper `figure`, its title and note, and each row's paper values ([low, high] for a
    range)."""
    results: dict[str, Any] = {
        "multirun": str(multirun),
        "x": x_key,
        "group": group,
        "jobs": sum(row.n for row in rows),
        "skipped": [str(p) for p in skipped],
        "rows": [
            {
                "group": row.group,
                "label": row.label,
                "x": row.x,
                "n": row.n,
                "jobs": [str(job.path) for job in row.jobs],
                "metrics": row.metrics,
            }
            for row in rows
        ],
    }
    if figure is not None:
        results["paper"] = {
            "figure": figure,
            "title": FIGURES[figure]["title"],
            "note": FIGURES[figure]["note"],
        }
        for entry, row in zip(results["rows"], rows):
            entry["paper"] = {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in row_paper_values(row, figure).items()
            }
    return results
