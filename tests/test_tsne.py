"""t-SNE pictures: the projection keeps separated classes apart, the PNG and its coordinates are
written, and the callback runs only where it should (labelled image data, rank 0)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import WandbLogger

from mimkit.evaluation.callbacks.tsne_plot import TSNEPlot
from mimkit.evaluation.tsne import plot_tsne, tsne_2d
from mimkit.model.autoencoder import Autoencoder
from mimkit.model.priors.standard import StandardNormalPrior

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def clusters(n_per: int = 60, dim: int = 12, seed: int = 0):
    """Three tight clusters 10 apart in `dim` dimensions, labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centres = 10 * np.eye(3, dim)
    z = np.concatenate([c + 0.1 * rng.standard_normal((n_per, dim)) for c in centres])
    return z, np.repeat(np.arange(3), n_per)


def test_tsne_keeps_separated_clusters_apart_and_is_seeded():
    z, labels = clusters()
    coords = tsne_2d(z, perplexity=20, seed=3)
    assert coords.shape == (180, 2)
    # every point's nearest neighbour in the picture is of its own class
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(1)] == labels).all()
    assert np.array_equal(coords, tsne_2d(z, perplexity=20, seed=3))
    with pytest.raises(ValueError, match="at least 3"):
        tsne_2d(z[:2])


def test_plot_tsne_writes_a_png(tmp_path: Path):
    z, labels = clusters(20)
    path = plot_tsne(tsne_2d(z, 5), labels, tmp_path / "t.png", "title", ["a", "b", "c"])
    assert path.read_bytes()[:8] == PNG_MAGIC


class MeanEncoder(torch.nn.Module):
    """x [N, 1, 2, 2] (or [N, 3]) -> N(first three values, 0.01²): the latents are the pixels."""

    def forward(self, x):
        from mimkit.model.distributions import DiagonalGaussian

        mean = x.flatten(1)[:, :3]
        return DiagonalGaussian(mean, torch.full_like(mean, 0.01))


def image_module(tmp_path: Path):
    model = Autoencoder(MeanEncoder(), torch.nn.Identity(), StandardNormalPrior(3))
    return SimpleNamespace(model=model, device=torch.device("cpu"), hparams={})


def fake_trainer(x, labels, root: Path, loggers=()):
    return SimpleNamespace(
        is_global_zero=True,
        fast_dev_run=False,
        default_root_dir=str(root),
        datamodule=SimpleNamespace(test=(x, labels)),
        loggers=list(loggers),
    )


def test_callback_writes_png_and_coordinates_and_logs_to_wandb(tmp_path: Path):
    z, labels = clusters(40, dim=4)
    x = torch.tensor(z, dtype=torch.float32).view(-1, 1, 2, 2)
    wandb = mock.Mock(spec=WandbLogger)
    callback = TSNEPlot(points=100, perplexity=10)
    callback.on_test_end(fake_trainer(x, torch.tensor(labels), tmp_path, [wandb]), image_module(tmp_path))
    assert callback.written == tmp_path / "tsne.png"
    assert callback.written.read_bytes()[:8] == PNG_MAGIC
    saved = np.load(tmp_path / "tsne.npz")
    assert saved["coords"].shape == (100, 2)  # the first `points` test points
    assert np.array_equal(saved["labels"], labels[:100])
    wandb.log_image.assert_called_once_with(key="test/tsne", images=[str(callback.written)])


@pytest.mark.parametrize("case", ["flat data", "not rank zero"])
def test_callback_skips(tmp_path: Path, case: str):
    z, labels = clusters(10, dim=4)
    x = torch.tensor(z, dtype=torch.float32)
    x = x if case == "flat data" else x.view(-1, 1, 2, 2)
    trainer = fake_trainer(x, torch.tensor(labels), tmp_path)
    trainer.is_global_zero = case != "not rank zero"
    callback = TSNEPlot(points=30, perplexity=5)
    callback.on_test_end(trainer, image_module(tmp_path))
    assert callback.written is None and not any(tmp_path.iterdir())


def test_without_labels_the_picture_has_one_colour_and_says_so(tmp_path: Path):
    z, _ = clusters(10, dim=4)
    x = torch.tensor(z, dtype=torch.float32).view(-1, 1, 2, 2)
    callback = TSNEPlot(points=30, perplexity=5)
    callback.on_test_end(fake_trainer(x, None, tmp_path), image_module(tmp_path))
    assert callback.written == tmp_path / "tsne.png" and callback.written.read_bytes()[:8] == PNG_MAGIC
    assert "labels" not in np.load(tmp_path / "tsne.npz")
    assert callback.skipped == {"tsne.png colours": "the data have no labels"}


def test_flat_data_when_asked(tmp_path: Path):
    z, labels = clusters(10, dim=3)
    x = torch.tensor(z, dtype=torch.float32)
    callback = TSNEPlot(points=30, perplexity=5, images_only=False)
    callback.on_test_end(fake_trainer(x, torch.tensor(labels), tmp_path), image_module(tmp_path))
    assert (tmp_path / "tsne.png").exists()
