#!/bin/bash
# The paper trained Fig. 5 for 200 epochs and kept the lowest-validation-loss model; the sweep
# stops early (patience 3). This trains four of its seed-1 jobs again with early stopping off
# (everything else identical: same resolved config), 2 at a time, 1 thread each (≈ 8 min).
# Then: python docs/results/fig5_pca_fmnist_paper/check_table.py outputs/fig5_no_early_stop "200 epochs".
# Run from the repository root.
O=outputs/fig5_no_early_stop
mkdir -p "$O"
run() {
  python src/train.py data=pca_fmnist objective="$1" model.latent_dim="$2" model.hidden=50 seed=1 \
    threads=1 trainer.max_epochs=200 callbacks.early_stopping=null callbacks.progress_bar=null \
    trainer.enable_progress_bar=false task_name=fig5_no_early_stop \
    hydra.run.dir="$O/$1_l$2_s1" > "$O/$1_l$2_s1.log" 2>&1 || echo "failed: $1 latent $2" >&2
}
(run vae 4; run vae 10) &
(run mim 4; run mim 6) &
wait
