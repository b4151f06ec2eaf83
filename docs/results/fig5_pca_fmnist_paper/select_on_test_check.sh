#!/bin/bash
# reference_check.sh without the augmentation: the test set on its own PCA and the checkpoint
# choice and early stopping on it (data.pca_fit=separate data.select_on=test), to tell the two
# apart. Two seed-1 jobs, side by side. Then:
# python docs/results/fig5_pca_fmnist_paper/check_table.py outputs/fig5_select_on_test \
#   "test selection" outputs/fig5_pca_fmnist_separate/multiruns/resumable
# Run from the repository root.
O=outputs/fig5_select_on_test
mkdir -p "$O"
run() {
  python src/train.py data=pca_fmnist data.pca_fit=separate data.select_on=test \
    objective="$1" model.latent_dim="$2" model.hidden=50 seed=1 threads=1 trainer.max_epochs=200 \
    callbacks.progress_bar=null trainer.enable_progress_bar=false task_name=fig5_select_on_test \
    hydra.run.dir="$O/$1_l$2_s1" > "$O/$1_l$2_s1.log" 2>&1 || echo "failed: $1 latent $2" >&2
}
run vae 4 &
run mim 4 &
wait
