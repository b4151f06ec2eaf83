"""The checks of docs/results/README.md's Fig. 5 section: each run of a check dir (check_runs.sh:
<out dir>/<objective>_l<latent>_s<seed>, or its eval_separate), beside the same job of a sweep
(default fig5_pca_fmnist_paper). Run from the repository root:
    python docs/results/fig5_pca_fmnist_paper/check_table.py <check dir> <column name> [<sweep dir>]
"""

import sys
from pathlib import Path

sys.path.insert(0, "src")
from mimkit.evaluation.report.runs import job_dirs, read_job, read_metrics

CHECK, NAME = Path(sys.argv[1]), sys.argv[2]
SWEEP = Path(sys.argv[3] if len(sys.argv) > 3 else "outputs/fig5_pca_fmnist_paper/multiruns/resumable")
METRICS = [
    ("test/mi", "MI", 2),
    ("test/knn5", "5-NN", 3),
    ("test/recon", "recon", 2),
    ("test/nll_1s", "NLL (1 sample)", 1),
]


def run_key(name: str) -> tuple[str, int, int]:
    objective, latent, seed = name.split("_")
    return objective, int(latent[1:]), int(seed[1:])


def best_epoch(run_dir: Path) -> str:
    found = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))
    return str(int(found[-1].stem.split("_")[1]) + 1) if found else "–"  # names count from 0


sweep = {}
for job in filter(None, map(read_job, job_dirs(SWEEP))):
    sweep[job.value("objective"), int(job.value("model.latent_dim")), int(job.value("seed"))] = job
print(
    f"| objective | latent | best epoch: sweep / {NAME} | "
    + " | ".join(f"{name}: sweep / {NAME}" for _, name, _ in METRICS)
    + " |"
)
print("|---|---|---|" + "---|" * len(METRICS))
runs = [path for path in CHECK.glob("*_l*_s*") if path.is_dir()]
for path in sorted(runs, key=lambda p: run_key(p.name)):
    metrics = read_metrics(path / "metrics.json")
    if metrics is None:
        continue
    objective, latent, seed = run_key(path.name)
    base = sweep[objective, latent, seed]
    row = [objective, str(latent), f"{best_epoch(base.path)} / {best_epoch(path)}"]
    row += [f"{base.metrics[k]:.{d}f} / {metrics[k]:.{d}f}" for k, _, d in METRICS]
    print("| " + " | ".join(row) + " |")
