"""The paper's Fig. 2 for one model with 2-D data and a 2-D latent space.

Top panel, observation space: black contours are level sets of the model's data density
q(x) = exp(-NLL(x)) (importance-sampled, docs/maths.md §3) on a grid over the data range; red dots are
reconstructions x' ~ p(x|z), z ~ q(z|x) of test points (the test points themselves lightly grey).
Bottom panel, latent space: green one-standard-deviation ellipses of q(z|x) for test points,
over the dashed black unit circle, one standard deviation of the prior N(0, I).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import EllipseCollection
from matplotlib.patches import Circle

from mimkit.model.autoencoder import seeded_eval


def is_2d_model(model, x: torch.Tensor | None = None) -> bool:
    """Whether `model` has a 2-D latent space and (given data `x`) 2-D observations."""
    if getattr(model, "latent_dim", None) != 2:
        return False
    return x is None or tuple(x.shape[1:]) == (2,)


def _model_device(model) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def density_grid(
    model,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    grid: int = 100,
    samples: int = 64,
    batch: int = 2500,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Y, q) with q = exp(-NLL) of the model at the points of a grid x grid mesh."""
    xs = torch.linspace(xlim[0], xlim[1], grid)
    ys = torch.linspace(ylim[0], ylim[1], grid)
    mesh_x, mesh_y = torch.meshgrid(xs, ys, indexing="xy")
    points = torch.stack([mesh_x.flatten(), mesh_y.flatten()], dim=1)
    device = _model_device(model)
    nll = torch.cat(
        [model.nll(chunk.to(device), samples=samples).float().cpu() for chunk in points.split(batch)]
    )
    density = torch.exp(-nll).nan_to_num(0.0, posinf=0.0).view(grid, grid)
    return mesh_x.numpy(), mesh_y.numpy(), density.numpy()


def mass_levels(density: np.ndarray, masses=(0.1, 0.3, 0.5, 0.7, 0.9, 0.97)) -> np.ndarray:
    """Density values whose super-level sets hold the given fractions of the grid's mass.

    Highest-density-region levels: robust to the narrow, tall spikes of a near-deterministic
    decoder, which would take every evenly spaced level of the density to themselves.
    """
    values = np.sort(density[np.isfinite(density)].ravel())[::-1]
    total = values.sum()
    if not total > 0:
        return np.array([])
    cumulative = np.cumsum(values) / total
    levels = values[np.minimum(np.searchsorted(cumulative, masses), len(values) - 1)]
    return np.unique(levels[levels > 0])


def _limits(points: np.ndarray, margin: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-3)
    return (float(low[0] - pad[0]), float(high[0] + pad[0])), (
        float(low[1] - pad[1]),
        float(high[1] + pad[1]),
    )


def _inset(ax, stats: dict | None) -> None:
    if not stats:
        return
    text = "\n".join(
        f"{name} = {value:.3g}" if isinstance(value, (int, float)) else f"{name} = {value}"
        for name, value in stats.items()
    )
    ax.text(
        0.03,
        0.97,
        text,
        transform=ax.transAxes,
        va="top",
        ha="left",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"},
    )


@torch.no_grad()
def plot_2d_model(
    model,
    x_test: torch.Tensor,
    path: str | Path,
    title: str | None = None,
    grid: int = 100,
    samples: int = 64,
    n_points: int = 500,
    n_ellipses: int = 200,
    levels: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9, 0.97),
    stats: dict | None = None,
    smooth: float = 1.0,
    seed: int = 0,
) -> Path:
    """Write the Fig. 2 column of `model` (an `Autoencoder` with 2-D data and latent) to `path`.

    x_test: test points [N, 2]; the first `n_points` are reconstructed and the first `n_ellipses`
    get a posterior ellipse. grid, samples: the density mesh size and the importance samples per
    mesh point. stats: inset quantities, e.g. {"MI": 6.8, "recon": 0.01}. The model's own random
    draws use a generator forked from `seed`, so the global RNG state is left as it was.
    """
    if not is_2d_model(model, x_test):
        raise ValueError(
            f"plot_2d_model needs 2-D data and a 2-D latent, got data of shape "
            f"{tuple(x_test.shape[1:])} and latent_dim {getattr(model, 'latent_dim', None)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = _model_device(model)
    with seeded_eval(model, seed, device):
        x_all = x_test.detach().float()
        x = x_all[:n_points].to(device)
        recon = model.reconstruct(x, sample=True).float().cpu().numpy()
        posterior = model.encoder(x_all[:n_ellipses].to(device))
        means = posterior.mean.float().cpu().numpy()
        stds = posterior.std.float().cpu().numpy()
        xlim, ylim = _limits(x_all.cpu().numpy())
        mesh_x, mesh_y, density = density_grid(model, xlim, ylim, grid=grid, samples=samples)
    x_np = x_all[:n_points].cpu().numpy()

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.6, 9.0))
    top.scatter(x_np[:, 0], x_np[:, 1], s=4, color="0.75", label="test points", zorder=1)
    if smooth > 0:  # damp the importance-sampling noise of the per-point estimates
        from scipy.ndimage import gaussian_filter

        log_density = np.log(np.maximum(density, np.finfo(np.float64).tiny))
        density = np.exp(gaussian_filter(log_density, sigma=smooth, mode="nearest"))
    contour_levels = mass_levels(density, levels)
    if len(contour_levels):
        top.contour(mesh_x, mesh_y, density, levels=contour_levels, colors="black", linewidths=0.8, zorder=2)
    top.scatter(recon[:, 0], recon[:, 1], s=5, color="red", label="reconstructions", zorder=3)
    top.set_xlim(*xlim)
    top.set_ylim(*ylim)
    top.set_aspect("equal", adjustable="box")
    top.set_title("x: level sets of q(x), reconstructions", fontsize=10)
    top.legend(loc="lower right", fontsize=8, markerscale=2)
    _inset(top, stats)

    # one-std ellipses of q(z|x): axis-aligned, widths 2σ1 and heights 2σ2
    ellipses = EllipseCollection(
        2 * stds[:, 0],
        2 * stds[:, 1],
        np.zeros(len(stds)),
        units="xy",
        offsets=means,
        offset_transform=bottom.transData,
        facecolors="none",
        edgecolors="green",
        linewidths=0.7,
    )
    bottom.add_collection(ellipses)
    bottom.add_patch(Circle((0.0, 0.0), 1.0, fill=False, linestyle="--", edgecolor="black", linewidth=1.5))
    reach = float(np.max(np.abs(means) + stds)) if len(means) else 1.0
    bound = 1.1 * max(reach, 1.5)
    bottom.set_xlim(-bound, bound)
    bottom.set_ylim(-bound, bound)
    bottom.set_aspect("equal", adjustable="box")
    bottom.set_title("z: one-std ellipses of q(z|x); dashed: N(0, I)", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
