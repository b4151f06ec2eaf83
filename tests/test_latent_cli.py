"""src/latent.py (mimkit.app.latent): each tool's <tool>.npz (and .png for images) against the model
API (`Autoencoder.interpolate`, `traverse`, `sample_around`, `consistency`) on the same points."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import compose_config, run_cli
from hydra.utils import instantiate
from PIL import Image
from test_data_mnist import make_arrays
from test_embed import toy_checkpoint  # noqa: F401 (a fixture: a tiny trained toy run)

from mimkit.app.config import to_plain
from mimkit.app.latent import latent
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import load_module
from mimkit.training.module import AutoencoderModule


def latent_config(tmp_path, ckpt, *overrides):
    return compose_config("latent", [f"ckpt_path={ckpt}", *overrides], tmp_path / "latent")


def model_and_test_split(ckpt):
    module = load_module(str(ckpt))
    return module.model, instantiate(module.run_config["data"]).test


def test_latent_cli_interpolates_pairs_of_test_points(toy_checkpoint, tmp_path):  # noqa: F811
    out = tmp_path / "cli"
    result = run_cli(
        "latent.py",
        f"ckpt_path={toy_checkpoint}",
        "tool=interpolate",
        "indices=[3,17,5,9]",
        "steps=6",
        "path=slerp",
        f"hydra.run.dir={out}",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run dir: {out}" in result.stdout and (out / "latent.log").is_file()
    npz = np.load(out / "interpolate.npz")
    assert npz["x"].shape == (2, 6, 2) and npz["z"].shape == (2, 6, 2) and npz["x"].dtype == np.float32
    np.testing.assert_array_equal(npz["index_a"], [3, 5])
    np.testing.assert_array_equal(npz["index_b"], [17, 9])
    np.testing.assert_allclose(npz["t"], np.linspace(0, 1, 6), atol=1e-7)
    assert str(npz["tool"]) == "interpolate" and str(npz["split"]) == "test"
    model, (x, labels) = model_and_test_split(toy_checkpoint)
    np.testing.assert_array_equal(npz["labels_a"], labels[[3, 5]].numpy())
    decoded, z = model.interpolate(x[[3, 5]], x[[17, 9]], steps=6, path="slerp", return_z=True)
    np.testing.assert_allclose(npz["z"], z.numpy(), atol=1e-6)
    np.testing.assert_allclose(npz["x"], decoded.numpy(), atol=1e-6)
    assert not list(out.glob("*.png"))  # flat data: no picture


def test_traverse_sample_around_and_consistency_equal_the_model_api(toy_checkpoint, tmp_path):  # noqa: F811
    model, (x, labels) = model_and_test_split(toy_checkpoint)
    out = tmp_path / "latent"
    latent(
        latent_config(tmp_path, toy_checkpoint, "tool=traverse", "points=3", "dims=[1]", "values=[-1,0.5]")
    )
    npz = np.load(out / "traverse.npz")
    decoded, z = model.traverse(x[:3], [1], [-1.0, 0.5], return_z=True)
    assert npz["x"].shape == (3, 1, 2, 2)
    np.testing.assert_allclose(npz["z"], z.numpy(), atol=1e-6)
    np.testing.assert_allclose(npz["x"], decoded.numpy(), atol=1e-6)
    np.testing.assert_array_equal(npz["index"], [0, 1, 2])
    np.testing.assert_array_equal(npz["labels"], labels[:3].numpy())

    overrides = ["tool=sample_around", "points=4", "scale=0.3", "n=5", "seed=7"]
    latent(latent_config(tmp_path, toy_checkpoint, *overrides, "batch_size=2"))
    in_twos = dict(np.load(out / "sample_around.npz"))
    latent(latent_config(tmp_path, toy_checkpoint, *overrides))  # one batch: the model's one call
    npz = np.load(out / "sample_around.npz")
    decoded, z = model.sample_around(x[:4], 0.3, 5, seed=7, return_z=True)
    np.testing.assert_allclose(npz["z"], z.numpy(), atol=1e-6)
    np.testing.assert_allclose(npz["x"], decoded.numpy(), atol=1e-6)
    assert in_twos["x"].shape == (4, 5, 2) and not np.array_equal(in_twos["z"], npz["z"])

    metrics = latent(
        latent_config(tmp_path, toy_checkpoint, "tool=consistency", "points=null", "batch_size=1000")
    )
    npz = np.load(out / "consistency.npz")
    distance, z, z_prime = model.consistency(x, seed=0, return_z=True)
    assert npz["distance"].shape == (150,) and metrics["latent/points"] == 150
    np.testing.assert_allclose(npz["distance"], distance.numpy(), atol=1e-5)
    np.testing.assert_allclose(npz["z_prime"], z_prime.numpy(), atol=1e-6)
    assert metrics["latent/consistency_mean"] == pytest.approx(float(distance.mean()), abs=1e-5)


def test_latent_pictures_of_a_convhvae(train_config, tmp_path, mnist_files):
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
    ckpt = tmp_path / "convhvae.ckpt"  # untrained weights: the files are what is checked
    hyper = AutoencoderModule.from_run_config(plain).hparams  # the run config in the hyperparameters
    torch.save({"hyper_parameters": dict(hyper), "state_dict": module.state_dict()}, ckpt)
    side = 28 + 1  # pixels and padding
    cases = [
        (["tool=interpolate", "points=4", "steps=3"], (2, 3, 1, 28, 28), (5, 2)),
        (["tool=traverse", "points=2", "dims=[0,79]", "values=[1.0]"], (2, 2, 1, 1, 28, 28), (2, 4)),
        (["tool=sample_around", "points=2", "n=3", "mean=false"], (2, 3, 1, 28, 28), (4, 2)),
    ]
    for overrides, shape, (columns, rows) in cases:
        tool = overrides[0].removeprefix("tool=")
        latent(latent_config(tmp_path, ckpt, *overrides, "split=val"))
        npz = np.load(tmp_path / "latent" / f"{tool}.npz")
        assert npz["x"].shape == shape and npz["z"].shape[-1] == 80  # z = [z1, z2], 40 + 40
        with Image.open(tmp_path / "latent" / f"{tool}.png") as png:
            assert png.size == (1 + columns * side, 1 + rows * side)
    assert set(np.unique(npz["x"])) <= {0.0, 1.0}  # mean=false: binary draws


def test_bad_latent_inputs_are_one_line_errors(toy_checkpoint, tmp_path):  # noqa: F811
    cases = [
        (
            ["tool=embed"],
            "tool must be 'interpolate', 'traverse', 'sample_around' or 'consistency', got 'embed'",
        ),
        (["points=3"], "tool=interpolate takes pairs of points, got 3 (points or indices)"),
        (["indices=[0,150]"], "indices [150] lie outside the 150 points of the test split"),
        (["tool=traverse", "points=151"], "points=151 but the test split has 150 points"),
        (["steps=1"], "steps"),
        (["path=arc"], "path must be 'linear' or 'slerp', got 'arc'"),
        (["tool=traverse", "values=[]"], "values must name at least one value for tool=traverse"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match="^[^\n]*$") as error:
            latent(latent_config(tmp_path, toy_checkpoint, *overrides))
        assert message in str(error.value)
    with pytest.raises(ValueError, match=r"dims must lie in 0\.\.1 \(the latent has 2\), got \[2\]"):
        latent(latent_config(tmp_path, toy_checkpoint, "tool=traverse", "dims=[2]"))
