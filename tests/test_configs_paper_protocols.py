"""The paper-protocol sweeps of Figs. 4–5 (conf/experiment/fig*_paper, _raw, _separate): what they
sweep, how many jobs that makes (as their comments say), and that they resume."""

import re

import pytest
from conftest import CONF
from hydra.core.override_parser.overrides_parser import OverridesParser
from test_configs import compose_train

PAPER_LATENTS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]


def swept_values(params) -> dict[str, list]:
    """Each swept key's values, expanded by Hydra's own override grammar (range(...) included)."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return {o.get_key_element(): list(o.sweep_iterator()) for o in parsed}


@pytest.mark.parametrize(
    "experiment, seeds, data",
    [
        (
            "fig4_gmm20d_paper",
            list(range(1, 11)),
            {"_target_": "mimkit.data.gmm.GMMDataModule", "x_dim": 20, "standardize": True},
        ),
        (
            "fig4_gmm20d_raw",
            list(range(1, 11)),
            {"_target_": "mimkit.data.gmm.GMMDataModule", "x_dim": 20, "standardize": False},
        ),
        (
            "fig5_pca_fmnist_paper",
            list(range(1, 11)),
            {"_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule", "x_dim": 20, "pca_fit": "train"},
        ),
        (
            "fig5_pca_fmnist_separate",
            [1, 2, 3],
            {
                "_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule",
                "x_dim": 20,
                "pca_fit": "separate",
            },
        ),
        (
            "fig5_pca_fmnist_reference",
            [1, 2, 3],
            {
                "_target_": "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule",
                "x_dim": 20,
                "pca_fit": "separate",
                "augment": True,
                "select_on": "test",
            },
        ),
    ],
)
def test_paper_protocol_sweeps(experiment, seeds, data):
    cfg = compose_train(f"experiment={experiment}")
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN" and cfg.task_name == experiment
    assert swept_values(cfg.hydra.sweeper.params) == {
        "objective": ["mim", "vae"],
        "model.latent_dim": PAPER_LATENTS,
        "seed": seeds,
    }
    assert {key: cfg.data[key] for key in data} == data
    # the toy protocol of fig4_gmm20d / fig5_pca_fmnist: H = 50, 200 epochs, joblib, 1 thread
    assert (cfg.model.hidden, cfg.trainer.max_epochs, cfg.threads) == (50, 200, 1)
    assert cfg.hydra.runtime.choices["hydra/launcher"] == "joblib"
    # resumable: a fixed sweep dir per experiment, finished jobs skipped on a re-run
    assert cfg.skip_finished is True
    assert cfg.hydra.sweep._get_node("dir")._value() == "${paths.log_dir}/${task_name}/multiruns/resumable"
    # the job count in the config's comment is the sweep's
    jobs = 2 * len(PAPER_LATENTS) * len(seeds)
    comment = (CONF / "experiment" / f"{experiment}.yaml").read_text()
    assert re.search(rf"experiment={experiment} +\(10 x 2 x {len(seeds)} = {jobs} jobs\)", comment)


def test_the_existing_figure_sweeps_keep_their_defaults():
    for experiment in ("fig4_gmm20d", "fig5_pca_fmnist"):
        cfg = compose_train(f"experiment={experiment}")
        assert cfg.skip_finished is False
        assert cfg.hydra.sweep._get_node("dir")._value().endswith("${now:%Y-%m-%d_%H-%M-%S}")
    assert compose_train("experiment=fig5_pca_fmnist").data.pca_fit == "train"
    paper = compose_train("experiment=fig5_pca_fmnist_paper").data
    assert (paper.augment, paper.select_on) == (False, "val")
