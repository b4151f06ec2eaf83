"""The early-stopping check of docs/results/README.md: each no_early_stop.sh run (200 epochs, best
validation loss kept) beside the same job of the fig5_pca_fmnist_paper sweep (seed 1, early stopped).
Run from the repository root."""
import sys
from pathlib import Path

sys.path.insert(0, "src")
from mim.report.runs import job_dirs, read_job  # noqa: E402

SWEEP = Path("outputs/fig5_pca_fmnist_paper/multiruns/resumable")
CHECK = Path("outputs/fig5_no_early_stop")
METRICS = [("test/mi", "MI", 2), ("test/knn5", "5-NN", 3), ("test/recon", "recon", 2),
           ("test/nll", "NLL", 1)]


def key(job):
    return job.value("objective"), int(job.value("model.latent_dim")), int(job.value("seed"))


def best_epoch(run_dir):
    return int(next((run_dir / "checkpoints").glob("epoch_*.ckpt")).stem.split("_")[1])


sweep = {key(job): job for job in map(read_job, job_dirs(SWEEP)) if job is not None}
print("| objective | latent | best epoch: early stopped / 200 epochs | "
      + " | ".join(f"{name}: early stopped / 200 epochs" for _, name, _ in METRICS) + " |")
print("|---|---|---|" + "---|" * len(METRICS))
for path in sorted(CHECK.glob("*_s1"), key=lambda p: (p.name.split("_")[0], int(p.name.split("_")[1][1:]))):
    check = read_job(path)
    if check is None:
        continue
    base = sweep[key(check)]
    row = [check.value("objective"), str(check.value("model.latent_dim")),
           f"{best_epoch(base.path)} / {best_epoch(path)}"]
    row += [f"{base.metrics[k]:.{d}f} / {check.metrics[k]:.{d}f}" for k, _, d in METRICS]
    print("| " + " | ".join(row) + " |")
