"""Every shipped config composes, and the sweeps sweep what the paper swept."""

import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra


def compose_train(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize(
    "experiment, params",
    [
        (
            "fig3_gmm2d",
            {"objective": "mim,vae", "model.hidden": "5,20,50,100,200,300,400,500", "seed": "1,2,3"},
        ),
        ("fig4_gmm20d", {"objective": "mim,vae", "model.latent_dim": "2,4,8,12,16,20", "seed": "1,2,3"}),
        ("fig5_pca_fmnist", {"objective": "mim,vae", "model.latent_dim": "2,5,10,20", "seed": "1,2,3"}),
    ],
)
def test_experiments_sweep_the_papers_axes(experiment, params):
    cfg = compose_train(f"experiment={experiment}")
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert dict(cfg.hydra.sweeper.params) == params
    assert cfg.task_name == experiment and cfg.threads == 1


def test_hparams_search_grid_composes():
    cfg = compose_train("hparams_search=lr_grid")
    assert cfg.optimized_metric == "val/loss"
    assert dict(cfg.hydra.sweeper.params) == {"optim.lr": "3e-4,1e-3,3e-3", "seed": "1,2"}


@pytest.mark.parametrize(
    "group, options",
    [
        ("objective", ["mim", "amim", "vae"]),
        ("prior", ["standard", "vamp", "mog"]),
        ("model", ["mlp", "mlp_bernoulli"]),
        ("data", ["gmm2d", "gmm20d", "pca_fmnist"]),
        ("logger", ["csv", "wandb", "tensorboard", "many", "none"]),
        ("trainer", ["default", "cpu", "gpu"]),
        ("debug", ["fast_dev_run", "overfit", "default", "cpu_subset", "grid_smoke"]),
        ("callbacks", ["default", "evaluation", "none"]),
    ],
)
def test_every_group_option_composes(group, options):
    for option in options:
        compose_train(f"{group}={option}")


@pytest.mark.parametrize(
    "experiment, model, objectives",
    [("table1_convhvae", "convhvae", "vae,mim"), ("table1_pixelhvae", "pixelhvae", "vae,amim")],
)
def test_table1_grids_sweep_the_papers_cells_at_the_image_protocol(experiment, model, objectives):
    cfg = compose_train(f"experiment={experiment}")
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN" and cfg.task_name == "table1"
    assert dict(cfg.hydra.sweeper.params) == {
        "data": "mnist,fmnist,omniglot",
        "prior": "standard,vamp",
        "seed": "range(1,11)",
        "objective": objectives,
    }
    assert cfg.hydra.runtime.choices.model == model
    # the references' budget (docs/maths.md §6) and the full test protocol (docs/maths.md §3)
    assert (cfg.trainer.max_epochs, cfg.warmup, cfg.patience) == (2000, 100, 50)
    metrics = cfg.callbacks.representation_metrics
    assert (metrics.nll_samples, metrics.nll_points, metrics.mi_pairs) == (5000, None, 3000)
    small = compose_train(f"experiment={experiment}", "debug=grid_smoke")
    assert (
        small.data.n_train,
        small.trainer.max_epochs,
        small.callbacks.representation_metrics.nll_points,
    ) == (300, 2, 50)


def test_cpu_comparison_experiment():
    cfg = compose_train("experiment=cpu_mnist_comparison")
    assert dict(cfg.hydra.sweeper.params) == {"objective": "vae,amim,mim", "seed": "1,2"}
    assert (cfg.hydra.runtime.choices.model, cfg.hydra.runtime.choices.prior) == ("convhvae", "vamp")
    assert cfg.model.decoder_z == "anchor" and cfg.model.x_per_z == 2
