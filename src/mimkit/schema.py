"""The schema of the run config: every group's keys, their types and their allowed values.

`validate(config, TRAIN)` (and `EVAL`, `EMBED`) runs on the resolved config before any data is read, any
model built or any file written. The first problem ends the run with one line that names the key
and what it allows, e.g.

    objective.decoder_z must be one of anchor|prior|prior_rsample, got 'anchr'
    data: unknown key 'n_trian' (known: batch_size, data_dir, ...); did you mean 'n_train'?

A node with a `_target_` (data, prior, objective, trainer, each callback and logger, the model's
networks) is checked against the entry of `DATA`, `NETS`, ... for the most specific registered
class it is an instance of (a subclass, e.g. a test's data module, gets its parent's entry). Its
known keys are that entry's plus the constructor parameters of the registered class and of the
target itself, so a `+trainer.gradient_clip_val=1` or `+callbacks.x.seed=2` addition that the
class takes is accepted. A class registered nowhere is checked against its constructor only (any
key if it takes **kwargs, as the W&B loggers do). A key added to train.yaml, eval.yaml or
embed.yaml needs an entry in `TRAIN`, `EVAL` or `EMBED` below; tests/test_schema.py validates
every shipped config.
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from functools import cache

from mimkit.config import ConfigError

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


class Spec:
    """The allowed values of one key; `check` raises a ConfigError naming the key."""

    def __init__(self, null: bool = False):
        self.null = null

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def describe(self, plural: bool = False) -> str:
        raise NotImplementedError

    def full(self) -> str:
        return self.describe() + (" or null" if self.null else "")

    def check(self, path: str, value) -> None:
        if value is None and self.null:
            return
        if not self.accepts(value):
            raise ConfigError(f"{path} must be {self.full()}, got {_show(value)}")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Int(Spec):
    def __init__(self, min: int | None = None, max: int | None = None, null: bool = False):
        super().__init__(null)
        self.min, self.max = min, max

    def accepts(self, value) -> bool:
        return (
            _is_int(value)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )

    def describe(self, plural: bool = False) -> str:
        if self.max is None and self.min in (0, 1):
            word = "positive" if self.min == 1 else "non-negative"
            return f"{word} integers" if plural else f"a {word} integer"
        noun = "integers" if plural else "an integer"
        if self.min is not None and self.max is not None:
            return f"{noun} in [{self.min}, {self.max}]"
        if self.min is not None:
            return f"{noun} >= {self.min}"
        return noun


class Num(Spec):
    """A finite number (an integer too); `positive`: > 0; `min`, `max`: inclusive bounds."""

    def __init__(
        self, min: float | None = None, max: float | None = None, positive: bool = False, null: bool = False
    ):
        super().__init__(null)
        self.min, self.max, self.positive = min, max, positive

    def accepts(self, value) -> bool:
        return (
            _is_number(value)
            and (not self.positive or value > 0)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )

    def describe(self, plural: bool = False) -> str:
        noun = "numbers" if plural else "a number"
        if self.positive:
            return "positive numbers" if plural else "a positive number"
        if self.min == 0 and self.max is None:
            return "non-negative numbers" if plural else "a non-negative number"
        if self.min is not None and self.max is not None:
            return f"{noun} in [{self.min}, {self.max}]"
        return noun


class Bool(Spec):
    def accepts(self, value) -> bool:
        return isinstance(value, bool)

    def describe(self, plural: bool = False) -> str:
        return "true or false"


class Str(Spec):
    def accepts(self, value) -> bool:
        return isinstance(value, str)

    def describe(self, plural: bool = False) -> str:
        return "strings" if plural else "a string"


class OneOf(Spec):
    def __init__(self, *choices, null: bool = False):
        super().__init__(null)
        self.choices = choices

    def accepts(self, value) -> bool:
        # the same type too: true is not 1, the int 16 is not the string '16'
        return any(type(value) is type(choice) and value == choice for choice in self.choices)

    def describe(self, plural: bool = False) -> str:
        shown = list(dict.fromkeys(map(str, self.choices)))  # 16 and '16' read the same
        return shown[0] if len(shown) == 1 else "one of " + "|".join(shown)


class ListOf(Spec):
    def __init__(self, item: Spec, length: int | None = None, null: bool = False):
        super().__init__(null)
        self.item, self.length = item, length

    def accepts(self, value) -> bool:
        return (
            isinstance(value, list)
            and all(self.item.accepts(v) for v in value)
            and (self.length is None or len(value) == self.length)
        )

    def describe(self, plural: bool = False) -> str:
        count = f"{self.length} " if self.length is not None else ""
        return f"a list of {count}{self.item.describe(plural=True)}"


class AnyOf(Spec):
    def __init__(self, *specs: Spec, null: bool = False):
        super().__init__(null)
        self.specs = specs

    def accepts(self, value) -> bool:
        return any(spec.accepts(value) for spec in self.specs)

    def describe(self, plural: bool = False) -> str:
        parts = [spec.describe(plural) for spec in self.specs]
        return ", ".join(parts[:-1]) + f" or {parts[-1]}"


def _unknown(path: str, key: str, known) -> ConfigError:
    where = f"{path}: unknown key" if path else "unknown top-level key"
    shown = sorted(set(known) - HYDRA_KEYS)  # Hydra's own _target_, _partial_, ... go unsaid
    message = f"{where} {key!r} (known: {', '.join(shown) or 'none, this class takes no settings'})"
    close = difflib.get_close_matches(key, shown, n=1)
    return ConfigError(message + (f"; did you mean {close[0]!r}?" if close else ""))


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _check_node(path: str, value, fields: dict[str, Spec], known, required) -> None:
    """Unknown keys first (unless `known` is None: open), then missing ones, then each value."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a config group (key: value lines), got {_show(value)}")
    if known is not None:
        for key in value:
            if key not in known:
                raise _unknown(path, key, known)
    for key in required:
        if key not in value:
            raise ConfigError(f"{_join(path, key)} is missing (a required key of {path or 'the config'})")
    for key, item in value.items():
        if key in fields:
            fields[key].check(_join(path, key), item)


class Node(Spec):
    """A group of fixed keys (no `_target_`); `open`: other keys are allowed too."""

    def __init__(self, fields: dict[str, Spec], required=(), open: bool = False, null: bool = False):
        super().__init__(null)
        self.fields, self.required, self.open = fields, tuple(required), open

    def check(self, path: str, value) -> None:
        if value is None and self.null:
            return
        _check_node(path, value, self.fields, None if self.open else set(self.fields), self.required)


class Variants(Spec):
    """One of two node schemas, by whether the node has `key`."""

    def __init__(self, key: str, with_key: Node, without_key: Node):
        super().__init__()
        self.key, self.with_key, self.without_key = key, with_key, without_key

    def check(self, path: str, value) -> None:
        has = isinstance(value, dict) and self.key in value
        (self.with_key if has else self.without_key).check(path, value)


@cache
def _object(target: str):
    """The class (or factory function) named by a `_target_`."""
    from hydra.utils import get_object

    found = get_object(target)
    if not callable(found):
        raise TypeError(f"{target} is not callable")
    return found


def _parameters(factory) -> tuple[set[str], bool]:
    """The named parameters of a class's constructor (or of a function) and whether it takes
    **kwargs."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    named = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named, any(p.kind == p.VAR_KEYWORD for p in parameters)


class Target(Spec):
    """A node instantiated from its `_target_`, checked against the registry (see the module doc).

    registry: {target: {key: Spec}}; excluded: constructor parameters that the code passes itself
    (not config keys, e.g. a prior's latent_dim)."""

    def __init__(self, registry: dict[str, dict[str, Spec]], required=(), excluded=(), null: bool = False):
        super().__init__(null)
        self.registry, self.required, self.excluded = registry, tuple(required), set(excluded)

    def _entry(self, factory) -> tuple[str | None, dict[str, Spec]]:
        """The registered name of `factory` itself, or of its nearest registered base class."""
        lineage = factory.__mro__ if isinstance(factory, type) else (factory,)
        best, best_rank = None, len(lineage)
        for name in self.registry:
            registered = _object(name)
            if registered in lineage and lineage.index(registered) < best_rank:
                best, best_rank = name, lineage.index(registered)
        return best, self.registry.get(best, {})

    def check(self, path: str, value) -> None:
        if value is None and self.null:
            return
        known_targets = ", ".join(self.registry)
        if not isinstance(value, dict) or "_target_" not in value:
            raise ConfigError(
                f"{path} must be a node with a _target_ (known: {known_targets})"
                + (" or null" if self.null else "")
                + f", got {_show(value)}"
            )
        target = value["_target_"]
        try:
            factory = _object(target)
        except Exception:  # not importable, or not callable
            raise ConfigError(
                f"{path}._target_ {target!r} is not an importable class (known: {known_targets})"
            ) from None
        name, fields = self._entry(factory)
        own, takes_any = _parameters(factory)
        known = HYDRA_KEYS | set(fields) | own
        if name is not None:  # open if the registered one takes **kwargs (e.g. W&B's settings)
            registered, takes_any = _parameters(_object(name))
            known |= registered
        known -= self.excluded
        _check_node(path, value, fields, None if takes_any else known, self.required)


class Entries(Spec):
    """A group of named `_target_` nodes (callbacks, loggers), each of which may be null."""

    def __init__(self, target: Target):
        super().__init__(null=True)
        self.target = target

    def check(self, path: str, value) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be a group of named nodes or null, got {_show(value)}")
        for key, item in value.items():
            if item is not None:  # e.g. callbacks.progress_bar=null drops that callback
                self.target.check(_join(path, key), item)


# --- the groups --------------------------------------------------------------------------

POSITIVE, NON_NEGATIVE = Int(min=1), Int(min=0)
SHAPE = ListOf(Int(min=1), length=3)


def _choices(module: str, name: str) -> tuple:
    """A tuple of allowed values defined in the code (so the schema follows the code)."""
    import importlib

    return getattr(importlib.import_module(module), name)


DECODER_Z = _choices("mimkit.objectives.mim", "DECODER_Z")
DECODER_QX = _choices("mimkit.objectives.mim", "DECODER_QX")
SAMPLERS = _choices("mimkit.nets.pixel_decoder", "SAMPLERS")
VAMP_INITS = _choices("mimkit.priors.vamp", "INITS")
VAMP_ACTIVATIONS = ("none", "hardtanh")
GRAD_NORMS = _choices("mimkit.gradients", "GRAD_NORMS")
SCHEDULES = _choices("mimkit.module", "SCHEDULES")
OMNIGLOT_LABELS = _choices("mimkit.data.omniglot", "LABELS")
NLL_PRECISIONS = _choices("mimkit.callbacks.metrics", "NLL_PRECISIONS")
EMBED_SPLITS = _choices("mimkit.embeddings", "SPLITS")
PCA_FITS = _choices("mimkit.data.pca_fmnist", "PCA_FITS")
SELECT_ON = _choices("mimkit.data.pca_fmnist", "SELECT_ON")

_SIZES = {
    "n_train": POSITIVE,
    "n_val": POSITIVE,
    "n_test": POSITIVE,
    "batch_size": POSITIVE,
    "eval_batch_size": POSITIVE,
    "data_seed": NON_NEGATIVE,
    "seed": NON_NEGATIVE,
}
_FILES = {"data_dir": Str(), "source_dir": Str(null=True), "download": Bool()}
_PIXELS = {"x_dim": OneOf(784)}  # 28 x 28 binary images, fixed

DATA = {
    "mimkit.data.gmm.GMMDataModule": {
        **_SIZES,
        "x_dim": Int(min=2),
        "std": Num(positive=True),
        "separation": Num(positive=True),
        "standardize": Bool(),
    },
    "mimkit.data.mnist.MNISTDataModule": {**_FILES, **_SIZES, **_PIXELS},
    "mimkit.data.omniglot.OmniglotDataModule": {
        **_FILES,
        **_SIZES,
        **_PIXELS,
        "test_per_character": POSITIVE,
        "label": OneOf(*OMNIGLOT_LABELS),
    },
    "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule": {
        **_FILES,
        "x_dim": Int(min=1, max=784),
        "n_train": POSITIVE,
        "n_val": POSITIVE,
        "batch_size": POSITIVE,
        "eval_batch_size": POSITIVE,
        "seed": NON_NEGATIVE,
        "pca_fit": OneOf(*PCA_FITS),
        "augment": Bool(),
        "select_on": OneOf(*SELECT_ON),
    },
}

_MLP = {"in_dim": POSITIVE, "out_dim": POSITIVE, "hidden": POSITIVE}
_TWO_LEVEL = {"x_shape": SHAPE, "z1_dim": POSITIVE, "z2_dim": POSITIVE}
NETS = {
    "mimkit.nets.mlp.GaussianMLP": {**_MLP, "std_floor": Num(min=0)},
    "mimkit.nets.mlp.BernoulliMLP": _MLP,
    "mimkit.nets.heads.GatedGaussianMLP": _MLP,
    "mimkit.nets.conv_encoder.TwoLevelConvEncoder": {**_TWO_LEVEL, "hidden": POSITIVE},
    "mimkit.nets.conv_decoder.ConvDecoder": {**_TWO_LEVEL, "hidden": POSITIVE, "channels": POSITIVE},
    "mimkit.nets.pixel_decoder.PixelDecoder": {
        **_TWO_LEVEL,
        "channels": POSITIVE,
        "layers": POSITIVE,
        "sampler": OneOf(*SAMPLERS),
    },
}
NET = Target(NETS)

_MODEL_COMMON = {
    "hidden": POSITIVE,
    "decoder_z": OneOf(*DECODER_Z),
    "x_per_z": POSITIVE,
    "eval_recon": AnyOf(Bool(), OneOf("test")),
    "vamp": Node({"activation": OneOf(*VAMP_ACTIVATIONS), "init_mean": Num(), "init_std": Num(min=0)}),
    "encoder": NET,
    "decoder": NET,
}
# the flat (toy, PCA) models and the two-level image models (those with a conditional_prior)
MODEL = Variants(
    "conditional_prior",
    with_key=Node(
        {**_MODEL_COMMON, **_TWO_LEVEL, "channels": POSITIVE, "conditional_prior": NET},
        required=("x_shape", "z1_dim", "z2_dim", "encoder", "decoder"),
    ),
    without_key=Node(
        {**_MODEL_COMMON, "latent_dim": POSITIVE, "x_shape": ListOf(Int(min=1))},
        required=("latent_dim", "encoder", "decoder"),
    ),
)

PRIORS = {
    "mimkit.priors.standard.StandardNormalPrior": {},
    "mimkit.priors.mog.MixtureOfGaussiansPrior": {"components": POSITIVE, "init_scale": Num(positive=True)},
    "mimkit.priors.vamp.VampPrior": {
        "pseudo_inputs": POSITIVE,
        "activation": OneOf(*VAMP_ACTIVATIONS),
        "init_mean": Num(),
        "init_std": Num(min=0),
        "init": OneOf(*VAMP_INITS),
    },
}
# the model's latent size and encoder are passed by the code (mimkit.autoencoder)
PRIOR = Target(PRIORS, excluded=("latent_dim", "encoder"))

OBJECTIVES = {
    "mimkit.objectives.mim.MIM": {
        "symmetric": Bool(),
        "qx_samples": POSITIVE,
        "qx_fresh": Bool(),
        "decoder_qx": OneOf(*DECODER_QX),
        "symmetric_during_warmup": Bool(),
        "reinforce_baseline": Bool(),
        "decoder_z": OneOf(*DECODER_Z),
        "x_per_z": POSITIVE,
    },
    "mimkit.objectives.vae.VAE": {},
}


def _precisions() -> tuple:
    from lightning.fabric.connector import _PRECISION_INPUT

    def flatten(kind) -> list:
        args = typing.get_args(kind)
        return [kind] if not args else [v for a in args for v in flatten(a)]

    return tuple(flatten(_PRECISION_INPUT))


def _accelerators() -> tuple:
    from lightning.pytorch.accelerators import AcceleratorRegistry

    return ("auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators()))


FRACTION_OR_COUNT = AnyOf(Int(min=0), Num(min=0, max=1))
TRAINERS = {
    "lightning.Trainer": {
        "accelerator": OneOf(*_accelerators()),
        "devices": AnyOf(Int(min=1), OneOf(-1), Str(), ListOf(Int(min=0))),
        "num_nodes": POSITIVE,
        "precision": OneOf(*_precisions(), null=True),
        "max_epochs": POSITIVE,
        "min_epochs": Int(min=0, null=True),
        "max_steps": Int(min=-1),
        "fast_dev_run": AnyOf(Bool(), Int(min=0)),
        "overfit_batches": FRACTION_OR_COUNT,
        "limit_train_batches": FRACTION_OR_COUNT,
        "limit_val_batches": FRACTION_OR_COUNT,
        "limit_test_batches": FRACTION_OR_COUNT,
        "check_val_every_n_epoch": Int(min=1, null=True),
        "num_sanity_val_steps": Int(min=-1),
        "log_every_n_steps": POSITIVE,
        "accumulate_grad_batches": POSITIVE,
        "gradient_clip_val": Num(min=0, null=True),
        "deterministic": AnyOf(Bool(), OneOf("warn"), null=True),
        "enable_checkpointing": Bool(),
        "enable_progress_bar": Bool(),
        "enable_model_summary": Bool(),
        "detect_anomaly": Bool(),
        "benchmark": Bool(null=True),
        "inference_mode": Bool(),
        "default_root_dir": Str(null=True),
    }
}

_MONITOR = {"monitor": Str(), "mode": OneOf("min", "max")}
CALLBACKS = {
    "mimkit.callbacks.beta_warmup.BetaWarmup": {"warmup": NON_NEGATIVE},
    "lightning.pytorch.callbacks.ModelCheckpoint": {
        **_MONITOR,
        "dirpath": Str(null=True),
        "filename": Str(null=True),
        "save_top_k": Int(min=-1),
        "save_last": AnyOf(Bool(), OneOf("link"), null=True),
        "auto_insert_metric_name": Bool(),
        "every_n_epochs": Int(min=0, null=True),
    },
    "lightning.pytorch.callbacks.EarlyStopping": {**_MONITOR, "patience": POSITIVE, "min_delta": Num(min=0)},
    "lightning.pytorch.callbacks.LearningRateMonitor": {
        "logging_interval": OneOf("step", "epoch", null=True),
        "log_momentum": Bool(),
    },
    "lightning.pytorch.callbacks.TQDMProgressBar": {"refresh_rate": NON_NEGATIVE},
    "mimkit.callbacks.plots.Fig2Plot": {
        "path": Str(null=True),
        "n_points": POSITIVE,
        "n_ellipses": NON_NEGATIVE,
        "grid": Int(min=2),
        "samples": POSITIVE,
        "wandb_key": Str(),
    },
    "mimkit.callbacks.images.ImageGrids": {
        "n_samples": POSITIVE,
        "n_reconstructions": POSITIVE,
        "per_row": POSITIVE,
        "seed": NON_NEGATIVE,
    },
    "mimkit.callbacks.metrics.RepresentationMetrics": {
        "mi_pairs": POSITIVE,
        "ksg_k": POSITIVE,
        "nll_samples": POSITIVE,
        "nll_batch": POSITIVE,
        "knn_ks": ListOf(POSITIVE),
        "knn_train": POSITIVE,
        "embed_sample": Bool(),
        "consistency_samples": POSITIVE,
        "consistency_pairs": POSITIVE,
        "active_threshold": Num(min=0),
        "encode_batch": POSITIVE,
        "seed": Int(min=0, null=True),
        "test_points": Int(min=1, null=True),
        "nll_points": Int(min=1, null=True),
        "nll_precision": OneOf(*NLL_PRECISIONS, *(int(p) for p in NLL_PRECISIONS if p.isdigit())),
        "rows_per_pass": Int(min=1, null=True),
    },
    "mimkit.callbacks.rng_state.RNGState": {},
    "mimkit.callbacks.tsne.TSNEPlot": {
        "points": Int(min=3),
        "sample": Bool(),
        "perplexity": Num(positive=True),
        "seed": NON_NEGATIVE,
        "images_only": Bool(),
        "encode_batch": POSITIVE,
    },
}

_LOG_NAME = {"save_dir": Str(), "name": Str(null=True), "version": AnyOf(Str(), Int(min=0), null=True)}
_WANDB = {
    **_LOG_NAME,
    "offline": Bool(),
    "project": Str(null=True),
    "group": Str(null=True),
    "tags": ListOf(AnyOf(Str(), Int()), null=True),
    "log_model": AnyOf(Bool(), OneOf("all")),
    "job_type": Str(null=True),
}
# the W&B loggers take any other wandb.init setting (**kwargs): their keys are not closed
LOGGERS = {
    "lightning.pytorch.loggers.CSVLogger": {**_LOG_NAME, "flush_logs_every_n_steps": POSITIVE},
    "lightning.pytorch.loggers.TensorBoardLogger": _LOG_NAME,
    "lightning.pytorch.loggers.WandbLogger": _WANDB,
    "mimkit.loggers.wandb_logger": {**_WANDB, "init_timeout": Num(positive=True), "continue_run": Bool()},
}

OPTIM = Node(
    {
        "lr": Num(positive=True),
        "schedule": OneOf(*SCHEDULES),
        "warmup": NON_NEGATIVE,
        "grad_norm": OneOf(*GRAD_NORMS),
    },
    required=("lr", "schedule"),
)
PATHS = Node(
    {key: Str() for key in ("root_dir", "data_dir", "shared_data_dir", "log_dir", "output_dir")},
    required=("output_dir",),
)
_RUNNER = {
    "task_name": Str(),
    "trainer": Target(TRAINERS, excluded=("callbacks", "logger")),
    "callbacks": Entries(Target(CALLBACKS)),
    "logger": Entries(Target(LOGGERS)),
    "paths": PATHS,
}

TRAIN = Node(
    {
        **_RUNNER,
        "seed": NON_NEGATIVE,
        "threads": Int(min=1, null=True),
        "warmup": NON_NEGATIVE,
        "patience": POSITIVE,
        "optim": OPTIM,
        "ckpt_path": Str(null=True),
        "resume": Str(null=True),
        "skip_finished": Bool(),
        "optimized_metric": Str(null=True),
        "tags": ListOf(AnyOf(Str(), Int())),
        "data": Target(DATA),
        "model": MODEL,
        "prior": PRIOR,
        "objective": Target(OBJECTIVES),
    },
    required=("seed", "optim", "data", "model", "prior", "objective", "trainer", "paths"),
)

# src/eval.py's own config; the checkpoint's run config (with data_overrides) is checked as TRAIN
EVAL = Node(
    {**_RUNNER, "ckpt_path": Str(), "data_overrides": Node({}, open=True)},
    required=("ckpt_path", "trainer", "paths"),
)

# src/embed.py's config (the checkpoint's data settings, with data_overrides, are the run's)
EMBED = Node(
    {
        "task_name": Str(),
        "ckpt_path": Str(),
        "split": OneOf(*EMBED_SPLITS),
        "batch_size": POSITIVE,
        "device": OneOf("cpu", "cuda", "auto"),
        "seed": NON_NEGATIVE,
        "data": Target(DATA, null=True),
        "data_overrides": Node({}, open=True),
        "paths": PATHS,
    },
    required=("ckpt_path", "paths"),
)


def validate(config: dict, schema: Spec = TRAIN) -> None:
    """Raise a ConfigError (one line, naming the key) for the first problem of `config`, a resolved
    config as plain containers."""
    schema.check("", config)


def checkpoint_problem(checkpoint) -> str | None:
    """None if `checkpoint` looks like one that train.py writes, else what is wrong with it."""
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not a checkpoint dict"
    missing = [key for key in ("state_dict", "hyper_parameters") if key not in checkpoint]
    if missing:
        keys = [str(k) for k in list(checkpoint)[:5]] + (["..."] if len(checkpoint) > 5 else [])
        hint = " (a bare state_dict?)" if "state_dict" in missing and "hyper_parameters" in missing else ""
        return (
            f"it has no {' or '.join(repr(k) for k in missing)}{hint}; its keys: {', '.join(keys) or 'none'}"
        )
    hyper = checkpoint["hyper_parameters"]
    roles = ("model", "prior", "objective", "optim")
    if not isinstance(hyper, dict) or not all(isinstance(hyper.get(role), dict) for role in roles):
        return f"its hyper_parameters are not this project's (expected {', '.join(roles)})"
    if not isinstance(checkpoint["state_dict"], dict):
        return "its state_dict is not a dict of tensors"
    return None
