"""The optimiser is a config node (conf/optim/, `optim.optimizer`): Adam by default, any torch.optim
class selectable; the learning rate and its schedule stay `optim.lr` / `optim.schedule`."""

from __future__ import annotations

import io

import pytest
import torch

from mimkit.app.config import to_plain
from mimkit.training.module import AutoencoderModule


def optimizer_of(cfg) -> tuple[torch.optim.Optimizer, object]:
    plain = to_plain(cfg)
    module = AutoencoderModule(plain["model"], plain["prior"], plain["objective"], plain["optim"])
    configured = module.configure_optimizers()
    if isinstance(configured, dict):
        return configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    return configured, None


def test_adam_is_the_default_with_the_configured_lr_and_schedule(train_config):
    cfg = train_config()
    assert to_plain(cfg.optim.optimizer) == {"_target_": "torch.optim.Adam", "_partial_": True}
    optimizer, schedule = optimizer_of(cfg)
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["betas"] == (0.9, 0.999)
    # the Noam warm-up over W = 3 epochs: min(e / W, sqrt(W / e)) = 1/3 in the first epoch (e = 1)
    assert isinstance(schedule, torch.optim.lr_scheduler.LambdaLR)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 3)


@pytest.mark.parametrize(
    "overrides, cls, settings",
    [
        (["optim=sgd"], torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
        (["optim=adamw"], torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.01}),
        (
            ["optim.optimizer._target_=torch.optim.RMSprop", "+optim.optimizer.alpha=0.9"],
            torch.optim.RMSprop,
            {"lr": 0.01, "alpha": 0.9},
        ),
    ],
)
def test_another_optimizer_is_selected_by_config(train_config, overrides, cls, settings):
    optimizer, schedule = optimizer_of(train_config(*overrides, "optim.lr=0.01", "optim.schedule=constant"))
    assert type(optimizer) is cls and schedule is None
    assert {key: optimizer.defaults[key] for key in settings} == settings


def test_one_sgd_step_follows_the_update_rule(train_config):
    """Plain SGD (no momentum): θ' = θ - lr ∇θ, checked on every parameter after one step."""
    cfg = train_config(
        "optim=sgd",
        "optim.optimizer.momentum=0",
        "optim.optimizer.nesterov=false",
        "optim.lr=0.5",
        "optim.schedule=constant",
    )
    plain = to_plain(cfg)
    module = AutoencoderModule(plain["model"], plain["prior"], plain["objective"], plain["optim"])
    optimizer = module.configure_optimizers()
    before = [p.detach().clone() for p in module.parameters()]
    loss = sum((p**2).sum() for p in module.parameters())  # ∇θ = 2θ
    loss.backward()
    optimizer.step()
    for old, new in zip(before, module.parameters()):
        torch.testing.assert_close(new.detach(), old - 0.5 * 2 * old)


def test_the_optimizer_node_stays_a_plain_hyperparameter(train_config):
    """Checkpoints load with torch's weights_only loader: the node is strings and numbers."""
    plain = to_plain(train_config("optim=adamw"))
    module = AutoencoderModule(plain["model"], plain["prior"], plain["objective"], plain["optim"])
    buffer = io.BytesIO()
    torch.save({"hyper_parameters": dict(module.hparams)}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["hyper_parameters"]["optim"]["optimizer"]
    assert loaded == {"_target_": "torch.optim.AdamW", "_partial_": True, "weight_decay": 0.01}


def test_a_module_without_an_optimizer_node_uses_adam():
    """Checkpoints written before the optimiser was configurable hold no `optim.optimizer`."""
    model = {
        "latent_dim": 2,
        "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 4},
        "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": 2, "hidden": 4},
    }
    module = AutoencoderModule(
        model,
        {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"},
        {"_target_": "mimkit.model.objectives.mim.MIM"},
        {"lr": 2e-3, "schedule": "constant"},
    )
    optimizer = module.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 2e-3
