"""MolMIM's sampling around test molecules, per objective: the table of validity, uniqueness,
novelty and similarity to the seed against σ (mean ± std over seeds), and its figure.

    python docs/results/moses_cpu/sampling_around.py outputs/moses_cpu/multiruns/<time> \
        --out docs/results/moses_cpu
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SCALES = ("0.1", "0.5", "1")
MEASURES = ("validity", "unique", "novelty", "similarity", "vun")  # vun: valid, unique and novel
OBJECTIVES = ("vae", "amim", "mim")


def measure(run: dict, scale: str, name: str) -> float:
    """One σ's measure of a run (nan where the run logged none: no valid molecule to measure);
    vun = validity · unique · novelty, the share of the samples that are valid, distinct and new
    (uniqueness is among the valid, novelty among those), 0 where none is valid."""
    if name == "vun":
        if run[f"test/around{scale}/validity"] == 0:
            return 0.0
        return math.prod(measure(run, scale, m) for m in ("validity", "unique", "novelty"))
    return run.get(f"test/around{scale}/{name}", math.nan)


def numbers(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def cell(values: list[float]) -> str:
    """mean ± sample std of the values that are numbers, with their count where fewer than all."""
    kept = numbers(values)
    if not kept:
        return "–"
    text = f"{statistics.mean(kept):.3f}" + (f" ± {statistics.stdev(kept):.3f}" if len(kept) > 1 else "")
    return text + (f" ({len(kept)})" if len(kept) < len(values) else "")


def jobs(sweep: Path) -> dict[str, list[Path]]:
    """{objective: the run dirs of its finished seeds} of a multirun dir."""
    found: dict[str, list[Path]] = {}
    for job in sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file()):
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        objective = next(o for o in OBJECTIVES if f"objective={o}\n" in overrides)
        found.setdefault(objective, []).append(job)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    header = "| objective | σ | seeds | " + " | ".join(MEASURES) + " |"
    lines = [header, "|---|---|---|" + "---|" * len(MEASURES)]
    figure, axes = plt.subplots(1, len(MEASURES), figsize=(3.6 * len(MEASURES), 3.2))
    for objective, dirs in jobs(args.sweep).items():
        runs = [json.loads((job / "metrics.json").read_text()) for job in dirs]
        for scale in SCALES:
            cells = [cell([measure(r, scale, name) for r in runs]) for name in MEASURES]
            lines.append(f"| {objective} | {scale} | {len(runs)} | " + " | ".join(cells) + " |")
        for axis, name in zip(axes, MEASURES):
            kept = [numbers([measure(r, s, name) for r in runs]) for s in SCALES]
            means = [statistics.mean(k) if k else math.nan for k in kept]
            axis.plot([float(s) for s in SCALES], means, marker="o", label=objective)
            axis.set(title=name, xlabel="σ", xscale="log")
        shutil.copy(dirs[0] / "interpolations.png", args.out / f"interpolations_{objective}.png")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(args.out / "sampling_around.png", dpi=110)
    (args.out / "sampling_around.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
