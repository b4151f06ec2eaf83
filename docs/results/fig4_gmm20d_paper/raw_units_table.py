"""The table of docs/results/README.md for the standardised 10-seed Fig. 4: this sweep's means
(results.json) beside the paper's plotted values (docs/maths.md §7), with the 1-sample NLL also put back
in the raw data units the paper's plot uses. Standardising is the affine map x -> (x - m) / s,
so a model's density on raw data is its density on standardised data times prod(1 / s_d):
NLL_raw = NLL_standardised + sum_d log s_d (59.50 nats for the 20-D layout). Reconstruction
errors cannot be moved back that way (a norm over unequally scaled coordinates); they stay in
standardised units. Run from the repository root: python docs/results/fig4_gmm20d_paper/raw_units_table.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, "src")
from mimkit.data.gmm import GMMDataModule

HERE = Path(__file__).parent
rows = json.loads((HERE / "results.json").read_text())["rows"]
scale = GMMDataModule(x_dim=20, n_train=1, n_val=1, n_test=1, standardize=True).scale
log_det = float(scale.double().log().sum())


def cell(row, key, digits, shift=0.0):
    value = row["metrics"][key]["mean"] + shift
    paper = row["paper"].get(key)
    if paper is None:
        paper = "–"
    elif isinstance(paper, list):
        paper = f"{paper[0]:g}–{paper[1]:g}"
    else:
        paper = f"{paper:g}"
    return f"{value:.{digits}f} ({paper})"


by_latent = {}
for row in rows:
    by_latent.setdefault(row["x"], {})[row["group"]] = row
print(f"sum_d log s_d = {log_det:.2f} nats\n")
print(
    "| latent | MI MIM (paper) | MI VAE (paper) | 5-NN MIM (paper) | 5-NN VAE (paper) "
    "| recon MIM / VAE (standardised) | NLL (1 sample) MIM / VAE (standardised) "
    "| NLL (1 sample) MIM, raw units (paper) | NLL (1 sample) VAE, raw units (paper) |"
)
print("|---|---|---|---|---|---|---|---|---|")
for latent in sorted(by_latent):
    mim, vae = by_latent[latent]["mim"], by_latent[latent]["vae"]
    recon = f"{mim['metrics']['test/recon']['mean']:.2f} / {vae['metrics']['test/recon']['mean']:.2f}"
    nll = f"{mim['metrics']['test/nll_1s']['mean']:.1f} / {vae['metrics']['test/nll_1s']['mean']:.1f}"
    print(
        f"| {latent} | {cell(mim, 'test/mi', 2)} | {cell(vae, 'test/mi', 2)} "
        f"| {cell(mim, 'test/knn5', 3)} | {cell(vae, 'test/knn5', 3)} | {recon} | {nll} "
        f"| {cell(mim, 'test/nll_1s', 1, log_det)} | {cell(vae, 'test/nll_1s', 1, log_det)} |"
    )
