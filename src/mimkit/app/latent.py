"""The latent tools from the command line: `python src/latent.py ckpt_path=PATH tool=TOOL`.

The checkpoint, its data (or `data=<group>`, `+data_overrides.KEY=VALUE`) and the split are read
as `src/embed.py` reads them. The points are the first `points` of the split (null: all of it)
or the given `indices`; `tool` runs the `Autoencoder` method of its name on them, `batch_size`
points (interpolate: pairs) at a time, all draws from one stream seeded with `seed`. It writes
`<tool>.npz` into the run dir and, for image data, `<tool>.png` (token data: `<tool>.txt`, the
decoded sequences):

- interpolate: x [P/2, steps, *x_shape], z [P/2, steps, D], t [steps], index_a, index_b [P/2];
  picture: a row per pair (x_a, the path, x_b);
- traverse: x [P, K, V, *x_shape], z [P, K, V, D], dims [K], values [V]; picture: a row per point
  and dim (x, then the V values);
- sample_around: x [P, n, *x_shape], z [P, n, D]; picture: a row per point (x, the n samples);
- consistency: distance [P], z = μ(x) and z_prime = μ(x') [P, D]; no picture.

Arrays are float32 but for the int64 indices, dims and labels. Every file also holds `index`
[P] (the points' rows in the split; interpolate pairs rows index[0::2] with index[1::2]),
`labels` [P] (when the data have labels; interpolate also labels_a, labels_b of the pairs),
`split` and `tool`. `x` is decoded means unless `mean=false` (samples); consistency draws
x' ~ p(x|μ(x)) unless `mean=true`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from mimkit.app.config import to_plain
from mimkit.app.embeddings import _device, load_split
from mimkit.app.schema import validate
from mimkit.errors import ConfigError
from mimkit.evaluation.callbacks.latent_grids import framed_rows, save_grid
from mimkit.seeding import seeded_draws

log = logging.getLogger(__name__)


def chosen_points(size: int, points: int | None, indices: list[int] | None, split: str) -> torch.Tensor:
    """The rows of the split to use: `indices`, else the first `points` (None: all `size`)."""
    if indices is not None:
        outside = [i for i in indices if i >= size]
        if outside:
            raise ConfigError(f"indices {outside} lie outside the {size} points of the {split} split")
        return torch.tensor(list(indices), dtype=torch.int64)
    if points is not None and points > size:
        raise ConfigError(f"points={points} but the {split} split has {size} points")
    return torch.arange(size if points is None else points)


def in_batches(call: Callable, batch_size: int, device: torch.device, *inputs: torch.Tensor):
    """`call` on `batch_size` rows of the `inputs` at a time (on `device`); its outputs, a tuple
    of tensors per call, concatenated along the first dim, on the CPU, as numpy arrays."""
    outputs = [
        call(*(t[start : start + batch_size].to(device) for t in inputs))
        for start in range(0, len(inputs[0]), batch_size)
    ]
    return [torch.cat(parts).cpu().float().numpy() for parts in zip(*outputs)]


def run_tool(model, cfg: DictConfig, x: torch.Tensor, device: torch.device) -> dict[str, np.ndarray]:
    """The arrays of `<tool>.npz` for the chosen points x (see the module doc)."""
    mean = cfg.mean if cfg.mean is not None else cfg.tool != "consistency"
    batch = cfg.batch_size
    if cfg.tool == "interpolate":
        decoded, z = in_batches(
            lambda a, b: model.interpolate(a, b, cfg.steps, cfg.path, mean=mean, return_z=True),
            batch,
            device,
            x[0::2],
            x[1::2],
        )
        t = np.linspace(0.0, 1.0, cfg.steps, dtype=np.float32)
        return {"x": decoded, "z": z, "t": t}
    if cfg.tool == "traverse":
        dims = list(range(model.latent_dim)) if cfg.dims is None else list(cfg.dims)
        values = torch.tensor(list(cfg["values"]), dtype=torch.float32)  # cfg.values: the dict method
        decoded, z = in_batches(
            lambda p: model.traverse(p, dims, values, cfg.absolute, mean=mean, return_z=True),
            batch,
            device,
            x,
        )
        return {"x": decoded, "z": z, "dims": np.array(dims, dtype=np.int64), "values": values.numpy()}
    if cfg.tool == "sample_around":
        decoded, z = in_batches(
            lambda p: model.sample_around(p, cfg.scale, cfg.n, mean=mean, return_z=True), batch, device, x
        )
        return {"x": decoded, "z": z}
    distance, z, z_prime = in_batches(
        lambda p: model.consistency(p, mean=mean, return_z=True), batch, device, x
    )
    return {"distance": distance, "z": z, "z_prime": z_prime}


def picture(tool: str, x: torch.Tensor, arrays: dict[str, np.ndarray], path: Path) -> Path:
    """`<tool>.png` of an image data set: one row per pair, per (point, dim) or per point."""
    decoded = torch.from_numpy(arrays["x"])
    if tool == "interpolate":
        images, per_row = framed_rows(x[0::2], decoded, x[1::2])
    else:
        images, per_row = framed_rows(x, decoded)
    return save_grid(images, per_row, path)


def text(datamodule, tool: str, x: torch.Tensor, arrays: dict[str, np.ndarray], path: Path) -> Path:
    """`<tool>.txt` of token data: one line per pair, per (point, dim) or per point, the decoded
    sequences between " | ", each line starting with its test sequence (pairs: ending with the
    second one)."""
    decoded = torch.from_numpy(arrays["x"]).long()
    rows = decoded.flatten(0, -3) if tool == "traverse" else decoded  # [points, (dims,) k, T] -> [rows, k, T]
    firsts = x[0::2] if tool == "interpolate" else x.repeat_interleave(len(rows) // len(x), dim=0)
    lines = []
    for first, row in zip(datamodule.decode(firsts), rows):
        line = [first, *datamodule.decode(row)]
        lines.append(" | ".join(line))
    if tool == "interpolate":
        lines = [f"{line} | {last}" for line, last in zip(lines, datamodule.decode(x[1::2]))]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def latent(cfg: DictConfig) -> dict[str, float]:
    """Write `<run dir>/<tool>.npz` (and `<tool>.png` for image data); see the module doc."""
    validate(to_plain(cfg), "latent")
    if cfg.tool == "traverse" and not len(cfg["values"]):
        raise ConfigError("values must name at least one value for tool=traverse")
    device = _device(cfg.device)
    model, x_all, labels, datamodule = load_split(cfg)
    index = chosen_points(len(x_all), cfg.points, cfg.indices, cfg.split)
    if cfg.tool == "interpolate" and len(index) % 2:
        raise ConfigError(f"tool=interpolate takes pairs of points, got {len(index)} (points or indices)")
    x = x_all[index]
    with seeded_draws(cfg.seed, device):  # the global generators are restored afterwards
        arrays = run_tool(model, cfg, x, device)
    extra = {"index": index.numpy(), "split": np.array(cfg.split), "tool": np.array(cfg.tool)}
    if labels is not None:
        extra["labels"] = labels[index].numpy()
    if cfg.tool == "interpolate":
        extra.update(index_a=index[0::2].numpy(), index_b=index[1::2].numpy())
        if labels is not None:
            extra.update(labels_a=extra["labels"][0::2], labels_b=extra["labels"][1::2])
    out = Path(cfg.paths.output_dir)
    # numpy's stub lets a **dict fill the keyword allow_pickle (a bool): these keys are array names
    np.savez(out / f"{cfg.tool}.npz", **arrays, **extra)  # type: ignore[arg-type]
    written = [out / f"{cfg.tool}.npz"]
    if x.dim() == 4 and cfg.tool != "consistency":
        written.append(picture(cfg.tool, x, arrays, out / f"{cfg.tool}.png"))
    if getattr(datamodule, "vocabulary", None) is not None and cfg.tool != "consistency":
        written.append(text(datamodule, cfg.tool, x, arrays, out / f"{cfg.tool}.txt"))
    log.info("%s of %d %s points written to %s", cfg.tool, len(x), cfg.split, ", ".join(map(str, written)))
    metrics = {"latent/points": float(len(x))}
    if cfg.tool == "consistency":
        metrics["latent/consistency_mean"] = float(arrays["distance"].mean())
        log.info("mean encode-decode-re-encode distance %.6g", metrics["latent/consistency_mean"])
    return metrics
