"""MIM: the Mutual Information Machine, A-MIM and the VAE (Livne, Swersky & Fleet, 2019).

Entry points: `src/train.py`, `src/eval.py`, `src/embed.py`, `src/report.py` (Hydra configs in
`conf/`).
In Python: `mimkit.training.checkpoint_io.load_module(ckpt).model` is an
`mimkit.model.autoencoder.Autoencoder` with `embed`, `reconstruct`, `sample` and `nll`.
"""

from mimkit.app import resolvers  # noqa: F401  (registers the configs' ${mimkit.*} resolvers)
