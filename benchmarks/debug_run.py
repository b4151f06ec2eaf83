"""Wall time and peak memory of `python src/train.py ... debug=fast_dev_run` runs.

    .venv/bin/python -m benchmarks.debug_run --out outputs/bench/debug_run.json [-- OVERRIDES]
    .venv/bin/python -m benchmarks.debug_run --matrix --out outputs/bench/debug_matrix.json

By default the headline combination `model=pixelhvae prior=vamp objective=amim` (MNIST), or
the one `--combination` names; with `--matrix` every model x prior x objective x data
combination whose shapes fit (the image models on MNIST, Fashion-MNIST and Omniglot; the
Gaussian MLP on the GMMs and PCA-Fashion-MNIST; the Bernoulli MLP on the binary GMMs), one run
at a time (`--models` keeps only those models). Each run is a fresh process (OMP_NUM_THREADS=1,
no progress bar); its wall time is measured from outside, its CPU time (user + system) and peak
resident memory (maximum RSS) are the kernel's for that process (wait4's rusage); on a machine
shared with other work the CPU time is the steadier figure. The goal of the fast_dev_run preset: <= 60 s
and < 3 GB per run on the 2-core CPU. Image runs read the data from paths.data_dir or
paths.shared_data_dir (pass e.g. `-- paths.shared_data_dir=/path/to/data`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, peak_rss_mb, write_results

HEADLINE = ["model=pixelhvae", "prior=vamp", "objective=amim", "data=mnist"]
LIMITS = {"wall_s": 60.0, "peak_rss_gb": 3.0}
PRIORS = ("standard", "mog", "vamp")
OBJECTIVES = ("mim", "amim", "vae")
BINARY = ["data.binary=true"]
FAMILIES = {  # models and the data they take (with the data's overrides)
    ("convhvae", "pixelhvae"): {"mnist": [], "fmnist": [], "omniglot": []},
    ("mlp",): {"gmm2d": [], "gmm20d": [], "pca_fmnist": []},
    ("mlp_bernoulli",): {"gmm2d": BINARY, "gmm20d": BINARY},
}


def matrix(models: list[str] | None = None) -> list[list[str]]:
    return [
        [
            f"model={model}",
            f"prior={prior}",
            f"objective={objective}",
            f"data={data}",
            *FAMILIES[family][data],
        ]
        for family in FAMILIES
        for model, prior, objective, data in itertools.product(family, PRIORS, OBJECTIVES, FAMILIES[family])
        if models is None or model in models
    ]


def debug_run(overrides: list[str], extra: list[str]) -> dict:
    """One fast_dev_run of train.py with `overrides`: {overrides, rc, wall_s, cpu_s, peak_rss_gb}."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [
            sys.executable,
            str(ROOT / "src" / "train.py"),
            *overrides,
            "debug=fast_dev_run",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
            *extra,
        ]
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ | {"OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        error = process.stderr.read().strip().splitlines()
        process.stderr.close()
    result = {
        "overrides": " ".join(overrides),
        "rc": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gb": round(peak_rss_mb(usage) / 1024, 2),
    }
    if result["rc"] != 0:
        result["error"] = error[-1] if error else ""
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--matrix", action="store_true", help="every combination, not the headline only")
    parser.add_argument("--models", nargs="+", default=None, help="with --matrix: only these models")
    parser.add_argument(
        "--combination",
        nargs="+",
        default=HEADLINE,
        metavar="OVERRIDE",
        help=f"the one combination run without --matrix (default: {' '.join(HEADLINE)})",
    )
    parser.add_argument("extra", nargs="*", help="overrides added to every run (after --)")
    args = parser.parse_args()
    runs = []
    for overrides in matrix(args.models) if args.matrix else [args.combination]:
        result = debug_run(overrides, args.extra)
        runs.append(result)
        print(
            f"{result['overrides']:<62} rc={result['rc']} {result['wall_s']:6.1f} s "
            f"(CPU {result['cpu_s']:6.1f} s) "
            f"{result['peak_rss_gb']:5.2f} GB {result.get('error', '')}",
            flush=True,
        )
    worst_time = max(runs, key=lambda run: run["wall_s"])
    worst_memory = max(runs, key=lambda run: run["peak_rss_gb"])
    results = {
        "limits": LIMITS,
        "within_limits": all(
            run["rc"] == 0
            and run["wall_s"] <= LIMITS["wall_s"]
            and run["peak_rss_gb"] < LIMITS["peak_rss_gb"]
            for run in runs
        ),
        "slowest": worst_time,
        "largest": worst_memory,
        "runs": runs,
    }
    print(
        f"slowest {worst_time['wall_s']} s ({worst_time['overrides']}); "
        f"largest {worst_memory['peak_rss_gb']} GB ({worst_memory['overrides']})"
    )
    write_results(results, args.out)


if __name__ == "__main__":
    main()
