"""The real pipeline (composed config -> train -> metrics.json) on small GMM data."""

import csv
import json
import math

import lightning as L
import pytest
import torch

from mimkit.app.run import train
from mimkit.training.checkpoint_io import load_module

OBJECTIVES = ["mim", "amim", "vae"]
PRIORS = ["standard", "vamp", "mog"]


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("data", ["gmm2d", "gmm20d"])
def test_fast_dev_run_every_toy_combination_is_quick(train_config, tmp_path, objective, prior, data):
    # the real data sizes and priors (10,000 test points, 500 pseudo-inputs): one batch of
    # everything, the test metrics included, takes seconds (it took minutes with a VampPrior)
    cfg = train_config(
        f"objective={objective}",
        f"prior={prior}",
        f"data={data}",
        "debug=fast_dev_run",
        "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null",
        fast=False,
    )
    metrics = train(cfg)
    for name in (
        "val/loss",
        "test/loss",
        "test/recon",
        "test/mi",
        "test/nll",
        "test/nll_1s",
        "test/knn5",
        "test/consistency",
    ):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    assert json.loads((tmp_path / "metrics.json").read_text())["test/loss"] == pytest.approx(
        metrics["test/loss"]
    )
    assert metrics["time/total_s"] < 20


def _val_losses(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(row["val/loss"]) for row in csv.DictReader(f) if row.get("val/loss")]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_lowers_its_loss_on_the_gmm(train_config, tmp_path, objective):
    cfg = train_config(
        f"objective={objective}", "trainer.max_epochs=6", "data.n_train=4096", "callbacks.early_stopping=null"
    )
    train(cfg)
    losses = _val_losses(tmp_path)[:6]  # per-epoch rows; the final evaluation's row follows
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 0.5, losses


def test_same_seed_same_metrics(train_config, tmp_path):
    first = train(train_config("trainer.max_epochs=2"))
    second = train(train_config("trainer.max_epochs=2"))
    drop = lambda m: {k: v for k, v in m.items() if not k.startswith("time/")}
    assert drop(first) == drop(second)
    other = train(train_config("trainer.max_epochs=2", "seed=2"))
    assert drop(other) != drop(first)


def test_checkpoints_are_plain_and_reload_per_prior(train_config, tmp_path):
    for prior in PRIORS:
        run = tmp_path / prior
        cfg = train_config(
            f"prior={prior}",
            "prior.pseudo_inputs=20" if prior == "vamp" else "seed=1",
            "trainer.max_epochs=1",
            output_dir=run,
        )
        train(cfg)
        ckpt = run / "checkpoints" / "last.ckpt"
        checkpoint = torch.load(ckpt, weights_only=True)  # plain values only
        hyper = checkpoint["hyper_parameters"]  # the run config, stored once
        assert (
            hyper["prior"]["_target_"].startswith(f"mimkit.model.priors.{prior}.")
            and "run_config" not in checkpoint
        )
        assert (
            hyper["run"]["data"]["_target_"] == "mimkit.data.gmm.GMMDataModule"
            and "prior" not in hyper["run"]
        )
        model = load_module(str(ckpt)).model
        state = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
        assert set(state) == {f"model.{name}" for name in model.state_dict()}
        for name, value in model.state_dict().items():
            assert torch.equal(value, state[f"model.{name}"]), name


@pytest.mark.parametrize("prior", PRIORS)
def test_save_load_round_trip_keeps_the_trained_model(prior, tmp_path):
    from mimkit.data.gmm import GMMDataModule
    from mimkit.training.module import AutoencoderModule

    model_cfg = {
        "latent_dim": 2,
        "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 8},
        "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 8},
    }
    classes = {"standard": "StandardNormalPrior", "vamp": "VampPrior", "mog": "MixtureOfGaussiansPrior"}
    prior_cfg = {"_target_": f"mimkit.model.priors.{prior}.{classes[prior]}"}
    if prior == "vamp":
        prior_cfg["pseudo_inputs"] = 7
    module = AutoencoderModule(
        model_cfg,
        prior_cfg,
        {"_target_": "mimkit.model.objectives.mim.MIM"},
        {"lr": 1e-2, "schedule": "constant", "warmup": 0},
    )
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=GMMDataModule(n_train=512, n_val=64, n_test=64))
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    trained, loaded = module.model.eval(), load_module(str(tmp_path / "model.ckpt")).model
    x = torch.randn(32, 2)
    assert torch.equal(trained.embed(x), loaded.embed(x))
    torch.manual_seed(0)
    expected = (trained.nll(x, samples=20), trained.sample(5), trained.prior.log_prob(x))
    torch.manual_seed(0)
    got = (loaded.nll(x, samples=20), loaded.sample(5), loaded.prior.log_prob(x))
    for a, b in zip(expected, got):
        assert torch.equal(a, b)


def binary_gmm_entropy() -> float:
    """H(x) in nats of the 2-D GMM (means, std 0.25) thresholded at 0, from the normal CDF."""
    from mimkit.data.gmm import gmm_means

    cells = [0.0] * 4
    for mean in gmm_means(2).tolist():
        p = [0.5 * (1 + math.erf(m / (0.25 * math.sqrt(2)))) for m in mean]  # P(x_d > 0)
        for bits in range(4):
            b0, b1 = bits & 1, bits >> 1
            cells[bits] += (p[0] if b0 else 1 - p[0]) * (p[1] if b1 else 1 - p[1]) / len(gmm_means(2))
    return -sum(c * math.log(c) for c in cells)


def test_bernoulli_decoder_trains_with_reinforce(train_config, tmp_path):
    # binary data (the 2-D GMM thresholded at 0); MIM, so decoder pairs take the REINFORCE path
    cfg = train_config(
        "model=mlp_bernoulli",
        "data.binary=true",
        "data.n_train=2048",
        "trainer.max_epochs=3",
        "warmup=1",
        "optim.lr=1e-2",
        "optim.schedule=constant",
        "callbacks.fig2_plot=null",
        "callbacks.representation_metrics.nll_samples=100",
        "callbacks.representation_metrics.consistency_pairs=256",
    )
    metrics = train(cfg)
    # binary x: log p(x|z) ≤ 0, and the decoder reconstructs the bits far better than a coin
    # flip (2 log ½ = -1.39); -log q(x) cannot beat the data's entropy (up to test-set noise)
    assert -0.7 < metrics["test/log_px_z"] < 0
    assert binary_gmm_entropy() == pytest.approx(1.351, abs=1e-3)
    assert metrics["test/nll"] > binary_gmm_entropy() - 0.05


def test_bernoulli_decoder_rejects_real_valued_data(train_config):
    with pytest.raises(
        ValueError, match=r"^the data \(GMMDataModule, training set\) holds values other than 0 and 1"
    ):
        train(train_config("model=mlp_bernoulli", "trainer.max_epochs=1"))


def test_noam_schedule_is_applied_per_epoch(train_config, tmp_path):
    train(train_config("trainer.max_epochs=4", "callbacks.early_stopping=null"))
    with open(tmp_path / "csv" / "metrics.csv") as f:
        lrs = [float(r["lr-Adam"]) for r in csv.DictReader(f) if r.get("lr-Adam")]
    assert lrs == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3, 1e-3 * (3 / 4) ** 0.5])


def test_non_finite_loss_stops_the_run_and_keeps_earlier_checkpoints(train_config, tmp_path, monkeypatch):
    from mimkit.model.objectives.mim import MIM
    from mimkit.training.nonfinite import NonFiniteLossError

    calls = {"n": 0}
    real_call = MIM.__call__

    def diverging(self, model, x, beta):
        out = real_call(self, model, x, beta)
        if model.training:
            calls["n"] += 1
            if calls["n"] > 8:  # the whole first epoch (8 batches) is fine, then NaN
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(MIM, "__call__", diverging)
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 8"):  # warmup=0: epoch 1 is a candidate
        train(train_config("trainer.max_epochs=3", "warmup=0"))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0


def test_wandb_logger_runs_offline_without_an_account(train_config, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    for seed in (1, 2):  # two runs in one process (as in a multirun) get two W&B runs
        train(train_config("logger=wandb", "trainer.max_epochs=1", f"seed={seed}"))
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    assert all(list(run.glob("*.wandb")) for run in runs)


def test_csv_and_tensorboard_loggers_together(train_config, tmp_path):
    train(train_config("logger=many", "trainer.max_epochs=1"))
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_resume_continues_from_a_checkpoint(train_config, tmp_path):
    first = tmp_path / "first"
    train(train_config("trainer.max_epochs=2", "callbacks.early_stopping=null", output_dir=first))
    resumed = train(
        train_config(
            "trainer.max_epochs=3",
            "callbacks.early_stopping=null",
            f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
            output_dir=tmp_path / "second",
        )
    )
    assert resumed["train/epochs"] == 3
    with open(tmp_path / "second" / "csv" / "metrics.csv") as f:
        epochs = {int(row["epoch"]) for row in csv.DictReader(f) if row.get("train/loss")}
    assert epochs == {2}  # only the third epoch was trained again


def test_evaluate_a_checkpoint_on_other_data_settings(train_config, tmp_path, monkeypatch):
    from conftest import compose_config

    from mimkit.app.run import evaluate
    from mimkit.data.gmm import GMMDataModule

    train(train_config("trainer.max_epochs=1", output_dir=tmp_path / "run"))
    built = []
    real_init = GMMDataModule.__init__
    monkeypatch.setattr(
        GMMDataModule, "__init__", lambda self, **kw: built.append(kw) or real_init(self, **kw)
    )
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        "eval",
        [
            f"ckpt_path={ckpt}",
            "+data_overrides.n_test=256",
            "+data_overrides.n_val=128",
            "callbacks.progress_bar=null",
            "trainer.enable_progress_bar=false",
        ],
        tmp_path / "eval",
    )
    metrics = evaluate(cfg)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["test/loss"] == pytest.approx(
        metrics["test/loss"]
    )
    assert "test/mi" in metrics and "val/loss" in metrics
    assert built[-1]["n_test"] == 256 and built[-1]["n_val"] == 128  # the run's other settings kept
    assert built[-1]["n_train"] == 1024 and built[-1]["seed"] == 1


def test_each_epoch_logs_one_progress_line(train_config, caplog):
    with caplog.at_level("INFO", logger="mimkit.training.module"):
        train(train_config("trainer.max_epochs=2", "warmup=2"))
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "mimkit.training.module" and r.getMessage().startswith("epoch")
    ]
    assert [line.split("  ")[:2] for line in lines] == [["epoch 1/2", "β=0.5"], ["epoch 2/2", "β=1"]]
    assert all("val/loss=" in line and "training items/s" in line for line in lines)


@pytest.mark.parametrize("when, stages", [(True, {"val", "test"}), ("test", {"test"}), (False, set())])
def test_eval_recon_chooses_the_stages_with_reconstruction_errors(when, stages):
    from mimkit.data.gmm import GMMDataModule
    from mimkit.training.module import AutoencoderModule

    torch.manual_seed(0)
    model = {
        "latent_dim": 2,
        "eval_recon": when,
        "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 4},
        "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 4},
    }
    module = AutoencoderModule(
        model,
        {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"},
        {"_target_": "mimkit.model.objectives.vae.VAE"},
        {"lr": 1e-3, "schedule": "constant", "warmup": 0},
    )
    data = GMMDataModule(n_train=256, n_val=256, n_test=256)
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    logged = {
        **trainer.validate(module, datamodule=data, verbose=False)[0],
        **trainer.test(module, datamodule=data, verbose=False)[0],
    }
    assert {stage for stage in ("val", "test") if f"{stage}/recon" in logged} == stages
    assert {stage for stage in ("val", "test") if f"{stage}/recon_mean" in logged} == stages
