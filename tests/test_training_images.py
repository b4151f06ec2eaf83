"""The image models through the real pipeline (composed config -> train -> metrics.json, PNGs)
on small synthetic data written in the real file formats (IDX .gz, Omniglot PNG zips)."""

import json

import pytest
import torch
from test_data_mnist import make_arrays
from test_data_omniglot import DRAWINGS, LAYOUT

from mimkit.app.run import train
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import load_checkpoint, load_module

MODELS = ["convhvae", "pixelhvae"]
PRIORS = ["standard", "vamp", "mog"]
OBJECTIVES = ["vae", "amim", "mim"]
DATA = {
    "mnist": ["data.n_train=80", "data.n_val=16", "data.n_test=16"],
    "fmnist": ["data.n_train=80", "data.n_val=16", "data.n_test=16"],
    "omniglot": ["data.n_train=30", "data.n_val=12", "data.n_test=14", "data.test_per_character=2"],
}
# one batch of everything, few samples, few pictures
SMALL = [
    "debug=fast_dev_run",
    "data.batch_size=4",
    "data.eval_batch_size=8",
    "callbacks.representation_metrics.nll_samples=4",
    "callbacks.representation_metrics.mi_pairs=12",
    "callbacks.representation_metrics.knn_train=16",
    "callbacks.representation_metrics.consistency_pairs=2",
    "callbacks.representation_metrics.consistency_samples=2",
    "callbacks.image_grids.n_samples=2",
    "callbacks.image_grids.n_reconstructions=2",
]


@pytest.fixture
def image_source(tmp_path, mnist_files, omniglot_zips):
    folder = mnist_files("MNIST", make_arrays(0))
    mnist_files("FashionMNIST", make_arrays(1), folder)
    omniglot_zips(LAYOUT, DRAWINGS, folder)
    return folder


def image_config(train_config, tmp_path, source, *overrides, data="mnist", extra=()):
    return train_config(
        f"data={data}",
        f"data.source_dir={source}",
        f"paths.data_dir={tmp_path / 'data'}",
        *DATA[data],
        *overrides,
        *extra,
        fast=False,
        output_dir=tmp_path / "run",
    )


def check_run(metrics, run_dir):
    for name in ("val/loss", "test/loss", "test/nll", "test/knn5", "test/mi"):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    assert json.loads((run_dir / "metrics.json").read_text())["test/loss"] == pytest.approx(
        metrics["test/loss"]
    )
    for picture in ("samples.png", "reconstructions.png", "interpolations.png", "samples_around.png"):
        assert (run_dir / picture).stat().st_size > 0, picture


def combinations(slow_also: bool):
    for model in MODELS:
        for prior in PRIORS:
            for objective in OBJECTIVES:
                fast = prior == "vamp" or objective == "mim" and prior == "standard"
                heavy = model == "pixelhvae" and objective == "mim" and prior != "vamp"
                if fast and not heavy:
                    yield pytest.param(model, prior, objective, "mnist")
                elif slow_also:
                    yield pytest.param(model, prior, objective, "mnist", marks=pytest.mark.slow)
    for data in ("fmnist", "omniglot"):
        for model in MODELS:
            for prior in PRIORS:
                for objective in OBJECTIVES:
                    keep = model == "convhvae" and prior == "vamp" and objective == "mim"
                    yield pytest.param(model, prior, objective, data, marks=() if keep else pytest.mark.slow)


@pytest.mark.parametrize("model, prior, objective, data", list(combinations(slow_also=True)))
def test_every_image_combination_runs_end_to_end(
    train_config, tmp_path, image_source, model, prior, objective, data
):
    cfg = image_config(
        train_config,
        tmp_path,
        image_source,
        f"model={model}",
        f"prior={prior}",
        f"objective={objective}",
        *SMALL,
        data=data,
        extra=["prior.pseudo_inputs=6"] if prior == "vamp" else [],
    )
    assert cfg.objective.get("x_per_z") == (None if objective == "vae" else 2)
    assert cfg.model.decoder_z == "anchor" and cfg.optim.grad_norm == "per_tensor"
    metrics = train(cfg)
    check_run(metrics, tmp_path / "run")
    if objective == "mim":
        assert "test/decoder_pair_loss" in metrics  # the symmetric pairs ran


@pytest.mark.parametrize("model", MODELS)
def test_image_checkpoints_load_safely_and_rebuild_the_model(train_config, tmp_path, image_source, model):
    cfg = image_config(
        train_config,
        tmp_path,
        image_source,
        f"model={model}",
        "prior=vamp",
        "objective=amim",
        "prior.pseudo_inputs=6",
        "prior.init=data",
        "trainer.max_epochs=1",
        "warmup=0",
        "data.batch_size=40",
        "callbacks.representation_metrics=null",
        "callbacks.image_grids=null",
    )
    trained = train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert "state_dict" in load_checkpoint(str(ckpt))  # torch.load(weights_only=True)
    module = load_module(str(ckpt))
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3))
    torch.manual_seed(0)
    embedded = module.model.embed(x)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(value, module.state_dict()[key]) for key, value in state.items())
    assert embedded.shape == (3, 80)
    # the pseudo-inputs were initialised from (binarised) training images, then trained
    u = module.model.prior.top.pseudo_inputs()
    assert u.shape == (6, 1, 28, 28) and u.min() >= 0 and u.max() <= 1
    assert torch.isfinite(torch.tensor(trained["test/loss"]))


def test_a_toy_model_on_images_is_refused_before_any_work(train_config, tmp_path, image_source):
    cfg = image_config(train_config, tmp_path, image_source, "model=mlp")
    with pytest.raises(
        ConfigError, match=r"takes flat vectors of shape \[784\] but the data give \[1, 28, 28\]"
    ):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_bf16_mixed_precision_trains_with_fp32_densities(train_config, tmp_path, image_source):
    """`trainer.precision=bf16-mixed`: the networks run in bf16 (faster on devices with bf16
    units, slower where it is emulated: allowed here, so that the test runs on any CPU), every
    log-density and the loss stay fp32."""
    cfg = image_config(
        train_config,
        tmp_path,
        image_source,
        "model=convhvae",
        "prior=vamp",
        "objective=mim",
        "trainer.precision=bf16-mixed",
        "allow_emulated_bf16=true",
        *SMALL,
        extra=["prior.pseudo_inputs=6"],
    )
    metrics = train(cfg)
    check_run(metrics, tmp_path / "run")
    module = load_module(str(tmp_path / "run" / "checkpoints" / "last.ckpt"))
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = module.model.decoder(module.model.encoder(x).rsample())
        out = module.objective(module.model, x, 1.0)
    assert hidden.logits.dtype == torch.float32
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
