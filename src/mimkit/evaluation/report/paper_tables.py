"""The paper's Tables 1 and 2 from a sweep of image models (docs/maths.md §7): test NLL and 5-NN accuracy,
mean ± std over seeds, one row per architecture and prior, one column per data set and objective,
as the paper lays them out. Each cell's pictures (the run's samples, reconstructions, t-SNE and
pseudo-inputs, from its lowest seed) are copied next to the tables and shown in figures.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mimkit.evaluation.report.aggregate import mean_std
from mimkit.evaluation.report.runs import Job
from mimkit.evaluation.report.tables import format_cell
from mimkit.evaluation.report.values import format_value, sort_key

IMAGE_MODELS = {"convhvae": "convHVAE", "pixelhvae": "PixelHVAE"}
PRIORS = {"standard": "S", "vamp": "VP"}
DATA = {"fmnist": "Fashion-MNIST", "mnist": "MNIST", "omniglot": "Omniglot"}  # the paper's order
OBJECTIVES = {"vae": "VAE", "mim": "MIM", "amim": "A-MIM"}
TABLES = {
    "table1": ("Table 1: test NLL (nats)", "test/nll"),
    "table2": ("Table 2: 5-NN test accuracy", "test/knn5"),
}
PICTURES = ("samples", "reconstructions", "tsne", "pseudo_inputs")
# where each budget figure of a cell comes from
BUDGET = {"NLL test images": "test/nll_points", "S": "test/nll_samples", "epochs": "train/epochs"}


def _order(value: str, names: dict) -> tuple:
    return (list(names).index(value), "") if value in names else (len(names), value)


def cell_key(job: Job) -> tuple[str, str, str, str]:
    """(data, model, prior, objective) of a job, as its config-group choices."""
    data, model, prior, objective = (
        format_value(job.value(key)) for key in ("data", "model", "prior", "objective")
    )
    return data, model, prior, objective


def image_jobs(jobs: list[Job]) -> list[Job]:
    return [job for job in jobs if format_value(job.value("model")) in IMAGE_MODELS]


def cells(jobs: list[Job]) -> dict[tuple, list[Job]]:
    """The jobs of each (data, model, prior, objective) cell, seeds in order."""
    grouped: dict[tuple, list[Job]] = {}
    for job in jobs:
        grouped.setdefault(cell_key(job), []).append(job)
    for members in grouped.values():
        members.sort(key=lambda job: sort_key(job.value("seed")))
    return grouped


def cell_stats(members: list[Job], metric: str) -> dict:
    return mean_std([job.metrics[metric] for job in members if metric in job.metrics])


def _columns(grouped: dict, metric: str) -> list[tuple[str, str]]:
    present = {(d, o) for (d, _, _, o), members in grouped.items() if cell_stats(members, metric)["n"]}
    return sorted(present, key=lambda c: (_order(c[0], DATA), _order(c[1], OBJECTIVES)))


def _rows(grouped: dict) -> list[tuple[str, str]]:
    return sorted(
        {(m, p) for _, m, p, _ in grouped}, key=lambda r: (_order(r[0], IMAGE_MODELS), _order(r[1], PRIORS))
    )


def markdown(grouped: dict, title: str, metric: str) -> str:
    """One table: rows "convHVAE (S)" …, columns "<data> <objective>", cells mean ± std (n)."""
    columns = _columns(grouped, metric)
    if not columns:
        return ""
    headers = ["model"] + [f"{DATA.get(d, d)} {OBJECTIVES.get(o, o)}" for d, o in columns]
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for model, prior in _rows(grouped):
        cells_text = [f"{IMAGE_MODELS.get(model, model)} ({PRIORS.get(prior, prior)})"]
        for data, objective in columns:
            members = grouped.get((data, model, prior, objective), [])
            stats = cell_stats(members, metric)
            cells_text.append(format_cell(stats, 0) if stats["n"] else "–")
        lines.append("| " + " | ".join(cells_text) + " |")
    return "\n".join(lines) + "\n"


def budget_line(jobs: list[Job]) -> str:
    """The budgets the cells ran at (each figure's distinct values), e.g. "NLL test images: 500"."""
    parts = []
    for name, metric in BUDGET.items():
        values = sorted({int(job.metrics[metric]) for job in jobs if metric in job.metrics})
        if values:
            parts.append(f"{name}: {', '.join(map(str, values))}")
    return "; ".join(parts)


def copy_pictures(grouped: dict, out_dir: Path) -> str:
    """cells/<data>_<model>_<prior>_<objective>/*.png from each cell's lowest seed, and the
    markdown that shows them."""
    lines = ["# Pictures per cell (lowest seed of each)", ""]
    for key in sorted(
        grouped,
        key=lambda k: (
            _order(k[0], DATA),
            _order(k[1], IMAGE_MODELS),
            _order(k[2], PRIORS),
            _order(k[3], OBJECTIVES),
        ),
    ):
        job = grouped[key][0]
        found = [name for name in PICTURES if (job.path / f"{name}.png").is_file()]
        if not found:
            continue
        folder = out_dir / "cells" / "_".join(key)
        folder.mkdir(parents=True, exist_ok=True)
        data, model, prior, objective = key
        lines += [
            f"## {DATA.get(data, data)}, {IMAGE_MODELS.get(model, model)} "
            f"({PRIORS.get(prior, prior)}), {OBJECTIVES.get(objective, objective)} "
            f"(seed {format_value(job.value('seed'))})",
            "",
        ]
        for name in found:
            shutil.copyfile(job.path / f"{name}.png", folder / f"{name}.png")
            lines.append(f"![{name}](cells/{folder.name}/{name}.png)")
        lines.append("")
    return "\n".join(lines)


def paper_tables(jobs: list[Job], out_dir: Path) -> dict | None:
    """Write tables.md, tables.json, figures.md and cells/ for the image jobs among `jobs`;
    None (nothing written) when there are none."""
    images = image_jobs(jobs)
    if not images:
        return None
    grouped = cells(images)
    budget = budget_line(images)
    text = [
        "# Tables 1–2 (the paper's layout): mean ± std over seeds, (n) = seeds",
        "",
        f"Budget: {budget}." if budget else "",
        "",
    ]
    results: dict = {"budget": budget, "tables": {}}
    for name, (title, metric) in TABLES.items():
        table = markdown(grouped, title, metric)
        if table:
            text += [table, ""]
        results["tables"][name] = {
            "title": title,
            "metric": metric,
            "cells": [
                {
                    "data": d,
                    "model": m,
                    "prior": p,
                    "objective": o,
                    "seeds": [job.value("seed") for job in members],
                    **cell_stats(members, metric),
                }
                for (d, m, p, o), members in grouped.items()
            ],
        }
    (out_dir / "tables.md").write_text("\n".join(text))
    (out_dir / "figures.md").write_text(copy_pictures(grouped, out_dir))
    (out_dir / "tables.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    results["outputs"] = {name: str(out_dir / name) for name in ("tables.md", "tables.json", "figures.md")}
    return results
