#!/bin/bash
# Seed-1 jobs of the fig5_pca_fmnist_paper sweep trained again with extra overrides (everything
# else the sweep's resolved config), 2 at a time, 1 thread each, into <out dir>/<objective>_l<latent>_s1,
# which check_table.py reads. With EVAL_SEPARATE=1 each run's best checkpoint is then evaluated
# again with the test set on its own PCA, into <out dir>/eval_separate. From the repository root:
#   bash docs/results/fig5_pca_fmnist_paper/check_runs.sh <out dir> "<objective>:<latent> ..." [override ...]
# The checks of docs/results/README.md:
#   ... check_runs.sh outputs/fig5_no_early_stop "vae:4 vae:10 mim:4 mim:6" callbacks.early_stopping=null
#   EVAL_SEPARATE=1 ... check_runs.sh outputs/fig5_augment "vae:4 vae:10 mim:4 mim:6" data.augment=true
#   ... check_runs.sh outputs/fig5_reference "vae:4 vae:10 mim:4 mim:6" data.augment=true \
#         data.pca_fit=separate data.select_on=test
#   ... check_runs.sh outputs/fig5_select_on_test "vae:4 mim:4" data.pca_fit=separate data.select_on=test
O=$1 JOBS=$2
shift 2
mkdir -p "$O"
run() {
  local name="$1_l$2_s1"
  python src/train.py data=pca_fmnist objective="$1" model.latent_dim="$2" model.hidden=50 seed=1 \
    threads=1 trainer.max_epochs=200 callbacks.progress_bar=null trainer.enable_progress_bar=false \
    task_name="$(basename "$O")" hydra.run.dir="$O/$name" "${@:3}" > "$O/$name.log" 2>&1 \
    || echo "failed: $name (log: $O/$name.log)" >&2
}
for job in $JOBS; do
  [ "$(jobs -rp | wc -l)" -lt 2 ] || wait -n
  run "${job%%:*}" "${job##*:}" "$@" &
done
wait
[ "${EVAL_SEPARATE:-0}" = 1 ] || exit 0
for job in $JOBS; do
  name="${job%%:*}_l${job##*:}_s1"
  ckpt=$(ls "$O/$name"/checkpoints/epoch_*.ckpt | tail -1)
  OMP_NUM_THREADS=1 python src/eval.py ckpt_path="$ckpt" +data_overrides.pca_fit=separate \
    hydra.run.dir="$O/eval_separate/$name" > /dev/null 2>&1 || echo "re-evaluation failed: $name" >&2
done
