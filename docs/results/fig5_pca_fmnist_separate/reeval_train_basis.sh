#!/bin/bash
# Re-evaluate every finished job of the fig5_pca_fmnist_separate sweep on the training-split PCA
# (the same best checkpoint its own test pass used on the separate test PCA); skips jobs already
# re-evaluated. Run from the repository root after `python src/train.py experiment=fig5_pca_fmnist_separate`.
S=outputs/fig5_pca_fmnist_separate/multiruns/resumable
O=outputs/fig5_pca_fmnist_separate/eval_train_basis
for job in "$S"/*/; do
  j=$(basename "$job")
  [ -f "$job/finished.json" ] && [ ! -f "$O/$j/metrics.json" ] || continue
  ckpt=$(ls "$job"checkpoints/epoch_*.ckpt | tail -1)
  OMP_NUM_THREADS=1 python src/eval.py ckpt_path="$ckpt" +data_overrides.pca_fit=train \
    hydra.run.dir="$O/$j" > /dev/null 2>&1 || echo "re-evaluation failed: job $j" >&2
done
