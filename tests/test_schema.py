"""The config schema (mimkit.app.schema): every shipped config passes it, and a bad value ends the run
at start-up with one line naming the key and what it allows, before anything is written."""

from __future__ import annotations

import pytest
from conftest import CONF, compose_config, run_cli

from mimkit.app.cli import run_task
from mimkit.app.config import to_plain
from mimkit.app.run import train
from mimkit.app.schema import validate as check
from mimkit.errors import ConfigError

GMM_KEYS = (
    "batch_size, binary, data_seed, eval_batch_size, n_test, n_train, n_val, seed, separation, "
    "standardize, std, x_dim"
)


def validate(name: str, overrides: list[str], tmp_path) -> None:
    cfg = compose_config(name, overrides, tmp_path / "run")
    check(to_plain(cfg), name)


GROUPS = [
    "objective",
    "prior",
    "model",
    "data",
    "logger",
    "trainer",
    "debug",
    "callbacks",
    "experiment",
    "hparams_search",
    "hydra/launcher",
    "optim",
]
# every option of every group in conf/ (a new config file is checked without a change here)
# token data (data=smiles|text) are read by model=seq_gru only
TOKEN_MODEL = {"data=smiles": ["model=seq_gru"], "data=text": ["model=seq_gru"]}
SHIPPED = [
    [option, *TOKEN_MODEL.get(option, [])]
    for option in (
        f"{group}={path.stem}" for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))
    )
] + [
    ["model=convhvae", "data=omniglot", "prior=vamp", "objective=amim", "debug=cpu_subset"],
    ["model=pixelhvae", "data=fmnist", "prior=mog", "objective=vae", "logger=many"],
    ["experiment=table1_pixelhvae", "debug=grid_smoke", "data=omniglot"],
    ["model=mlp_bernoulli", "data._target_=helpers.OwnGMMDataModule", "data.binary=true"],  # a subclass
    # additions that the classes take
    [
        "+trainer.gradient_clip_val=1.0",
        "+callbacks.representation_metrics.nll_points=5",
        "+model.x_per_z=2",
        "trainer.precision=16",
        "+trainer.limit_val_batches=0.5",
        "callbacks.representation_metrics.nll_precision=bf16",
        "logger=wandb",
        "+logger.wandb.entity=team",
    ],
    ["resume=/runs/a", "model=pixelhvae", "model.eval_recon=true"],
]


@pytest.mark.parametrize("overrides", SHIPPED, ids=" ".join)
def test_every_shipped_config_passes(tmp_path, overrides):
    validate("train", overrides, tmp_path)


def test_embed_config_passes_and_is_checked(tmp_path):
    validate(
        "embed",
        ["ckpt_path=/some/run/last.ckpt", "data=omniglot", "split=val", "+data_overrides.n_test=100"],
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"^device must be 'cpu', 'cuda' or 'auto', got 'gpu'$"):
        validate("embed", ["ckpt_path=x.ckpt", "device=gpu"], tmp_path)
    with pytest.raises(ConfigError, match=r"^data: unknown key 'n_trian' .*did you mean 'n_train'\?$"):
        validate("embed", ["ckpt_path=x.ckpt", "data=mnist", "+data.n_trian=3"], tmp_path)


def test_latent_config_passes_and_is_checked(tmp_path):
    validate(
        "latent",
        ["ckpt_path=/some/run/last.ckpt", "tool=traverse", "dims=[0,3]", "values=[-1,1.5]", "data=mnist"],
        tmp_path,
    )
    validate("latent", ["ckpt_path=x.ckpt", "tool=consistency", "points=null", "indices=[4,2]"], tmp_path)
    with pytest.raises(ConfigError, match=r"^path must be 'linear' or 'slerp', got 'arc'$"):
        validate("latent", ["ckpt_path=x.ckpt", "path=arc"], tmp_path)
    with pytest.raises(ConfigError, match=r"^steps must be .*2.*, got 1$"):
        validate("latent", ["ckpt_path=x.ckpt", "steps=1"], tmp_path)
    with pytest.raises(ConfigError, match=r"^scale must be .*, got -0\.5$"):
        validate("latent", ["ckpt_path=x.ckpt", "scale=-0.5"], tmp_path)
    with pytest.raises(ConfigError, match=r"^unknown top-level key 'stpes' .*did you mean 'steps'\?$"):
        validate("latent", ["ckpt_path=x.ckpt", "+stpes=3"], tmp_path)


def test_eval_config_passes_and_is_checked(tmp_path):
    validate("eval", ["ckpt_path=/some/run/last.ckpt", "+data_overrides.n_test=2000"], tmp_path)
    with pytest.raises(
        ConfigError,
        match=r"^unknown top-level key 'seed' \(known: allow_emulated_bf16, callbacks, "
        r"ckpt_path, data_overrides, float32_precision, logger, paths, task_name, "
        r"trainer\)$",
    ):
        validate("eval", ["ckpt_path=x.ckpt", "+seed=3"], tmp_path)


TRAINER_KEYS = "accelerator, accumulate_grad_batches, barebones, benchmark, check_val_every_n_epoch"
PRECISIONS = (
    "64, 32 or 16 or 'transformer-engine', 'transformer-engine-float16', '16-true', '16-mixed', "
    "'bf16-true', 'bf16-mixed', '32-true' or '64-true' or '64', '32', '16' or 'bf16'"
)

# (overrides, the whole error line or the start of it when it ends in '...')
BAD = [
    # top level, optim
    (
        ["+foo=1"],
        "unknown top-level key 'foo' (known: allow_emulated_bf16, callbacks, ckpt_path, data, "
        "float32_precision, logger, model, "
        "objective, optim, optimized_metric, paths, patience, prior, resume, seed, skip_finished, tags, "
        "task_name, "
        "threads, trainer, warmup)",
    ),
    (["seed=-1"], "seed must be greater than or equal to 0, got -1"),
    (["threads=0"], "threads must be greater than 0, got 0"),
    (["warmup=abc"], "warmup must be a valid integer, got 'abc'"),
    (["tags=3"], "tags must be a valid list, got 3"),
    (["optim.lr=-1"], "optim.lr must be greater than 0, got -1"),
    (["optim.lr=nan"], "optim.lr must be a finite number, got nan"),
    (["optim.schedule=cosine"], "optim.schedule must be 'noam' or 'constant', got 'cosine'"),
    (
        ["+optim.momentum=0.9"],
        "optim: unknown key 'momentum' (known: grad_norm, lr, optimizer, schedule, warmup)",
    ),
    (["+optim.optimizer.lr=0.1"], "optim.optimizer: unknown key 'lr' (known: amsgrad, betas, ..."),
    (["optim.optimizer._target_=torch.optim.Adamm"], "optim.optimizer._target_ 'torch.optim.Adamm' is ..."),
    # data: the toys and the images
    (["+data.n_trian=5"], f"data: unknown key 'n_trian' (known: {GMM_KEYS}); did you mean 'n_train'?"),
    (
        ["data._target_=helpers.OwnGMMDataModule", "+data.n_trian=5"],
        f"data: unknown key 'n_trian' (known: {GMM_KEYS}); did you mean 'n_train'?",
    ),
    (["data.standardize=maybe"], "data.standardize must be a valid boolean, got 'maybe'"),
    (["data=gmm20d", "data.x_dim=1"], "data.x_dim must be greater than or equal to 2, got 1"),
    (
        ["data._target_=mimkit.data.gmm.Nope"],
        "data._target_ 'mimkit.data.gmm.Nope' is not an importable class or function",
    ),
    (["data=pca_fmnist", "data.x_dim=1000"], "data.x_dim must be less than or equal to 784, got 1000"),
    (["data=pca_fmnist", "data.pca_fit=test"], "data.pca_fit must be 'train' or 'separate', got 'test'"),
    (["skip_finished=yes"], "skip_finished must be a valid boolean, got 'yes'"),
    (["data=mnist", "data.x_dim=20"], "data.x_dim must be 784, got 20"),
    (["data=mnist", "data.eval_batch_size=0"], "data.eval_batch_size must be greater than 0, got 0"),
    (["data=fmnist", "data.download=yes"], "data.download must be a valid boolean, got 'yes'"),
    (["data=omniglot", "data.label=letter"], "data.label must be 'alphabet' or 'character', got 'letter'"),
    (
        ["data=omniglot", "data.test_per_character=0"],
        "data.test_per_character must be greater than 0, got 0",
    ),
    (
        ["data=omniglot", "+data.n_tset=5"],
        "data: unknown key 'n_tset' (known: batch_size, data_dir, data_seed, download, eval_batch_size, "
        "label, n_test, n_train, n_val, seed, source_dir, test_per_character, x_dim); did you mean 'n_test'?",
    ),
    # models: the toys and the images
    (["model.hidden=abc"], "model.hidden must be a valid integer, got 'abc'"),
    (["model.decoder_z=anchr"], "model.decoder_z must be 'anchor', 'prior' or 'prior_rsample', got 'anchr'"),
    (
        ["model=mlp_bernoulli", "model.decoder.in_dim=0"],
        "model.decoder.in_dim must be greater than 0, got 0",
    ),
    (
        ["model=convhvae", "model.x_shape=[1,28]"],
        "model.x_shape: List should have at least 3 items after validation, not 2, got [1, 28]",
    ),
    (["model=convhvae", "model.z1_dim=0"], "model.z1_dim must be greater than 0, got 0"),
    (
        ["model=convhvae", "model.vamp.activation=relu"],
        "model.vamp.activation must be 'none' or 'hardtanh', got 'relu'",
    ),
    (["model=convhvae", "model.eval_recon=1"], "model.eval_recon must be a valid boolean or 'test', got 1"),
    (["model=pixelhvae", "model.decoder.layers=0"], "model.decoder.layers must be greater than 0, got 0"),
    (
        ["model=pixelhvae", "+model.decoder.hidden=3"],
        "model.decoder: unknown key 'hidden' (known: channels, layers, sampler, x_shape, z1_dim, z2_dim)",
    ),
    (
        [
            "model=pixelhvae",
            "model.conditional_prior._target_=mimkit.model.nets.mlp.GaussianMLP",
            "+model.conditional_prior.std_floor=-1",
        ],
        "model.conditional_prior.std_floor must be greater than or equal to 0, got -1",
    ),
    # priors, objectives
    (["prior=vamp", "prior.init=zeros"], "prior.init must be 'random' or 'data', got 'zeros'"),
    (["prior=vamp", "prior.pseudo_inputs=0"], "prior.pseudo_inputs must be greater than 0, got 0"),
    (["prior=mog", "prior.init_scale=0"], "prior.init_scale must be greater than 0, got 0"),
    (["+prior.latent_dim=3"], "prior: unknown key 'latent_dim' (known: none, this class takes no settings)"),
    (
        ["objective.decoder_qx=reencoder"],
        "objective.decoder_qx must be 'prior_sample' or 'reencode', got 'reencoder'",
    ),
    (
        ["+objective.qx_sample=3"],
        "objective: unknown key 'qx_sample' (known: decoder_qx, decoder_z, qx_fresh, qx_samples, "
        "reinforce_baseline, symmetric, symmetric_during_warmup, x_per_z); did you mean 'qx_samples'?",
    ),
    (
        ["objective=vae", "+objective.symmetric=true"],
        "objective: unknown key 'symmetric' (known: kl_weight)",
    ),
    # trainer, callbacks, logger, paths
    (["trainer.precision=bf17"], f"trainer.precision must be {PRECISIONS}, got 'bf17'"),
    (
        ["trainer.accelerator=gpx"],
        "trainer: You selected an invalid accelerator name: `accelerator='gpx'`. Available names are: ...",
    ),
    (["trainer.max_epochs=1.5"], "trainer.max_epochs must be a valid integer, got 1.5"),
    (
        ["trainer=ddp_cpu", "trainer.sync_batchnorm=1"],
        "trainer.sync_batchnorm must be a valid boolean, got 1",
    ),
    (["float32_precision=low"], "float32_precision must be 'highest', 'high' or 'medium', got 'low'"),
    (["allow_emulated_bf16=yes"], "allow_emulated_bf16 must be a valid boolean, got 'yes'"),
    (
        ["trainer.devices=0"],
        "trainer: `Trainer(devices=0)` value is not a valid input using cpu accelerator.",
    ),
    (["+trainer.max_epoch=3"], f"trainer: unknown key 'max_epoch' (known: {TRAINER_KEYS}, ..."),
    (["callbacks.early_stopping.mode=mn"], "callbacks.early_stopping: `mode` can be min, max, got mn"),
    (
        ["callbacks.model_checkpoint.save_top_k=-2"],
        "callbacks.model_checkpoint: Invalid value for save_top_k=-2. Must be >= -1",
    ),
    (
        ["callbacks.representation_metrics.nll_precision=16"],
        "callbacks.representation_metrics.nll_precision must be '32', 'bf16' or 32, got 16",
    ),
    (
        ["model=convhvae", "callbacks.tsne.perplexity=0"],
        "callbacks.tsne.perplexity must be greater than 0, got 0",
    ),
    (
        ["callbacks.representation_metrics.knn_ks=[1,0]"],
        "callbacks.representation_metrics.knn_ks[1] must be greater than 0, got 0",
    ),
    (
        ["+callbacks.foo.bar=1"],
        "callbacks.foo must be a node with a _target_, got {'bar': 1}",
    ),
    (["logger=wandb", "logger.wandb.offline=1"], "logger.wandb.offline must be a valid boolean, got 1"),
    (
        ["logger=wandb", "logger.wandb.init_timeout=0"],
        "logger.wandb.init_timeout must be greater than 0, got 0",
    ),
    (["resume=3"], "resume must be a valid string, got 3"),
    (
        ["+paths.foo=1"],
        "paths: unknown key 'foo' (known: data_dir, log_dir, output_dir, root_dir, shared_data_dir)",
    ),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_fails_at_start_up_in_one_line(train_config, tmp_path, capsys, overrides, message):
    run_dir = tmp_path / "run"
    cfg = train_config(*overrides, fast=False, output_dir=run_dir)
    with pytest.raises(SystemExit) as exit_:
        run_task(train, cfg)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    line = err[0][len("error: ") :]
    if message.endswith("..."):
        assert line.startswith(message[:-3]), line
    else:
        assert line == message
    assert not run_dir.exists()  # nothing written: no checkpoint, log or metrics.json


def test_train_py_rejects_a_bad_image_model_setting(tmp_path):
    """The same check from the command line, on an image model (a subprocess)."""
    result = run_cli(
        "train.py",
        "model=pixelhvae",
        "model.decoder.layers=0",
        f"hydra.run.dir={tmp_path / 'run'}",
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: model.decoder.layers must be greater than 0, got 0" in result.stderr
    # Hydra's own files only (the composed config, the log with the error line)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".hydra", "train.log"]
    assert "model.decoder.layers must be" in (tmp_path / "run" / "train.log").read_text()


def test_any_class_is_checked_against_its_constructor(tmp_path):
    """A target registered nowhere: the keys its constructor takes (a Lightning callback here)."""
    validate(
        "train",
        ["+callbacks.timer._target_=lightning.pytorch.callbacks.Timer", "+callbacks.timer.interval=epoch"],
        tmp_path,
    )
    with pytest.raises(
        ConfigError,
        match=r"^callbacks.timer: unknown key 'intervall' \(known: "
        r"duration, interval, verbose\); did you mean 'interval'\?$",
    ):
        validate(
            "train",
            [
                "+callbacks.timer._target_=lightning.pytorch.callbacks.Timer",
                "+callbacks.timer.intervall=epoch",
            ],
            tmp_path,
        )
