"""Training and evaluation as plain functions of a composed Hydra config.

`src/train.py` and `src/eval.py` are thin wrappers around `train` and `evaluate`. Every file a
run writes lands in `cfg.paths.output_dir` (the Hydra run dir): the resolved config, the
checkpoints, the logger's files and `metrics.json` (final metrics, `{"stage/name": number}`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from omegaconf import DictConfig

from mimkit.app.config import to_plain, unwritable_reason
from mimkit.app.distributed import check_launch, check_sync_batchnorm
from mimkit.app.finished import SKIPPED, forget_finished, mark_finished, skip_if_finished
from mimkit.app.loggers import finish_wandb, log_run_config
from mimkit.app.precision import DEFAULT_FLOAT32_PRECISION, check_bf16, mantissa_bits, set_float32_precision
from mimkit.app.resume import continue_csv_logs, resume_config
from mimkit.app.schema import check_node, validate
from mimkit.errors import ConfigError
from mimkit.training.checkpoint_io import hand_over, load_module
from mimkit.training.module import AutoencoderModule

log = logging.getLogger(__name__)


def _lightning_node(path: str, node: DictConfig, **kwargs):
    """`node` built, with Lightning's own checks of its settings (e.g. the trainer's accelerator
    names, early stopping's mode) as a ConfigError naming `path`."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, MisconfigurationException | ValueError):
            raise ConfigError(f"{path}: {' '.join(str(error.__cause__).split())}") from None
        raise


def _instantiate_all(name: str, group: DictConfig | None) -> list:
    return [
        _lightning_node(f"{name}.{key!s}", node)
        for key, node in (group or {}).items()
        if node and "_target_" in node
    ]


def _check_writable(output_dir: str) -> Path:
    reason = unwritable_reason(output_dir)
    if reason:
        raise ConfigError(f"paths.output_dir {output_dir!r} is not writable: {reason}")
    return Path(output_dir)


def check_token_prior(model: dict, prior: dict) -> None:
    """ConfigError for a VampPrior on a token model (before any data are read)."""
    if model.get("tokens") and prior["_target_"].endswith("VampPrior"):
        raise ConfigError(
            "prior=vamp learns pseudo-inputs in x space, which token sequences lack: use prior=standard|mog"
        )


def check_input_shape(model: dict, datamodule) -> None:
    """ConfigError unless the model takes the data's inputs (e.g. model=convhvae on data=gmm2d, or
    a token model on vectors)."""
    tokens = getattr(datamodule, "vocabulary", None) is not None
    if bool(model.get("tokens")) != tokens:
        raise ConfigError(
            "the data are token sequences: use model=seq_gru"
            if tokens
            else "model=seq_gru reads token sequences: use data=smiles or data=text (data.path=FILE)"
        )
    if tokens:
        return
    model_shape = list(model.get("x_shape") or [model["encoder"].get("in_dim")])
    data_shape = list(getattr(datamodule, "x_shape", model_shape))
    if model_shape != data_shape:
        kind = "images" if len(model_shape) == 3 else "flat vectors"
        raise ConfigError(
            f"the model takes {kind} of shape {model_shape} but the data give {data_shape}: "
            f"choose a model for this data (flat data: model=mlp|mlp_bernoulli; "
            f"binary images: model=convhvae|pixelhvae)"
        )


def advise_decoder(module: AutoencoderModule, datamodule) -> None:
    """A warning where binary data (`datamodule.binary`: set, or detected by data=tensors) meet a
    Gaussian decoder, whose density on 0/1 values grows without bound as its std shrinks; the
    model is not switched (the model group is the command line's choice). A ConfigError where the
    model standardises its data (data=tensors) but its decoder is Bernoulli."""
    bernoulli = getattr(module.model.decoder, "binary_data", False)
    if bernoulli and getattr(module.model, "standardization", None) is not None:
        raise ConfigError(
            "the data are standardised (continuous data, data.standardize=true) but the decoder "
            "p(x|z) is Bernoulli: use model=mlp for continuous data, or data.binary=true (or "
            "data.standardize=false) for binary data"
        )
    if getattr(datamodule, "binary", False) is True and not bernoulli:
        log.warning(
            "the data are binary (every value 0 or 1) but the decoder p(x|z) is Gaussian: use "
            "model=mlp_bernoulli for the Bernoulli decoder (or data.binary=false to keep a Gaussian "
            "on purpose)"
        )


def _build(cfg: DictConfig, module: AutoencoderModule | None = None):
    """Datamodule, module, trainer for the validated `cfg`; raises ConfigError before any work is
    done."""
    plain = to_plain(cfg)
    # the trainer, callbacks and loggers first: Lightning checks their settings (before any data
    # are read or anything is written, as the schema's checks)
    callbacks = _instantiate_all("callbacks", cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):  # the bar is off: drop its callback too
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = _instantiate_all("logger", cfg.get("logger"))
    trainer = _lightning_node("trainer", cfg.trainer, callbacks=callbacks, logger=loggers or False)
    check_launch(trainer)  # DDP: no process launching inside a local multirun
    check_bf16(trainer.precision, trainer.strategy.root_device, cfg.get("allow_emulated_bf16", False))
    output_dir = _check_writable(cfg.paths.output_dir)
    set_float32_precision(cfg.get("float32_precision", DEFAULT_FLOAT32_PRECISION))
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    check_token_prior(plain["model"], plain["prior"])
    datamodule = instantiate(cfg.data)
    # the data now (idempotent, atomic writes: safe in every process): a missing or bad file
    # fails before any model work; the trainer's own calls then find everything done
    datamodule.prepare_data()
    datamodule.setup("fit")
    check_input_shape(plain["model"], datamodule)
    if module is None:
        module = AutoencoderModule.from_run_config(plain, datamodule)
    advise_decoder(module, datamodule)
    check_sync_batchnorm(trainer, module, cfg.trainer.get("sync_batchnorm", False))
    log_run_config(loggers, plain)
    return datamodule, module, trainer, output_dir


def _final_metrics(
    trainer: L.Trainer, datamodule, module, ckpt_path: str | None, seed: int
) -> dict[str, float]:
    """Validation and test metrics, from a fixed RNG state so eval.py reproduces them exactly
    (under DDP one state per process, so that their samples differ)."""
    metrics: dict[str, float] = {"run/float32_mantissa_bits": float(mantissa_bits())}
    L.seed_everything(seed + trainer.global_rank, workers=True, verbose=False)
    validated = trainer.validate(module, datamodule, ckpt_path=ckpt_path, verbose=False)
    if trainer.world_size > 1:  # DDP re-seeds at every entry: test would redraw validation's noise
        L.seed_everything(seed + trainer.world_size + trainer.global_rank, workers=True, verbose=False)
    for results in (validated, trainer.test(module, datamodule, ckpt_path=ckpt_path, verbose=False)):
        for name, value in results[0].items():
            metrics[name] = float(value)
    return metrics


def skipped_metrics(trainer: L.Trainer) -> dict[str, str]:
    """{metric or picture: why it was skipped} from the callbacks that skipped something (their
    `skipped` dicts, e.g. the label metrics of data without labels), logged in one line."""
    skipped: dict[str, str] = {}
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # a property Lightning's stubs hide
        skipped.update(getattr(callback, "skipped", None) or {})
    if skipped:
        reasons: dict[str, list[str]] = {}
        for name, why in sorted(skipped.items()):
            reasons.setdefault(why, []).append(name)
        log.info("skipped: %s", "; ".join(f"{', '.join(names)} ({why})" for why, names in reasons.items()))
    return skipped


def write_metrics(metrics: dict[str, float], output_dir: Path, skipped: dict[str, str] | None = None) -> Path:
    """metrics.json: the metrics, a flat {"stage/name": number} map, and where something was
    skipped, {"skipped": {name: why}} (the one entry that is not a number)."""
    bad = [name for name, value in metrics.items() if not math.isfinite(value)]
    if bad:
        log.warning("non-finite final metrics: %s", ", ".join(bad))
    path = output_dir / "metrics.json"
    content: dict = dict(sorted(metrics.items()))
    if skipped:
        content[SKIPPED] = dict(sorted(skipped.items()))
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path


def _close_loggers(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """End the W&B run with the final metrics as its summary (the next job of a multirun in
    this process starts its own)."""
    finish_wandb(trainer.loggers, metrics)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (or resume: `mimkit.app.resume`), then re-load the best checkpoint and evaluate it on
    validation and test.

    With `skip_finished`, a job that already finished in its run dir returns its stored
    metrics instead (mimkit.app.finished, docs/sweeps.md).
    """
    # the command line's config, once, before a resume reads the run dir (a resumed run's stored
    # config was validated when the run started; the overrides set anew are validated here)
    validate(to_plain(cfg))
    if cfg.get("skip_finished"):
        done = skip_if_finished(cfg.paths.output_dir, cfg.get("optimized_metric"))
        if done is not None:
            return done
    start = time.perf_counter()
    cfg, ckpt_path, resumed = resume_config(cfg)
    datamodule, module, trainer, output_dir = _build(cfg)
    if trainer.is_global_zero:
        forget_finished(output_dir)
    if resumed is not None:
        hand_over(trainer, ckpt_path, resumed)  # the checkpoint is read once, by resume_config
        continue_csv_logs(trainer, resumed["global_step"])  # rank 0 only
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - start
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
    metrics = _final_metrics(trainer, datamodule, module, best or None, cfg.seed)
    metrics.update(
        {
            "train/epochs": float(trainer.current_epoch),
            "time/fit_s": fit_seconds,
            "time/total_s": time.perf_counter() - start,
        }
    )
    if trainer.is_global_zero:  # DDP: every process holds these metrics; process 0 writes them
        log.info("best checkpoint: %s", best or "(none)")
        log.info("metrics written to %s", write_metrics(metrics, output_dir, skipped_metrics(trainer)))
        mark_finished(output_dir)
    _close_loggers(trainer, metrics)
    return metrics


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Re-evaluate `cfg.ckpt_path` on the data it was trained on; writes the same metrics.json."""
    validate(to_plain(cfg), "eval")
    module = load_module(cfg.ckpt_path)
    if module.run_config is None:
        raise ConfigError(f"ckpt_path {cfg.ckpt_path!r} holds no run config (not written by train.py)")
    run_cfg = DictConfig(module.run_config)
    run_cfg.paths = cfg.paths
    run_cfg.trainer, run_cfg.logger, run_cfg.callbacks = cfg.trainer, cfg.logger, cfg.callbacks
    run_cfg.float32_precision, run_cfg.allow_emulated_bf16 = cfg.float32_precision, cfg.allow_emulated_bf16
    if module.hparams.get("vocabulary") is not None:  # sequences read in the model's own vocabulary
        run_cfg.data.vocabulary = module.hparams["vocabulary"]
    if cfg.get("data_overrides"):  # the only settings not validated with eval.yaml's
        run_cfg.data = {**run_cfg.data, **cfg.data_overrides}
        check_node("data", to_plain(run_cfg.data))
    datamodule, module, trainer, output_dir = _build(run_cfg, module=module)
    metrics = _final_metrics(trainer, datamodule, module, None, run_cfg.seed)
    if trainer.is_global_zero:
        log.info("metrics written to %s", write_metrics(metrics, output_dir, skipped_metrics(trainer)))
    _close_loggers(trainer, metrics)
    return metrics
