#!/bin/bash
# The reference code's whole Fig. 5 protocol as far as we know it: training images augmented
# (data.augment=true), the test set on its own PCA (data.pca_fit=separate), and the checkpoint
# choice and early stopping on that test set (data.select_on=test). Four seed-1 jobs of the
# fig5_pca_fmnist_paper sweep, otherwise its resolved config, 2 at a time, 1 thread each. Then:
# python docs/results/fig5_pca_fmnist_paper/check_table.py outputs/fig5_reference reference \
#   outputs/fig5_pca_fmnist_separate/multiruns/resumable
# Run from the repository root.
O=outputs/fig5_reference
mkdir -p "$O"
run() {
  python src/train.py data=pca_fmnist data.augment=true data.pca_fit=separate data.select_on=test \
    objective="$1" model.latent_dim="$2" model.hidden=50 seed=1 threads=1 trainer.max_epochs=200 \
    callbacks.progress_bar=null trainer.enable_progress_bar=false task_name=fig5_reference \
    hydra.run.dir="$O/$1_l$2_s1" > "$O/$1_l$2_s1.log" 2>&1 || echo "failed: $1 latent $2" >&2
}
(run vae 4; run vae 10) &
(run mim 4; run mim 6) &
wait
