"""src/embed.py (mimkit.app.embeddings): embeddings.npz against `Autoencoder.embed` on the same data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FAST, compose_config, run_cli
from hydra.utils import instantiate
from test_data_mnist import make_arrays

from mimkit.app.config import to_plain
from mimkit.app.embeddings import embed
from mimkit.app.run import train
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import load_module
from mimkit.training.module import AutoencoderModule

TOY = [
    "data.n_train=300",
    "data.n_val=200",
    "data.n_test=150",
    "trainer.max_epochs=1",
    "warmup=0",
    "callbacks.representation_metrics=null",
    "callbacks.fig2_plot=null",
]


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("toy") / "run"
    train(compose_config("train", FAST + TOY, run))
    return run / "checkpoints" / "last.ckpt"


def embed_config(tmp_path, ckpt, *overrides):
    return compose_config("embed", [f"ckpt_path={ckpt}", *overrides], tmp_path / "embed")


def check_against_the_model(
    npz, ckpt, x: torch.Tensor, labels: torch.Tensor, atol: float, gaussian: slice = slice(None)
) -> None:
    """Means = model.embed(x); labels as the datamodule's; one sample z ~ q(z|x) per point,
    mean + std · N(0, 1) in the dims `gaussian` (two-level: z2; z1 ~ q(z1|x, z2) is not)."""
    model = load_module(str(ckpt)).model
    expected = model.embed(x)
    assert npz["mean"].shape == npz["sample"].shape == npz["std"].shape == tuple(expected.shape)
    assert npz["mean"].dtype == np.float32 and npz["labels"].dtype == np.int64
    np.testing.assert_allclose(npz["mean"], expected.numpy(), rtol=0, atol=atol)
    np.testing.assert_array_equal(npz["labels"], labels.numpy())
    scores = ((npz["sample"] - npz["mean"]) / npz["std"])[:, gaussian]  # N(0, 1) if z ~ q(z|x)
    assert abs(scores.mean()) < 0.15 and 0.85 < scores.std() < 1.15


def test_embed_cli_writes_the_test_split_of_a_toy_run(toy_checkpoint, tmp_path):
    out = tmp_path / "embed_cli"
    result = run_cli(
        "embed.py",
        f"ckpt_path={toy_checkpoint}",
        "split=test",
        "batch_size=64",
        f"hydra.run.dir={out}",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run dir: {out}" in result.stdout
    npz = np.load(out / "embeddings.npz")
    assert str(npz["split"]) == "test" and npz["mean"].shape == (150, 2)
    datamodule = instantiate(load_module(str(toy_checkpoint)).run_config["data"])
    check_against_the_model(npz, toy_checkpoint, *datamodule.test, atol=1e-6)


@pytest.mark.parametrize("split, size", [("train", 300), ("val", 200)])
def test_embed_train_and_val_splits(toy_checkpoint, tmp_path, split, size):
    embed(embed_config(tmp_path, toy_checkpoint, f"split={split}", "batch_size=128"))
    npz = np.load(tmp_path / "embed" / "embeddings.npz")
    datamodule = instantiate(load_module(str(toy_checkpoint)).run_config["data"])
    x, labels = datamodule.train_fixed() if split == "train" else datamodule.val
    assert len(x) == size
    check_against_the_model(npz, toy_checkpoint, x, labels, atol=1e-6)


def test_embed_other_data_settings_and_sample_seed(toy_checkpoint, tmp_path):
    embed(embed_config(tmp_path, toy_checkpoint, "+data_overrides.n_test=40"))
    first = dict(np.load(tmp_path / "embed" / "embeddings.npz"))
    assert first["mean"].shape == (40, 2) and first["labels"].shape == (40,)
    embed(embed_config(tmp_path, toy_checkpoint, "+data_overrides.n_test=40", "seed=1"))
    other = np.load(tmp_path / "embed" / "embeddings.npz")
    np.testing.assert_array_equal(other["mean"], first["mean"])
    assert not np.array_equal(other["sample"], first["sample"])


def test_embed_a_convhvae_on_images(train_config, tmp_path, mnist_files):
    source = mnist_files("MNIST", make_arrays(0))
    cfg = train_config(
        "model=convhvae",
        "data=mnist",
        f"data.source_dir={source}",
        f"paths.data_dir={tmp_path / 'data'}",
        "data.n_train=40",
        "data.n_val=16",
        "data.n_test=12",
        fast=False,
    )
    plain = to_plain(cfg)
    module = AutoencoderModule(
        model=plain["model"], prior=plain["prior"], objective=plain["objective"], optim=plain["optim"]
    )
    ckpt = tmp_path / "convhvae.ckpt"  # untrained weights: the round trip is what is checked
    hyper = AutoencoderModule.from_run_config(plain).hparams  # the run config in the hyperparameters
    torch.save({"hyper_parameters": dict(hyper), "state_dict": module.state_dict()}, ckpt)
    embed(embed_config(tmp_path, ckpt, "split=val", "batch_size=5"))
    npz = np.load(tmp_path / "embed" / "embeddings.npz")
    assert npz["mean"].shape == (16, 80)  # z = [z1, z2], 40 + 40
    datamodule = instantiate(plain["data"])
    check_against_the_model(npz, ckpt, *datamodule.val, atol=1e-5, gaussian=slice(40, 80))


def test_bad_embed_inputs_are_one_line_errors(toy_checkpoint, tmp_path):
    missing = tmp_path / "none.ckpt"
    cases = [
        ([f"ckpt_path={missing}"], f"ckpt_path '{missing}' is not a file"),
        (
            [f"ckpt_path={toy_checkpoint}", "split=tests"],
            "split must be 'train', 'val' or 'test', got 'tests'",
        ),
        ([f"ckpt_path={toy_checkpoint}", "batch_size=0"], "batch_size must be greater than 0, got 0"),
        (
            [f"ckpt_path={toy_checkpoint}", "data=gmm20d"],
            "the model takes flat vectors of shape [2] but the data give [20]",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match="^[^\n]*$") as error:
            embed(compose_config("embed", overrides, tmp_path / "embed"))
        assert message in str(error.value)
