"""The aggregated rows as tables: results.md (mean ± std per row) and results.json (every
metric)."""

from __future__ import annotations

from pathlib import Path

from mim.report.aggregate import Row
from mim.report.values import format_value

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
    ("epochs", "train/epochs"),
    ("fit time (s)", "time/fit_s"),
)


def _significant(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def format_cell(stats: dict | None, row_n: int) -> str:
    """"mean ± std" (4 and 2 significant digits), with "(n)" appended when fewer jobs than the
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


def markdown_table(rows: list[Row], x_key: str | None, group: str) -> str:
    """A markdown table: the line label, x (when swept), n, then one column per table metric."""
    columns = table_columns(rows)
    headers = [group] + ([x_key] if x_key else []) + ["n"] + [h for h, _ in columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        cells = [row.label] + ([format_value(row.x)] if x_key else []) + [str(row.n)]
        cells += [format_cell(row.metrics.get(name), row.n) for _, name in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_markdown(rows: list[Row], x_key: str | None, group: str, multirun: Path,
                     skipped: list[Path]) -> str:
    """results.md: a title, what was aggregated and skipped, and the markdown table."""
    parts = [f"# Results of `{multirun}`", ""]
    jobs = sum(row.n for row in rows)
    parts.append(f"{jobs} jobs, grouped by `{group}`"
                 + (f", swept over `{x_key}`" if x_key else "")
                 + "; mean ± sample std over seeds; n = jobs per row (a number in brackets: "
                   "jobs with that metric, where fewer).")
    if skipped:
        parts.append(f"Skipped (no metrics.json): {', '.join(p.name for p in skipped)}.")
    parts += ["", markdown_table(rows, x_key, group)]
    return "\n".join(parts)


def results_json(rows: list[Row], x_key: str | None, group: str, multirun: Path,
                 skipped: list[Path]) -> dict:
    """results.json's content (the outputs' paths apart): every row with every metric's stats."""
    return {
        "multirun": str(multirun),
        "x": x_key,
        "group": group,
        "jobs": sum(row.n for row in rows),
        "skipped": [str(p) for p in skipped],
        "rows": [{
            "group": row.group,
            "label": row.label,
            "x": row.x,
            "n": row.n,
            "jobs": [str(job.path) for job in row.jobs],
            "metrics": row.metrics,
        } for row in rows],
    }
