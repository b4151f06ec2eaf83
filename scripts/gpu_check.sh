#!/usr/bin/env bash
# The device check (issue 18, docs/gpu.md "GPU check"): on one GPU, at most ~2 minutes of set-up
# and ~8 minutes of work, everything written under one output dir with a summary.md:
#   1. set-up: reuse .venv if it imports torch and mimkit, else create it (pip install -e '.[dev]';
#      --system-site-packages so a torch already installed on the machine is used; WHEELS=<dir>
#      adds a local wheel folder for an offline machine);
#   2. the GPU-only tests (pytest -m gpu);
#   3. python -m benchmarks.grid_time on the device (the Tables 1-2 plan; GRID_JOBS jobs side by side);
#   4. a comparison: convHVAE + VampPrior on MNIST, VAE vs MIM, 2 seeds each, JOBS jobs side by
#      side on the one GPU (hydra/launcher=joblib), the full training set, as many epochs as fit in
#      TRAIN_MINUTES (Lightning's max_time; β warm-up over 2 epochs), then the test metrics (IS-NLL
#      S = 5000 on the first NLL_POINTS test images, the other metrics on all 10,000).
#
#   scripts/gpu_check.sh             # or: make gpu-check
#   scripts/gpu_check.sh --dry-run   # CPU smoke of every stage at a tiny budget (minutes)
#
# Environment: OUT (a folder: results go to $OUT/gpu_check) or GPU_CHECK_OUT (the output dir
# itself; default outputs/gpu_check/<time>); MNIST_ROOT (a folder holding MNIST/raw/*.gz; default
# ../shared/data, else the project's data/ when it holds them); JOBS (4), TRAIN_MINUTES (3), NLL_POINTS (1000), GRID_JOBS (1).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/gpu_check.sh [--dry-run]" >&2; exit 2
fi
STAMP=$(date +%Y-%m-%d_%H-%M-%S)
OUTDIR=${GPU_CHECK_OUT:-${OUT:+$OUT/gpu_check}}
OUTDIR=${OUTDIR:-outputs/gpu_check/$STAMP}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
exec > >(tee -a "$OUTDIR/log.txt") 2>&1
SUMMARY=$OUTDIR/summary.md
STAGES=$OUTDIR/stages.md
JOBS=${JOBS:-4}
TRAIN_MINUTES=${TRAIN_MINUTES:-2}
NLL_POINTS=${NLL_POINTS:-200}
GRID_JOBS=${GRID_JOBS:-1}
MNIST_ROOT=${MNIST_ROOT:-$ROOT/../shared/data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} PYTHONPATH=$ROOT/src
FAILED=()

printf '| stage | status | seconds |\n|---|---|---|\n' > "$STAGES"

# stage NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, logs and records its wall time
stage() {
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit} s) ==="
    local start=$SECONDS status=ok
    timeout --signal=INT --kill-after=20 "$limit" "$@" || { status="failed ($?)"; FAILED+=("$name"); }
    local took=$((SECONDS - start))
    echo "=== $name: $status, ${took} s ==="
    echo "| $name | $status | $took |" >> "$STAGES"
}

setup_venv() {
    if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import torch, mimkit' 2>/dev/null; then
        echo "reusing .venv"; return 0
    fi
    python3 -m venv --system-site-packages .venv || return 1
    local find=(); [[ -n "${WHEELS:-}" ]] && find=(--find-links "$WHEELS")
    .venv/bin/python -m pip install --quiet "${find[@]}" -e '.[dev]' \
        || { echo "pip could not install every pinned package; trying without dependencies";
             .venv/bin/python -m pip install --quiet --no-deps -e . ; }
    .venv/bin/python -c 'import torch, lightning, hydra, sklearn, mimkit' \
        || { echo "the venv lacks a package: set WHEELS=<wheel folder> or install it"; return 1; }
}

stage setup 120 bash -c "$(declare -f setup_venv); setup_venv"
PY=$ROOT/.venv/bin/python
"$PY" - <<'EOF' | tee "$OUTDIR/device.txt"
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available {torch.cuda.is_available()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"GPU {i}: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute {p.major}.{p.minor}")
EOF
nvidia-smi > "$OUTDIR/nvidia-smi.txt" 2>&1 || true

if [[ ! -f "$MNIST_ROOT/MNIST/raw/train-images-idx3-ubyte.gz" ]]; then
    if [[ -f "$ROOT/data/MNIST/raw/train-images-idx3-ubyte.gz" ]]; then
        MNIST_ROOT=$ROOT/data  # the project's own copy (data/, git-ignored), e.g. carried to the machine
    else
        echo "no MNIST under MNIST_ROOT=$MNIST_ROOT or data/ (MNIST/raw/*.gz): the comparison will fail"
    fi
fi
echo "MNIST from $MNIST_ROOT"

if ((DRY)); then
    stage gpu_tests 120 "$PY" -m pytest -m gpu -q -p no:cacheprovider --junitxml="$OUTDIR/gpu_tests.xml"
    stage grid_time 400 "$PY" -m benchmarks.grid_time --models convhvae --steps 1 --samples 20 \
        --nll-passes 2 --metric-fraction 0.02 --consistency-pairs 2 --threads 1 \
        --jobs-per-device "$GRID_JOBS" --out "$OUTDIR/grid_time.json"
    BUDGET=(trainer=cpu threads=1 trainer.max_epochs=1 data.n_train=100 data.n_val=50 data.n_test=50
            callbacks.representation_metrics.nll_samples=10 callbacks.representation_metrics.mi_pairs=100
            callbacks.representation_metrics.knn_train=100 callbacks.representation_metrics.consistency_pairs=4
            callbacks.representation_metrics.consistency_samples=4 callbacks.tsne.points=50)
    JOBS=2 SEEDS=1 LIMIT=600
else
    stage gpu_tests 90 "$PY" -m pytest -m gpu -q -p no:cacheprovider --junitxml="$OUTDIR/gpu_tests.xml"
    stage grid_time 120 "$PY" -m benchmarks.grid_time --jobs-per-device "$GRID_JOBS" \
        --out "$OUTDIR/grid_time.json"
    BUDGET=(trainer=gpu trainer.max_epochs=2000 "+trainer.max_time=00:00:$(printf %02d "$TRAIN_MINUTES"):00"
            callbacks.representation_metrics.nll_points="$NLL_POINTS")
    SEEDS=1,2 LIMIT=$((TRAIN_MINUTES * 60 + 100))
fi
stage comparison "$LIMIT" "$PY" src/train.py -m hydra/launcher=joblib \
    hydra.launcher.n_jobs="$JOBS" "hydra.sweep.dir=$OUTDIR/comparison" \
    model=convhvae prior=vamp objective=vae,mim "seed=$SEEDS" warmup=2 patience=1000 \
    "data.source_dir=$MNIST_ROOT" trainer.enable_progress_bar=false callbacks.progress_bar=null \
    "${BUDGET[@]}"

# the comparison's table: one row per job, from each job's metrics.json
"$PY" - "$OUTDIR" > "$OUTDIR/tables.md" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
rows = []
for metrics_file in sorted((out / "comparison").glob("*/metrics.json")):
    job = metrics_file.parent
    overrides = (job / ".hydra" / "overrides.yaml").read_text().split("\n")
    name = " ".join(o.strip("- ") for o in overrides if o.startswith("- objective") or o.startswith("- seed"))
    m = json.loads(metrics_file.read_text())
    cells = [m.get(k) for k in ("train/epochs", "time/fit_s", "test/nll", "test/knn5", "test/mi", "test/active_units")]
    rows.append(f"| {name} | " + " | ".join("" if c is None else f"{c:.4g}" for c in cells) + " |")
print("\n## Comparison (convHVAE + VampPrior, MNIST)\n")
print("| job | epochs | fit s | test NLL | 5-NN | MI | active units |")
print("|---|---|---|---|---|---|---|")
print("\n".join(rows) or "| (no finished job) | | | | | | |")
grid = out / "grid_time.json"
if grid.exists():
    plan = json.loads(grid.read_text())
    print(f"\n## Plan (grid_time.py, {plan.get('device')}, {plan.get('jobs_per_device')} job(s) per device)\n")
    for key, value in plan["plan"].items():
        if key.endswith("grid_s") or key.endswith("grid_wall_s"):
            print(f"- {key}: {value / 86400:.2f} days")
EOF
{
    echo "# GPU check, $STAMP$( ((DRY)) && echo ' (dry run: a CPU smoke at a tiny budget; its numbers mean nothing)')"
    echo; echo '```text'; cat "$OUTDIR/device.txt"; echo '```'; echo
    cat "$STAGES"
    ((${#FAILED[@]})) && echo -e "\nFailed stages: ${FAILED[*]}"
    cat "$OUTDIR/tables.md"
} > "$SUMMARY"
echo "summary: $SUMMARY"
cat "$SUMMARY"
((${#FAILED[@]} == 0))
