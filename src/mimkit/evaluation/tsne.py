"""t-SNE pictures of a latent space (the paper's Figs. 7–10): test embeddings projected to 2-D with
scikit-learn's TSNE, one colour per class."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.manifold import TSNE

# classes beyond this many share the colour map without a legend (Omniglot's 50 alphabets)
LEGEND_CLASSES = 10


def tsne_2d(z: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """[N, 2] t-SNE coordinates of the rows of z [N, D] (PCA initialisation, fixed seed)."""
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    if len(z) < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {len(z)}")
    perplexity = min(perplexity, (len(z) - 1) / 3)  # TSNE requires perplexity < N
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)


def plot_tsne(
    coords: np.ndarray,
    labels: np.ndarray | None,
    path: str | Path,
    title: str | None = None,
    class_names: list[str] | None = None,
) -> Path:
    """Scatter of `coords` [N, 2] coloured by integer `labels` [N] (None: one colour, no legend);
    written to `path` (PNG)."""
    unlabelled = labels is None
    labels = np.zeros(len(coords), dtype=np.int64) if unlabelled else np.asarray(labels)
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "nipy_spectral")
    fig, ax = plt.subplots(figsize=(6, 6))
    for index, label in enumerate(classes):
        chosen = labels == label
        name = None if unlabelled else class_names[int(label)] if class_names else str(label)
        ax.scatter(
            coords[chosen, 0],
            coords[chosen, 1],
            s=4,
            alpha=0.7,
            color=cmap(index / max(len(classes) - 1, 1) if len(classes) > 10 else index),
            label=name,
            rasterized=True,
        )
    if len(classes) <= LEGEND_CLASSES and not unlabelled:
        ax.legend(markerscale=4, fontsize=8, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of test latents")
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
