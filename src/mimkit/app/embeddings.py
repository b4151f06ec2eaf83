"""Embeddings of a data split by a trained model: `python src/embed.py ckpt_path=PATH split=test`.

Writes `embeddings.npz` into the run dir with, for every point of the split (in the
datamodule's order):

| array | dtype, shape | what |
|---|---|---|
| mean | float32 [N, D] | the posterior mean E[z \\| x] (`Autoencoder.embed(x)`) |
| sample | float32 [N, D] | one draw z ~ q(z \\| x) (from `seed`) |
| std | float32 [N, D] | the posterior std (two-level models: of q(z1 \\| x, z2 = mean), q(z2 \\| x)) |
| labels | int64 [N] | the datamodule's labels (absent for data without labels) |
| split | str | train, val or test |

`train` is the datamodule's fixed training set (`train_fixed()`: one draw of the toy data, or
the training images binarised once from data_seed), `val` and `test` its `val` and `test`. The
data are the run's (the checkpoint's config), or `data=<group>` (another data set of the same
shape), with `+data_overrides.KEY=VALUE` on top. Points are encoded `batch_size` at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from mimkit.app.config import to_plain, unwritable_reason
from mimkit.app.run import check_input_shape
from mimkit.app.schema import check_node, validate
from mimkit.data.batches import labels_of
from mimkit.errors import ConfigError
from mimkit.model.autoencoder import seeded_eval
from mimkit.training.checkpoint_io import load_module

log = logging.getLogger(__name__)


def split_tensors(datamodule, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x, labels) of `split` (train, val or test) of a TensorDataModule (labels None: no labels)."""
    tensors = datamodule.train_fixed() if split == "train" else getattr(datamodule, split)
    return tensors[0], labels_of(tensors)


@torch.no_grad()
def encode_split(model, x: torch.Tensor, batch_size: int, device: torch.device) -> dict[str, np.ndarray]:
    """Posterior means, one sample and (if the posterior has one) stds of every row of x."""
    parts: dict[str, list] = {"mean": [], "sample": [], "std": []}
    for start in range(0, len(x), batch_size):
        posterior = model.encoder(x[start : start + batch_size].to(device))
        parts["mean"].append(posterior.mean.cpu())
        parts["sample"].append(posterior.sample().cpu())
        if getattr(posterior, "std", None) is not None:
            parts["std"].append(posterior.std.cpu())
    return {name: torch.cat(values).float().numpy() for name, values in parts.items() if values}


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available (device=cpu|auto)")
    return torch.device(name)


def load_split(cfg: DictConfig):
    """(model on cfg.device, x, labels, datamodule) of `cfg.split`: the checkpoint's model and its
    run's data (or data=<group>), with data_overrides checked, after checking the output dir is
    writable."""
    module = load_module(cfg.ckpt_path)
    run = module.run_config
    if run is None:
        raise ConfigError(f"ckpt_path {cfg.ckpt_path!r} holds no run config (not written by train.py)")
    data = to_plain(cfg.data) if cfg.get("data") else dict(run["data"])
    if cfg.get("data_overrides"):  # the only settings not validated with the task's config
        data.update(to_plain(cfg.data_overrides))
        check_node("data", data)
    reason = unwritable_reason(cfg.paths.output_dir)
    if reason:
        raise ConfigError(f"paths.output_dir {cfg.paths.output_dir!r} is not writable: {reason}")
    if module.hparams.get("vocabulary") is not None:  # sequences read in the model's own vocabulary
        data["vocabulary"] = module.hparams["vocabulary"]
    datamodule = instantiate(data)
    x, labels = split_tensors(datamodule, cfg.split)
    check_input_shape(run["model"], datamodule)
    return module.model.to(_device(cfg.device)), x, labels, datamodule


def embed(cfg: DictConfig) -> dict[str, float]:
    """Write `<run dir>/embeddings.npz` for `cfg.split` of the data (see the module doc)."""
    validate(to_plain(cfg), "embed")
    device = _device(cfg.device)
    model, x, labels, _ = load_split(cfg)
    with seeded_eval(model, cfg.seed, device):
        arrays = encode_split(model, x, cfg.batch_size, device)
    path = Path(cfg.paths.output_dir) / "embeddings.npz"
    labelled = {} if labels is None else {"labels": labels.numpy()}  # data without labels: none
    # numpy's stub lets a **dict fill the keyword allow_pickle (a bool): these keys are array names
    np.savez(path, **arrays, **labelled, split=np.array(cfg.split))  # type: ignore[arg-type]
    log.info(
        "%s embeddings of %d %s points written to %s",
        "x".join(map(str, arrays["mean"].shape[1:])),
        len(x),
        cfg.split,
        path,
    )
    return {"embed/points": float(len(x)), "embed/latent_dim": float(arrays["mean"].shape[1])}
