"""The paired table of docs/results/README.md: each fig5_pca_fmnist_separate job's test metrics on
the separate test PCA (its own metrics.json) beside the same checkpoint's on the training-split PCA
(reeval_train_basis.sh), mean ± sample std over seeds. Run from the repository root."""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, "src")
from mimkit.evaluation.report.runs import job_dirs, read_job, read_metrics

SWEEP = Path("outputs/fig5_pca_fmnist_separate/multiruns/resumable")
REEVAL = Path("outputs/fig5_pca_fmnist_separate/eval_train_basis")
METRICS = [
    ("test/knn5", "5-NN", 3),
    ("test/mi", "MI", 2),
    ("test/recon", "recon", 2),
    ("test/nll_1s", "NLL (1 sample)", 1),
]


def mean_std(values, digits):
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


cells = {}
for path in job_dirs(SWEEP):
    job, train = read_job(path), read_metrics(REEVAL / path.name / "metrics.json")
    if job is not None and train is not None:
        key = (job.value("objective"), int(job.value("model.latent_dim")))
        cells.setdefault(key, []).append((train, job.metrics))

print(
    "| objective | latent | n | "
    + " | ".join(f"{name} train PCA | {name} separate PCA" for _, name, _ in METRICS)
    + " |"
)
print("|---|---|---|" + "---|---|" * len(METRICS))
for (objective, latent), pairs in sorted(cells.items()):
    row = [objective, str(latent), str(len(pairs))]
    for key, _, digits in METRICS:
        row += [mean_std([t[key] for t, _ in pairs], digits), mean_std([s[key] for _, s in pairs], digits)]
    print("| " + " | ".join(row) + " |")
