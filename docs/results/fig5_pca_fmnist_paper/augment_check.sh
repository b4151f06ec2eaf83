#!/bin/bash
# The reference code augmented the training images (data.augment=true, mim.data.augment). This
# trains four seed-1 jobs of the fig5_pca_fmnist_paper sweep again with it on (everything else
# identical: same resolved config, early stopping included), 2 at a time, 1 thread each.
# Then: python docs/results/fig5_pca_fmnist_paper/check_table.py outputs/fig5_augment augmented.
# Run from the repository root.
O=outputs/fig5_augment
mkdir -p "$O"
run() {
  python src/train.py data=pca_fmnist data.augment=true objective="$1" model.latent_dim="$2" \
    model.hidden=50 seed=1 threads=1 trainer.max_epochs=200 callbacks.progress_bar=null \
    trainer.enable_progress_bar=false task_name=fig5_augment \
    hydra.run.dir="$O/$1_l$2_s1" > "$O/$1_l$2_s1.log" 2>&1 || echo "failed: $1 latent $2" >&2
}
(run vae 4; run vae 10) &
(run mim 4; run mim 6) &
wait
# Each job's best checkpoint evaluated again with the test set on its own PCA (the reference's
# full protocol: augmented training, separate test basis); then
# python docs/results/fig5_pca_fmnist_paper/check_table.py outputs/fig5_augment/eval_separate "augmented, separate PCA"
for job in "$O"/*_s1; do
  ckpt=$(ls "$job"/checkpoints/epoch_*.ckpt | tail -1)
  OMP_NUM_THREADS=1 python src/eval.py ckpt_path="$ckpt" +data_overrides.pca_fit=separate \
    hydra.run.dir="$O/eval_separate/$(basename "$job")" > /dev/null 2>&1 || echo "failed: $job" >&2
done
