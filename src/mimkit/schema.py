"""The schema of the run config, checked with pydantic v2 (docs/decisions/config-schema.md).

`validate(config, "train")` (or "eval", "embed", "latent") runs once per run on the resolved config, before
any data is read, any model built or any file written. The first problem ends the run with one line
that names the key and what it allows, e.g.

    objective.decoder_z must be one of anchor|prior|prior_rsample, got 'anchr'
    data: unknown key 'n_trian' (known: batch_size, data_dir, ...); did you mean 'n_train'?

The fixed groups (the top level, optim, paths, model) are the TypedDicts below. A node with a
`_target_` (data, prior, objective, trainer, each callback and logger, the model's networks) is
checked against its class's constructor: its keys are the constructor's parameters and their types
its annotations (`mimkit.fields`), so a rule is written once, in the signature, and any importable
class works, a user's own included. A class whose `__init__` passes **kwargs on to a base class's
`__init__` takes that base's keys too; one whose **kwargs go elsewhere (e.g. W&B's logger, to
wandb.init) takes any key. Lightning's classes get stricter types for some keys from `FOREIGN`.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import textwrap
import typing
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, NotRequired, Required

from hydra.utils import get_object
from lightning import Trainer
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from pydantic import ConfigDict, Field, Strict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict, is_typeddict

from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, NonNegativeNumber, Number, PositiveInt, PositiveNumber, Shape
from mimkit.gradients import GradNorm
from mimkit.latent_paths import PathKind, Steps
from mimkit.objectives.mim import DecoderZ
from mimkit.precision import Float32Precision
from mimkit.priors.vamp import Activation
from mimkit.schedules import Schedule

STRICT = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")


@dataclass(frozen=True)
class Target:
    """A `_target_` node. builtins: the project's classes for it (named in errors); passed: the
    constructor parameters that the code passes itself (not config keys); null: may be null."""

    builtins: tuple[str, ...] = ()
    passed: tuple[str, ...] = ()
    null: bool = False


@dataclass(frozen=True)
class Entries:
    """A group of named `_target_` nodes (callbacks, loggers); a null entry drops one."""

    target: Target


@dataclass(frozen=True)
class Variants:
    """A group whose keys depend on whether it has `key`."""

    key: str
    with_key: type
    without_key: type


# --- the groups --------------------------------------------------------------------------

NET = Target(
    (
        "mimkit.nets.mlp.GaussianMLP",
        "mimkit.nets.mlp.BernoulliMLP",
        "mimkit.nets.heads.GatedGaussianMLP",
        "mimkit.nets.conv_encoder.TwoLevelConvEncoder",
        "mimkit.nets.conv_decoder.ConvDecoder",
        "mimkit.nets.pixel_decoder.PixelDecoder",
    )
)
DATA = (
    "mimkit.data.gmm.GMMDataModule",
    "mimkit.data.mnist.MNISTDataModule",
    "mimkit.data.omniglot.OmniglotDataModule",
    "mimkit.data.pca_fmnist.PCAFashionMNISTDataModule",
    "mimkit.data.images.ImageFolderDataModule",
    "mimkit.data.tensors.TensorsDataModule",
)
PRIOR = Target(
    (
        "mimkit.priors.standard.StandardNormalPrior",
        "mimkit.priors.mog.MixtureOfGaussiansPrior",
        "mimkit.priors.vamp.VampPrior",
    ),
    passed=("latent_dim", "encoder"),  # the model's latent size and encoder (mimkit.autoencoder)
)
OBJECTIVE = Target(("mimkit.objectives.mim.MIM", "mimkit.objectives.vae.VAE"))
TRAINER = Target(("lightning.Trainer",), passed=("callbacks", "logger"))
CALLBACK = Target(
    (
        "mimkit.callbacks.beta_warmup.BetaWarmup",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning.pytorch.callbacks.EarlyStopping",
        "mimkit.callbacks.metrics.RepresentationMetrics",
    )
)
LOGGER = Target(("lightning.pytorch.loggers.CSVLogger", "mimkit.loggers.wandb_logger"))
OPTIMIZER = Target(("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD"), passed=("params", "lr"))


@with_config(STRICT)
class Optim(TypedDict):
    lr: PositiveNumber
    schedule: Schedule
    warmup: NotRequired[NonNegativeInt]
    grad_norm: NotRequired[GradNorm]
    # a torch.optim class, called with (params, lr=optim.lr): its lr is optim.lr alone (conf/optim/)
    optimizer: NotRequired[Annotated[Any, OPTIMIZER]]


@with_config(STRICT)
class Paths(TypedDict, total=False):
    root_dir: str
    data_dir: str
    shared_data_dir: str
    log_dir: str
    output_dir: Required[str]


@with_config(STRICT)
class Vamp(TypedDict, total=False):
    """The image models' VampPrior settings (prior=vamp reads them)."""

    activation: Activation
    init_mean: Number
    init_std: NonNegativeNumber


class _Model(TypedDict):
    encoder: Annotated[Any, NET]
    decoder: Annotated[Any, NET]
    hidden: NotRequired[PositiveInt]
    decoder_z: NotRequired[DecoderZ]  # read by objective=mim
    x_per_z: NotRequired[PositiveInt]  # read by objective=mim
    # reconstruction errors at every validation and test (true), in test steps only, or never
    eval_recon: NotRequired[bool | Literal["test"]]
    vamp: NotRequired[Vamp]


@with_config(STRICT)
class FlatModel(_Model):
    """The toy and PCA models: one latent vector."""

    latent_dim: PositiveInt
    x_shape: NotRequired[list[PositiveInt]]


@with_config(STRICT)
class TwoLevelModel(_Model):
    """The image models: z = [z1, z2] with a learned p(z1|z2)."""

    x_shape: Shape
    z1_dim: PositiveInt
    z2_dim: PositiveInt
    channels: NotRequired[PositiveInt]
    conditional_prior: Annotated[Any, NET]


class _Runner(TypedDict):
    trainer: Annotated[Any, TRAINER]
    paths: Paths
    task_name: NotRequired[str]
    callbacks: NotRequired[Annotated[Any, Entries(CALLBACK)]]
    logger: NotRequired[Annotated[Any, Entries(LOGGER)]]
    float32_precision: NotRequired[Float32Precision]
    allow_emulated_bf16: NotRequired[bool]


@with_config(STRICT)
class TrainConfig(_Runner):
    """conf/train.yaml."""

    seed: NonNegativeInt
    optim: Optim
    data: Annotated[Any, Target(DATA)]
    model: Annotated[Any, Variants("conditional_prior", TwoLevelModel, FlatModel)]
    prior: Annotated[Any, PRIOR]
    objective: Annotated[Any, OBJECTIVE]
    threads: NotRequired[PositiveInt | None]
    warmup: NotRequired[NonNegativeInt]
    patience: NotRequired[PositiveInt]
    ckpt_path: NotRequired[str | None]
    resume: NotRequired[str | None]
    skip_finished: NotRequired[bool]
    optimized_metric: NotRequired[str | None]
    tags: NotRequired[list[str | int]]


@with_config(STRICT)
class EvalConfig(_Runner):
    """conf/eval.yaml; the checkpoint's run config (with data_overrides) is checked as TrainConfig."""

    ckpt_path: str
    data_overrides: NotRequired[dict]


@with_config(STRICT)
class EmbedConfig(TypedDict):
    """conf/embed.yaml (the checkpoint's data settings, with data_overrides, are the run's)."""

    ckpt_path: str
    paths: Paths
    task_name: NotRequired[str]
    split: NotRequired[Literal["train", "val", "test"]]
    batch_size: NotRequired[PositiveInt]
    device: NotRequired[Literal["cpu", "cuda", "auto"]]
    seed: NotRequired[NonNegativeInt]
    data: NotRequired[Annotated[Any, Target(DATA, null=True)]]
    data_overrides: NotRequired[dict]


@with_config(STRICT)
class LatentConfig(EmbedConfig):
    """conf/latent.yaml: embed.yaml's keys and the latent tools' (mimkit.latent)."""

    tool: NotRequired[Literal["interpolate", "traverse", "sample_around", "consistency"]]
    points: NotRequired[PositiveInt | None]
    indices: NotRequired[Annotated[list[NonNegativeInt], Field(min_length=1)] | None]
    mean: NotRequired[bool | None]
    steps: NotRequired[Steps]
    path: NotRequired[PathKind]
    dims: NotRequired[list[NonNegativeInt] | None]
    values: NotRequired[list[Number]]
    absolute: NotRequired[bool]
    scale: NotRequired[NonNegativeNumber]
    n: NotRequired[PositiveInt]


SCHEMAS = {"train": TrainConfig, "eval": EvalConfig, "embed": EmbedConfig, "latent": LatentConfig}

# --- Lightning's classes: stricter types than their annotations for some keys --------------

Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
FractionOrCount = NonNegativeInt | Fraction
_MONITOR = {"mode": Literal["min", "max"]}
FOREIGN: dict[type, dict[str, Any]] = {
    Trainer: {
        "accelerator": Literal[("auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators()))],
        "devices": PositiveInt | Literal[-1] | str | list[NonNegativeInt],
        "num_nodes": PositiveInt,
        "max_epochs": PositiveInt,
        "min_epochs": NonNegativeInt | None,
        "max_steps": Annotated[int, Strict(), Field(ge=-1)],
        "fast_dev_run": bool | NonNegativeInt,
        "overfit_batches": FractionOrCount,
        "limit_train_batches": FractionOrCount,
        "limit_val_batches": FractionOrCount,
        "limit_test_batches": FractionOrCount,
        "check_val_every_n_epoch": PositiveInt | None,
        "num_sanity_val_steps": Annotated[int, Strict(), Field(ge=-1)],
        "log_every_n_steps": PositiveInt,
        "accumulate_grad_batches": PositiveInt,
        "gradient_clip_val": NonNegativeNumber | None,
    },
    ModelCheckpoint: {
        **_MONITOR,
        "save_top_k": Annotated[int, Strict(), Field(ge=-1)],
        "every_n_epochs": NonNegativeInt | None,
    },
    EarlyStopping: {**_MONITOR, "patience": PositiveInt, "min_delta": NonNegativeNumber},
    TQDMProgressBar: {"refresh_rate": NonNegativeInt},
    CSVLogger: {"flush_logs_every_n_steps": PositiveInt},
}


# --- checking ----------------------------------------------------------------------------


def validate(config: dict, kind: str = "train") -> None:
    """Raise a ConfigError (one line, naming the key) for the first problem of `config`, a resolved
    config as plain containers; `kind`: train, eval, embed or latent."""
    _check("", config, SCHEMAS[kind])


def _join(path: str, key) -> str:
    key = str(key)
    return f"{path}.{key}" if path and key else path or key


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@cache
def _adapter(schema) -> TypeAdapter:
    return TypeAdapter(schema)


def _check(path: str, value, schema) -> None:
    """`value` against the TypedDict `schema`, then its `_target_` nodes and variant groups."""
    try:
        _adapter(schema).validate_python(value)
    except ValidationError as error:
        raise ConfigError(_message(path, value, schema, error)) from None
    _check_inner(path, value, schema)


def _check_inner(path: str, value: dict, schema) -> None:
    for key, hint in typing.get_type_hints(schema, include_extras=True).items():
        if key not in value:
            continue
        inner, mark = _unwrap(hint)
        if isinstance(mark, Target):
            _check_node(_join(path, key), value[key], mark)
        elif isinstance(mark, Entries):
            _check_entries(_join(path, key), value[key], mark.target)
        elif isinstance(mark, Variants):
            _check(
                _join(path, key), value[key], mark.with_key if mark.key in value[key] else mark.without_key
            )
        elif is_typeddict(inner):
            _check_inner(_join(path, key), value[key], inner)


def _unwrap(hint) -> tuple[Any, Any]:
    """The type inside NotRequired/Required/Annotated, and the Target/Entries/Variants mark."""
    mark = None
    while True:
        origin = typing.get_origin(hint)
        if origin in (Required, NotRequired):
            hint = typing.get_args(hint)[0]
        elif origin is Annotated:
            mark = next((m for m in hint.__metadata__ if isinstance(m, Target | Entries | Variants)), mark)
            hint = hint.__origin__
        else:
            return hint, mark


def _message(path: str, value, schema, error: ValidationError) -> str:
    """One line for the first of pydantic's errors: unknown keys, then missing ones, then the others
    in the config's order."""
    rank, order = {"extra_forbidden": 0, "missing": 1}, list(value) if isinstance(value, dict) else []
    first = min(
        error.errors(),
        key=lambda e: (rank.get(e["type"], 2), order.index(e["loc"][0]) if e["loc"][0] in order else 0),
    )
    # follow the error's location through the schema's groups to the key it is about
    keys, hint, node = [], schema, value
    for part in first["loc"]:
        fields = _fields(hint)
        if fields is None or not isinstance(node, dict) or part not in node and part not in fields:
            break
        keys.append(part)
        hint, node = fields.get(part, Any), node.get(part)
    where, parent = _join(path, ".".join(map(str, keys))), _join(path, ".".join(map(str, keys[:-1])))
    if first["type"] == "extra_forbidden":
        return _unknown(parent, keys[-1], _fields(_parent_hint(schema, keys)))
    if first["type"] == "missing":
        return f"{where} is missing (a required key of {parent or 'the config'})"
    return f"{where} must be {describe(hint)}, got {_show(node)}"


def _parent_hint(schema, keys: list):
    hint = schema
    for key in keys[:-1]:
        hint = _fields(hint)[key]
    return hint


def _fields(hint) -> dict | None:
    inner, _ = _unwrap(hint)
    return typing.get_type_hints(inner, include_extras=True) if is_typeddict(inner) else None


def _unknown(path: str, key: str, known) -> str:
    where = f"{path}: unknown key" if path else "unknown top-level key"
    shown = sorted(set(known) - set(HYDRA_KEYS))
    message = f"{where} {key!r} (known: {', '.join(shown) or 'none, this class takes no settings'})"
    close = difflib.get_close_matches(key, shown, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _check_entries(path: str, value, target: Target) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a group of named nodes or null, got {_show(value)}")
    for key, item in value.items():
        if item is not None:  # e.g. callbacks.progress_bar=null drops that callback
            _check_node(_join(path, key), item, target)


def _is_node(value) -> bool:
    return isinstance(value, dict) and "_target_" in value


def _check_node(path: str, value, target: Target) -> None:
    """A `_target_` node against its class's constructor (see the module doc)."""
    if value is None and target.null:
        return
    known = f" (known: {', '.join(target.builtins)})" if target.builtins else ""
    if not _is_node(value):
        null = " or null" if target.null else ""
        raise ConfigError(f"{path} must be a node with a _target_{known}{null}, got {_show(value)}")
    try:
        factory = get_object(value["_target_"])
        if not callable(factory):
            raise TypeError
    except Exception:  # not importable, or not callable
        raise ConfigError(
            f"{path}._target_ {value['_target_']!r} is not an importable class{known}"
        ) from None
    settings = {key: item for key, item in value.items() if key not in HYDRA_KEYS}
    # settings that are nodes themselves (e.g. the trainer's plugins) are checked as nodes
    nodes = {
        key: item if isinstance(item, list) else [item]
        for key, item in settings.items()
        if _is_node(item) or isinstance(item, list) and item and all(map(_is_node, item))
    }
    _check(path, settings, _settings(factory, target.passed, frozenset(nodes)))
    for key, items in nodes.items():
        for index, item in enumerate(items):
            _check_node(
                f"{_join(path, key)}[{index}]" if len(items) > 1 else _join(path, key), item, Target()
            )


@cache
def _settings(factory, passed: tuple[str, ...], nodes: frozenset[str]):
    """A TypedDict of the keys `factory` takes: its parameters and their annotations (FOREIGN's
    for Lightning's classes), less `passed`; the keys in `nodes` take any value."""
    parameters, takes_any = _parameters(factory)
    overlay = {}
    for klass in reversed(factory.__mro__ if isinstance(factory, type) else ()):
        overlay.update(FOREIGN.get(klass, {}))
    fields = {}
    for name, (hint, required) in parameters.items():
        if name not in passed:
            hint = Any if name in nodes else overlay.get(name, hint)
            fields[name] = (Required if required else NotRequired)[hint if _buildable(hint) else Any]
    schema = TypedDict(f"{getattr(factory, '__name__', 'Node')}Settings", fields)
    schema.__pydantic_config__ = ConfigDict(STRICT, extra="allow" if takes_any else "forbid")
    return schema


def _buildable(hint) -> bool:
    try:
        TypeAdapter(hint, config=STRICT)
    except Exception:  # a type pydantic cannot check (e.g. a name only imported for type checkers)
        return False
    return True


def _parameters(factory) -> tuple[dict[str, tuple[Any, bool]], bool]:
    """{name: (annotation, required)} of the named parameters of a function, or of a class's
    `__init__` and of the base classes' ones that it passes its **kwargs on to (never required:
    the class may pass them itself); and whether it takes any other key (**kwargs that go
    elsewhere, e.g. to wandb.init)."""
    if not isinstance(factory, type):
        inits = [factory]
    else:
        inits = [klass.__dict__["__init__"] for klass in factory.__mro__ if "__init__" in klass.__dict__]
        if inits[0] is object.__init__:
            return {}, False  # a class without an __init__ takes no settings
    found: dict[str, tuple[Any, bool]] = {}
    for depth, init in enumerate(inits):
        hints = _hints(init)
        parameters = list(inspect.signature(init).parameters.values())
        for p in parameters[1:] if isinstance(factory, type) else parameters:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in found:
                found[p.name] = (hints.get(p.name, Any), depth == 0 and p.default is p.empty)
        rest = next((p.name for p in parameters if p.kind == p.VAR_KEYWORD), None)
        if rest is None:
            return found, False
        if not (isinstance(factory, type) and _passes_to_super(init, rest)):
            return found, True
    return found, True


def _passes_to_super(init, rest: str) -> bool:
    """Whether the source of `init` calls `super().__init__(..., **rest)`."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(init))))
    except (OSError, TypeError, SyntaxError):  # no source (a builtin, a compiled class)
        return False
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and isinstance(node.func.value, ast.Call)
        and getattr(node.func.value.func, "id", None) == "super"
        and any(k.arg is None and getattr(k.value, "id", None) == rest for k in node.keywords)
        for node in ast.walk(tree)
    )


def _hints(function) -> dict[str, Any]:
    """The evaluated annotations of `function`; those that do not evaluate are left out."""
    function = inspect.unwrap(function)
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # one name only imported for type checkers: evaluate the others one by one
        hints = {}
        for name, annotation in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = (
                    eval(annotation, function.__globals__) if isinstance(annotation, str) else annotation
                )
            except Exception:
                continue
        return hints


# --- describing the allowed values --------------------------------------------------------


def describe(hint) -> str:
    """The values `hint` allows, in words: 'a positive integer', 'one of noam|constant', ..."""
    inner, _ = _unwrap(hint)
    if is_typeddict(inner):
        return "a config group (key: value lines)"
    while typing.get_origin(hint) in (Required, NotRequired):
        hint = typing.get_args(hint)[0]
    try:
        schema = TypeAdapter(hint, config=STRICT).json_schema()
    except Exception:  # no JSON schema (e.g. an arbitrary class)
        return f"of type {getattr(inner, '__name__', inner)}"
    return _words(schema, schema.get("$defs", {}))


def _words(schema: dict, defs: dict, plural: bool = False) -> str:
    if "$ref" in schema:
        return _words(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, plural)
    if "anyOf" in schema:
        parts, choices = [], []
        for option in schema["anyOf"]:
            if "enum" in option or "const" in option:
                if not choices:
                    parts.append(choices)
                choices += option.get("enum", [option.get("const")])
            else:
                parts.append(_words(option, defs, plural))
        parts = [_choices(p) if isinstance(p, list) else p for p in parts]
        return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]
    if "enum" in schema or "const" in schema:
        return _choices(schema.get("enum", [schema.get("const")]))
    kind = schema.get("type")
    if kind == "integer":
        return _integer(schema, plural)
    if kind == "number":
        return _number(schema, plural)
    if kind == "array":
        items = schema.get("items")
        count = schema.get("minItems") if schema.get("minItems") == schema.get("maxItems") else None
        size = f"{count} " if count is not None else ""
        return ("lists" if plural else "a list") + (f" of {size}{_words(items, defs, True)}" if items else "")
    words = {
        "boolean": ("true or false", "true or false"),
        "string": ("a string", "strings"),
        "null": ("null", "null"),
        "object": ("a config group (key: value lines)", "config groups"),
    }
    return words.get(kind, ("any value", "any values"))[plural]


def _choices(values: list) -> str:
    shown = list(dict.fromkeys(map(str, values)))  # 16 and '16' read the same
    return shown[0] if len(shown) == 1 else "one of " + "|".join(shown)


def _integer(schema: dict, plural: bool) -> str:
    low = schema.get("minimum", schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else None)
    high = schema.get("maximum", schema["exclusiveMaximum"] - 1 if "exclusiveMaximum" in schema else None)
    noun = "integers" if plural else "an integer"
    if high is None and low in (0, 1):
        word = "positive" if low == 1 else "non-negative"
        return f"{word} integers" if plural else f"a {word} integer"
    if low is not None and high is not None:
        return f"{noun} in [{low}, {high}]"
    if low is not None:
        return f"{noun} >= {low}"
    return f"{noun} <= {high}" if high is not None else noun


def _number(schema: dict, plural: bool) -> str:
    noun = "numbers" if plural else "a number"
    if schema.get("exclusiveMinimum") == 0 and "maximum" not in schema:
        return "positive numbers" if plural else "a positive number"
    if schema.get("minimum") == 0 and "maximum" not in schema:
        return "non-negative numbers" if plural else "a non-negative number"
    if "minimum" in schema and "maximum" in schema:
        return f"{noun} in [{schema['minimum']}, {schema['maximum']}]"
    return noun


def check_node(path: str, node: dict, target: Target = Target()) -> None:
    """Check one `_target_` node (e.g. a data module's settings in Python) as `validate` does."""
    _check_node(path, node, target)
