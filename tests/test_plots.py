"""The Fig. 2 plot of 2-D models and the callback that writes it at the end of testing."""

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import WandbLogger

from mimkit.data.gmm import GMMDataModule
from mimkit.evaluation.callbacks.fig2 import Fig2Plot, collect_test_inputs, describe
from mimkit.evaluation.plots import mass_levels, plot_2d_model
from mimkit.model.autoencoder import build_autoencoder
from mimkit.training.module import AutoencoderModule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = {"grid": 12, "samples": 4, "n_points": 50, "n_ellipses": 20}


def model_cfg(x_dim: int, latent_dim: int = 2, hidden: int = 8) -> dict:
    """conf/model/mlp.yaml, resolved."""
    return {
        "latent_dim": latent_dim,
        "hidden": hidden,
        "encoder": {
            "_target_": "mimkit.model.nets.mlp.GaussianMLP",
            "in_dim": x_dim,
            "out_dim": latent_dim,
            "hidden": hidden,
        },
        "decoder": {
            "_target_": "mimkit.model.nets.mlp.GaussianMLP",
            "in_dim": latent_dim,
            "out_dim": x_dim,
            "hidden": hidden,
        },
    }


PRIOR = {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"}


def build(x_dim: int, latent_dim: int = 2):
    torch.manual_seed(0)
    return build_autoencoder(model_cfg(x_dim, latent_dim), PRIOR)


def module(x_dim: int, latent_dim: int = 2) -> AutoencoderModule:
    torch.manual_seed(0)
    return AutoencoderModule(
        model=model_cfg(x_dim, latent_dim),
        prior=PRIOR,
        objective={"_target_": "mimkit.model.objectives.vae.VAE"},
        optim={"lr": 1e-3, "schedule": "constant", "warmup": 3},
    )


def fake_trainer(x: torch.Tensor, root: Path, loggers=()) -> SimpleNamespace:
    return SimpleNamespace(
        is_global_zero=True,
        datamodule=SimpleNamespace(test=(x, None)),
        default_root_dir=str(root),
        loggers=list(loggers),
        callback_metrics={"test/mi": torch.tensor(1.5), "test/recon": torch.tensor(0.25)},
    )


def test_plot_2d_model_writes_png(tmp_path: Path):
    model = build(2)
    x = torch.randn(300, 2)
    state = torch.get_rng_state()
    path = plot_2d_model(model, x, tmp_path / "sub" / "fig2.png", title="MIM", stats={"MI": 6.8}, **SMALL)
    assert path == tmp_path / "sub" / "fig2.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert model.training  # the mode is restored


def test_plot_2d_model_rejects_other_shapes(tmp_path: Path):
    with pytest.raises(ValueError, match="2-D"):
        plot_2d_model(build(3), torch.randn(10, 3), tmp_path / "f.png", **SMALL)
    with pytest.raises(ValueError, match="2-D"):
        plot_2d_model(build(2, latent_dim=3), torch.randn(10, 2), tmp_path / "f.png", **SMALL)


def test_mass_levels():
    density = np.array([[4.0, 3.0], [2.0, 1.0]])  # total 10: the top cell holds 40 %
    assert list(mass_levels(density, (0.3, 0.6, 0.95))) == [1.0, 3.0, 4.0]
    assert len(mass_levels(np.zeros((3, 3)))) == 0


def test_callback_writes_and_logs_to_wandb(tmp_path: Path):
    wandb = mock.Mock(spec=WandbLogger)
    other = mock.Mock()
    trainer = fake_trainer(torch.randn(200, 2), tmp_path, loggers=[other, wandb])
    callback = Fig2Plot(**SMALL)  # no path: the trainer's root dir
    callback.on_test_end(trainer, module(2))
    path = tmp_path / "fig2.png"
    assert callback.written == path
    assert path.read_bytes()[:8] == PNG_MAGIC
    wandb.log_image.assert_called_once_with(key="test/fig2", images=[str(path)])


@pytest.mark.parametrize("x_dim, latent_dim", [(3, 2), (2, 3)])
def test_callback_skips_non_2d_models(tmp_path: Path, x_dim: int, latent_dim: int):
    wandb = mock.Mock(spec=WandbLogger)
    trainer = fake_trainer(torch.randn(50, x_dim), tmp_path, loggers=[wandb])
    callback = Fig2Plot(path=str(tmp_path / "fig2.png"), **SMALL)
    callback.on_test_end(trainer, module(x_dim, latent_dim))
    assert callback.written is None
    assert not any(tmp_path.iterdir())
    wandb.log_image.assert_not_called()


def test_callback_only_on_rank_zero(tmp_path: Path):
    trainer = fake_trainer(torch.randn(50, 2), tmp_path)
    trainer.is_global_zero = False
    Fig2Plot(**SMALL).on_test_end(trainer, module(2))
    assert not any(tmp_path.iterdir())


def test_collect_from_dataloaders():
    loader = [(torch.randn(30, 2), torch.zeros(30)) for _ in range(3)]
    trainer = SimpleNamespace(datamodule=None, test_dataloaders=[loader])
    assert collect_test_inputs(trainer, limit=70).shape == (70, 2)
    assert collect_test_inputs(trainer).shape == (90, 2)


def test_describe():
    assert describe(module(2)) == "VAE, H = 8"
    mim = SimpleNamespace(
        hparams={
            "objective": {"_target_": "mimkit.model.objectives.mim.MIM", "symmetric": False},
            "model": {},
        }
    )
    assert describe(mim) == "A-MIM"
    image = SimpleNamespace(
        hparams={
            "objective": {"_target_": "mimkit.model.objectives.vae.VAE"},
            "prior": {"_target_": "mimkit.model.priors.vamp.VampPrior"},
            "model": {
                "x_shape": [1, 28, 28],
                "hidden": 300,
                "decoder": {"_target_": "mimkit.model.nets.pixel_decoder.PixelDecoder"},
            },
        }
    )
    assert describe(image) == "VAE, PixelHVAE, VampPrior"


def test_callback_in_a_real_test_run(tmp_path: Path):
    path = tmp_path / "run" / "fig2.png"
    datamodule = GMMDataModule(n_train=256, n_val=256, n_test=256, eval_batch_size=128)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=[Fig2Plot(path=str(path), **SMALL)],
    )
    trainer.test(module(2), datamodule=datamodule, verbose=False)
    assert path.read_bytes()[:8] == PNG_MAGIC
