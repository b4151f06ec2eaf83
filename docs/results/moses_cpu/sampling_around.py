"""MolMIM's sampling around test molecules, per objective: the table of validity, uniqueness,
novelty and similarity to the seed against σ (mean ± std over seeds) and its figure.

    python docs/results/moses_cpu/sampling_around.py outputs/moses_cpu/multiruns/<time> \
        --out docs/results/moses_cpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SCALES = ("0.1", "0.5", "1")
MEASURES = ("validity", "unique", "novelty", "similarity")
OBJECTIVES = ("vae", "amim", "mim")


def jobs(sweep: Path) -> dict[str, list[dict]]:
    """{objective: [metrics.json of each finished seed]} of a multirun dir."""
    found: dict[str, list[dict]] = {}
    for job in sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file()):
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        objective = next(o for o in OBJECTIVES if f"objective={o}\n" in overrides)
        found.setdefault(objective, []).append(json.loads((job / "metrics.json").read_text()))
    return found


def cell(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else "–"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    found = jobs(args.sweep)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "| objective | σ | seeds | " + " | ".join(MEASURES) + " |",
        "|---|---|---|" + "---|" * len(MEASURES),
    ]
    figure, axes = plt.subplots(1, len(MEASURES), figsize=(4 * len(MEASURES), 3.2))
    for objective in (o for o in OBJECTIVES if o in found):
        runs = found[objective]
        for scale in SCALES:
            cells = [
                cell([r[f"test/around{scale}/{m}"] for r in runs if f"test/around{scale}/{m}" in r])
                for m in MEASURES
            ]
            lines.append(f"| {objective} | {scale} | {len(runs)} | " + " | ".join(cells) + " |")
        for axis, measure in zip(axes, MEASURES):
            means = [statistics.mean(r[f"test/around{s}/{measure}"] for r in runs) for s in SCALES]
            axis.plot([float(s) for s in SCALES], means, marker="o", label=objective)
            axis.set(title=measure, xlabel="σ", xscale="log")
        # one picture per objective: the first seed's interpolations
        first = sorted(p for p in args.sweep.iterdir() if (p / "interpolations.png").is_file())
        for job in first:
            if f"objective={objective}\n" in (job / ".hydra" / "overrides.yaml").read_text():
                shutil.copy(job / "interpolations.png", args.out / f"interpolations_{objective}.png")
                break
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(args.out / "sampling_around.png", dpi=110)
    (args.out / "sampling_around.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
