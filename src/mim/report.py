"""Summarise a Hydra multirun: aggregate every job's metrics.json over seeds, plot, tabulate.

`python src/report.py <multirun dir>` writes, by default into the multirun dir itself:

- `figure.png`: a row of four panels shaped like the paper's Figs. 3-5 (MI, NLL, reconstruction
  error, 5-NN accuracy) against the swept value, one line per objective, mean with a ±std band;
- `results.md`: a markdown table of mean ± std per (objective, swept value);
- `results.json`: every aggregated metric (mean, std, n) per (objective, swept value).

The swept x-axis key is inferred from the jobs' overrides: the numeric override that takes more
than one value, `seed` apart. Lines are grouped by `objective` (or `--group`); any other override
that varies between jobs is added to the line label, so that different settings are never
averaged together. Jobs without metrics.json (failed or still running) are skipped with a warning.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

SEED_KEY = "seed"
DEFAULT_GROUP = "objective"
FIGURE_NAME = "figure.png"
TABLE_NAME = "results.md"
JSON_NAME = "results.json"

# (title, metric candidates in order of preference, y label) of the paper's four panels
PANELS = (
    ("(a) MI", ("test/mi",), "KSG mutual information (nats)"),
    ("(b) NLL", ("test/nll", "test/nll_1s"), "test NLL (nats)"),
    ("(c) Recon. Error", ("test/recon",), "test reconstruction error"),
    ("(d) Classif. (5-NN)", ("test/knn5",), "5-NN accuracy"),
)

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

# the paper's colours: MIM blue, VAE red; further groups take the next colours of the cycle
GROUP_COLOURS = {"mim": "tab:blue", "vae": "tab:red", "amim": "tab:green"}
OTHER_COLOURS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
                 "tab:gray")
LINE_STYLES = ("-", "--", ":", "-.")
DISPLAY_NAMES = {"mim": "MIM", "vae": "VAE", "amim": "A-MIM"}


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ----------------------------------------------------------------------------- reading jobs

@dataclass
class Job:
    """One job of a multirun: its directory, overrides, composed config and final metrics."""

    path: Path
    overrides: dict[str, Any]
    config: dict
    choices: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        """`key`'s value: the override if given, else the config-group choice, else the config."""
        if key in self.overrides:
            return self.overrides[key]
        if key in self.choices:
            return self.choices[key]
        return config_value(self.config, key)


def parse_value(text: str) -> Any:
    """An override's value: a number where it reads as one (1e-3 included, as in Hydra's
    grammar), else as YAML reads it (lists, booleans, null), else the raw string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(lines: Iterable[str]) -> dict[str, Any]:
    """Hydra's overrides.yaml list ("key=value", "+key=value", "~key") as {key: value}."""
    overrides: dict[str, Any] = {}
    for line in lines:
        line = str(line)
        if line.startswith("~"):  # deletions carry no value to sweep over
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        overrides[key.lstrip("+")] = parse_value(value)
    return overrides


def lookup(config: Any, key: str) -> Any:
    """The value at dotted `key` in nested dicts, or None."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def config_value(config: dict, key: str) -> Any:
    """`key` in a stored (unresolved) Hydra config, interpolations such as ${model.hidden}
    resolved where possible (the raw value where they cannot be, e.g. ${hydra:...})."""
    raw = lookup(config, key)
    if not (isinstance(raw, str) and "${" in raw):
        return raw
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.select(OmegaConf.create(config), key)
    except OmegaConfBaseException:
        return raw


def _read_yaml(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        warn(f"{path}: unreadable YAML ({error.__class__.__name__}); ignored")
        return default
    return default if loaded is None else loaded


def _job_sort_key(path: Path) -> tuple:
    return (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name)


def job_dirs(multirun: Path) -> list[Path]:
    """The job directories of a multirun (sub-directories with a `.hydra` folder), in job order.

    A single run directory (one with its own `.hydra`) counts as a multirun of one job.
    """
    if (multirun / ".hydra").is_dir():
        return [multirun]
    return sorted((p for p in multirun.iterdir() if p.is_dir() and (p / ".hydra").is_dir()),
                  key=_job_sort_key)


def read_metrics(path: Path) -> dict[str, float] | None:
    """The numeric entries of a metrics.json, or None if it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: float(v) for k, v in data.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_job(path: Path) -> Job | None:
    """One job; None (with a warning) if it has no readable metrics.json."""
    metrics = read_metrics(path / "metrics.json")
    if metrics is None:
        warn(f"skipping job {path}: no readable metrics.json (failed or unfinished)")
        return None
    hydra_dir = path / ".hydra"
    overrides = parse_overrides(_read_yaml(hydra_dir / "overrides.yaml", []))
    config = _read_yaml(hydra_dir / "config.yaml", {})
    hydra_cfg = _read_yaml(hydra_dir / "hydra.yaml", {})
    choices = lookup(hydra_cfg, "hydra.runtime.choices") or {}
    choices = {str(k): v for k, v in choices.items() if isinstance(v, str)}
    return Job(path=path, overrides=overrides, config=config, choices=choices, metrics=metrics)


def read_jobs(multirun: Path) -> list[Job]:
    jobs = []
    for path in job_dirs(multirun):
        job = read_job(path)
        if job is not None:
            jobs.append(job)
    return jobs


# ----------------------------------------------------------------------------- inference

def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (list, dict)) else value


def varying_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value differs between jobs (a key missing in a job counts as a value)."""
    keys = sorted({key for job in jobs for key in job.overrides})
    return [key for key in keys
            if len({_hashable(job.overrides.get(key)) for job in jobs}) > 1]


def infer_x_key(jobs: list[Job], group: str) -> str | None:
    """The swept numeric override: varying, numeric in every job, not the seed nor the group.

    With several candidates the one with the most distinct values is taken (with a warning);
    None when nothing numeric is swept.
    """
    candidates = [key for key in varying_keys(jobs)
                  if key not in (SEED_KEY, group)
                  and all(is_number(job.overrides.get(key)) for job in jobs)]
    if not candidates:
        return None
    candidates.sort(key=lambda k: -len({job.overrides[k] for job in jobs}))
    if len(candidates) > 1:
        warn(f"several numeric overrides vary ({', '.join(candidates)}); x axis: {candidates[0]} "
             f"(choose with --x); the others label separate lines")
    return candidates[0]


def extra_keys(jobs: list[Job], x_key: str | None, group: str) -> list[str]:
    """Varying overrides other than x, seed and group: they split lines instead of being averaged."""
    return [key for key in varying_keys(jobs) if key not in (SEED_KEY, group, x_key)]


def _format_value(value: Any) -> str:
    if value is None:
        return "none"
    return str(value)


# ----------------------------------------------------------------------------- aggregation

def mean_std(values: list[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (n - 1 in the denominator; None for n < 2) and n."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std, "n": n}


@dataclass
class Row:
    """The aggregate of the jobs that share a group value, extra settings and x value."""

    group: str
    label: str
    x: Any
    jobs: list[Job]
    metrics: dict[str, dict] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.jobs)


def _x_sort_key(x: Any) -> tuple:
    return (0, x, "") if is_number(x) else (1, 0, _format_value(x))


def aggregate(jobs: list[Job], x_key: str | None, group: str = DEFAULT_GROUP,
              extras: list[str] | None = None) -> list[Row]:
    """Rows (group, label, x) with each metric's mean/std/n over the jobs (seeds) they hold.

    Non-finite metric values are left out of the statistics (and so of that metric's n).
    """
    extras = extra_keys(jobs, x_key, group) if extras is None else extras
    buckets: dict[tuple, Row] = {}
    for job in jobs:
        group_value = _format_value(job.value(group))
        label = ", ".join([group_value] + [f"{k}={_format_value(job.overrides.get(k))}"
                                           for k in extras])
        x = job.value(x_key) if x_key else None
        key = (label, _hashable(x))
        if key not in buckets:
            buckets[key] = Row(group=group_value, label=label, x=x, jobs=[])
        buckets[key].jobs.append(job)
    rows = sorted(buckets.values(), key=lambda r: (r.label, _x_sort_key(r.x)))
    for row in rows:
        names = sorted({name for job in row.jobs for name in job.metrics})
        for name in names:
            values = [job.metrics[name] for job in row.jobs
                      if name in job.metrics and math.isfinite(job.metrics[name])]
            row.metrics[name] = mean_std(values)
    return rows


# ----------------------------------------------------------------------------- outputs

def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def format_cell(stats: dict | None, row_n: int) -> str:
    """"mean ± std", with "(n)" appended when fewer jobs than the row's contributed."""
    if not stats or stats["n"] == 0:
        return "–"
    text = _fmt(stats["mean"])
    if stats["std"] is not None:
        text += f" ± {_fmt(stats['std'], 2)}"
    if stats["n"] != row_n:
        text += f" ({stats['n']})"
    return text


def table_columns(rows: list[Row]) -> list[tuple[str, str]]:
    present = {name for row in rows for name, s in row.metrics.items() if s["n"] > 0}
    return [(header, name) for header, name in TABLE_METRICS if name in present]


def markdown_table(rows: list[Row], x_key: str | None, group: str) -> str:
    columns = table_columns(rows)
    headers = [group] + ([x_key] if x_key else []) + ["n"] + [h for h, _ in columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        cells = [row.label] + ([_format_value(row.x)] if x_key else []) + [str(row.n)]
        cells += [format_cell(row.metrics.get(name), row.n) for _, name in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(rows: list[Row], x_key: str | None, group: str, multirun: Path,
                skipped: list[Path], path: Path) -> Path:
    parts = [f"# Results of `{multirun}`", ""]
    jobs = sum(row.n for row in rows)
    parts.append(f"{jobs} jobs, grouped by `{group}`"
                 + (f", swept over `{x_key}`" if x_key else "")
                 + "; mean ± sample std over seeds; n = jobs per row (a number in brackets: "
                   "jobs with that metric, where fewer).")
    if skipped:
        parts.append(f"Skipped (no metrics.json): {', '.join(p.name for p in skipped)}.")
    parts += ["", markdown_table(rows, x_key, group)]
    path.write_text("\n".join(parts))
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def results_dict(rows: list[Row], x_key: str | None, group: str, multirun: Path,
                 skipped: list[Path]) -> dict:
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
            "metrics": {name: {k: _jsonable(v) for k, v in stats.items()}
                        for name, stats in row.metrics.items()},
        } for row in rows],
    }


def _colour(group: str, order: list[str]) -> str:
    if group.lower() in GROUP_COLOURS:
        return GROUP_COLOURS[group.lower()]
    others = [g for g in order if g.lower() not in GROUP_COLOURS]
    return OTHER_COLOURS[others.index(group) % len(OTHER_COLOURS)]


def display(label: str) -> str:
    """A line label for the figure, the objective written as in the paper (MIM, VAE, A-MIM)."""
    head, sep, rest = label.partition(", ")
    return DISPLAY_NAMES.get(head.lower(), head) + sep + rest


def _panel_metric(rows: list[Row], candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        if any(row.metrics.get(name, {}).get("n", 0) > 0 for row in rows):
            return name
    return None


def plot_rows(rows: list[Row], x_key: str | None, path: Path, title: str | None = None) -> Path | None:
    """The Figs. 3-5 style row of panels; panels whose metric no job has are left out.

    Returns None (and writes nothing) when none of the panel metrics is present.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, m, y) for t, cands, y in PANELS if (m := _panel_metric(rows, cands))]
    if not panels:
        warn("none of the figure's metrics (mi, nll, recon, knn5) is in the jobs; no figure")
        return None
    groups = list(dict.fromkeys(row.group for row in rows))
    labels = list(dict.fromkeys(row.label for row in rows))
    numeric_x = x_key is not None and all(is_number(row.x) for row in rows)
    if numeric_x:
        ticks = None
    elif x_key is not None:  # a categorical sweep: one tick per value, lines side by side
        ticks = [_format_value(x) for x in sorted({_hashable(r.x) for r in rows}, key=_x_sort_key)]
    else:  # nothing swept: one tick per line
        ticks = labels

    def position(row: Row) -> float:
        if numeric_x:
            return row.x
        if x_key is None:
            return labels.index(row.label)
        spread = 0.3 * (labels.index(row.label) - (len(labels) - 1) / 2) / max(len(labels), 1)
        return ticks.index(_format_value(row.x)) + spread

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (panel_title, metric, ylabel) in zip(axes[0], panels):
        styles: dict[str, int] = {}
        for label in labels:
            line_rows = [r for r in rows if r.label == label
                         and r.metrics.get(metric, {}).get("n", 0) > 0]
            if not line_rows:
                continue
            group = line_rows[0].group
            style = LINE_STYLES[styles.setdefault(group, 0) % len(LINE_STYLES)]
            styles[group] += 1
            colour = _colour(group, groups)
            xs = [position(r) for r in line_rows]
            means = [r.metrics[metric]["mean"] for r in line_rows]
            stds = [r.metrics[metric]["std"] or 0.0 for r in line_rows]
            if numeric_x and len(xs) > 1:
                ax.plot(xs, means, style, marker="o", ms=4, color=colour, label=display(label))
                ax.fill_between(xs, [m - s for m, s in zip(means, stds)],
                                [m + s for m, s in zip(means, stds)], color=colour, alpha=0.2,
                                linewidth=0)
            else:
                ax.errorbar(xs, means, yerr=stds, fmt="o", capsize=4, color=colour,
                            label=display(label))
        if numeric_x:
            xs_all = [r.x for r in rows]
            log_x = min(xs_all) > 0 and max(xs_all) > 10 * min(xs_all)
            if log_x:
                ax.set_xscale("log")
            distinct = sorted(set(xs_all))
            if len(distinct) <= 12:  # ticks at the swept values themselves (slanted: on a log
                ax.set_xticks(distinct, [_format_value(x) for x in distinct],  # axis they crowd)
                              rotation=45 if log_x else 0)
                ax.minorticks_off()
        else:
            shown = [display(t) for t in ticks] if x_key is None else ticks
            ax.set_xticks(range(len(ticks)), shown, rotation=20 if x_key is None else 0)
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        if x_key:
            ax.set_xlabel(x_key)
        ax.set_title(panel_title)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


FIG2_NAME = "fig2_grid.png"


def fig2_grid(jobs: list[Job], x_key: str | None, group: str, path: Path) -> Path | None:
    """Tile the jobs' fig2.png like the paper's Fig. 2: a row per group, a column per swept value
    (all of them up to 4, else the smallest two and the largest), the lowest seed of each cell."""
    cells: dict[tuple, Job] = {}
    for job in sorted(jobs, key=lambda j: _x_sort_key(j.value(SEED_KEY))):
        if (job.path / "fig2.png").is_file():
            cells.setdefault((str(job.value(group)), _hashable(job.value(x_key) if x_key else None)), job)
    if not cells:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({g for g, _ in cells}, key=lambda g: (g not in DISPLAY_NAMES, g))[::-1]
    xs = sorted({x for _, x in cells}, key=_x_sort_key)
    if len(xs) > 4:
        xs = xs[:2] + xs[-1:]
    fig, axes = plt.subplots(len(groups), len(xs), figsize=(3.2 * len(xs), 6.2 * len(groups)),
                             squeeze=False)
    for i, g in enumerate(groups):
        for j, x in enumerate(xs):
            ax = axes[i][j]
            ax.axis("off")
            job = cells.get((g, x))
            if job is not None:
                ax.imshow(plt.imread(job.path / "fig2.png"))
                ax.set_title(f"{display(g)}, {x_key} = {_format_value(x)}, seed {job.value(SEED_KEY)}",
                             fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def report(multirun: str | Path, out: str | Path | None = None, x_key: str | None = None,
           group: str = DEFAULT_GROUP) -> dict:
    """Read, aggregate and write figure.png, results.md and results.json; returns the results dict.

    `x_key` None infers the swept key; raises FileNotFoundError/ValueError on an empty multirun.
    """
    multirun = Path(multirun)
    if not multirun.is_dir():
        raise FileNotFoundError(f"{multirun} is not a directory")
    paths = job_dirs(multirun)
    if not paths:
        raise ValueError(f"{multirun} holds no job directories (sub-directories with .hydra/)")
    jobs = [job for job in map(read_job, paths) if job is not None]
    skipped = [p for p in paths if p not in {job.path for job in jobs}]
    if not jobs:
        raise ValueError(f"no job of {multirun} has a metrics.json")
    if x_key is None:
        x_key = infer_x_key(jobs, group)
    rows = aggregate(jobs, x_key, group)
    out_dir = Path(out) if out is not None else multirun
    out_dir.mkdir(parents=True, exist_ok=True)
    results = results_dict(rows, x_key, group, multirun, skipped)
    figure = plot_rows(rows, x_key, out_dir / FIGURE_NAME,
                       title=f"{multirun.name}: {len(jobs)} jobs" + (f", x = {x_key}" if x_key else ""))
    table = write_table(rows, x_key, group, multirun, skipped, out_dir / TABLE_NAME)
    grid = fig2_grid(jobs, x_key, group, out_dir / FIG2_NAME)
    results["outputs"] = {"figure": str(figure) if figure else None, "table": str(table),
                          "fig2_grid": str(grid) if grid else None,
                          "json": str(out_dir / JSON_NAME)}
    (out_dir / JSON_NAME).write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Aggregate a Hydra multirun over seeds: figure.png (paper Figs. 3-5 style), "
                    "results.md and results.json.")
    parser.add_argument("multirun", help="the multirun directory (outputs/<task>/multiruns/<time>)")
    parser.add_argument("--out", help="output directory (default: the multirun directory)")
    parser.add_argument("--x", dest="x_key", help="the swept key of the x axis (default: inferred)")
    parser.add_argument("--group", default=DEFAULT_GROUP,
                        help=f"the key that makes the lines (default: {DEFAULT_GROUP})")
    args = parser.parse_args(argv)
    try:
        results = report(args.multirun, args.out, args.x_key, args.group)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{results['jobs']} jobs, {len(results['rows'])} rows, x = {results['x']}, "
          f"group = {results['group']}")
    for kind, path in results["outputs"].items():
        if path:
            print(f"{kind}: {path}")
    return 0
