"""The run config, checked against the constructors' signatures (docs/decisions/config-schema.md).

`validate(config, kind)` runs on the resolved config before any data are read or files written. A
`_target_` node is checked by pydantic against its target's signature: the parameters are the keys,
their annotations (`mimkit.fields`) the rules; **kwargs take any key. The groups without a constructor
are the dicts below. The model, optim, data, prior and objective come before the nodes that import
Lightning. The first problem is one line: `model.hidden must be greater than 0, got -5`.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from functools import cache
from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import ConfigDict, Field, ImportString, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict, is_typeddict

from mimkit.app.precision import Float32Precision
from mimkit.errors import ConfigError
from mimkit.fields import NonNegativeInt, NonNegativeNumber, Number, PositiveInt, PositiveNumber, Shape
from mimkit.model.latent_paths import PathKind, Steps
from mimkit.model.objectives.mim import DecoderZ
from mimkit.model.priors.vamp import Activation
from mimkit.training.gradients import GradNorm
from mimkit.training.schedules import Schedule

STRICT = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
# the parameters that the code passes itself (not config keys), by node
PASSED: dict[str, tuple[str, ...]] = {"prior": ("latent_dim", "encoder"), "trainer": ("callbacks", "logger")}
PASSED["optim.optimizer"] = ("params", "lr")
PASSED |= dict.fromkeys(("model.encoder", "model.decoder"), ("vocab_size",))  # token models: the vocabulary
HEAVY = ("trainer", "callbacks", "logger")  # checked last: their classes import Lightning

Node = Annotated[dict, "node"]  # a `_target_` node
Nodes = Annotated[dict | None, "nodes"]  # named `_target_` nodes (callbacks, loggers); a null one is dropped
Model = Annotated[dict, "model"]  # TWO_LEVEL with a conditional_prior, else FLAT


# a TypedDict built at run time (mypy checks only literal ones); Required: required keys
typed = lambda spec: with_config(STRICT)(TypedDict("Group", spec, total=False))  # type: ignore[operator]
group = lambda spec: Annotated[dict, typed(spec)]  # a group of fixed keys inside another


PATHS = dict(root_dir=str, data_dir=str, shared_data_dir=str, log_dir=str, output_dir=Required[str])
# optim.optimizer: a torch.optim class, called with (params, lr=optim.lr)
OPTIM = dict(lr=Required[PositiveNumber], schedule=Required[Schedule], warmup=NonNegativeInt)
OPTIM |= dict(grad_norm=GradNorm, optimizer=Node)
VAMP = dict(activation=Activation, init_mean=Number, init_std=NonNegativeNumber)
# decoder_z, x_per_z: read by objective=mim; eval_recon: at every evaluation (true), in tests only, never
MODEL = dict(encoder=Required[Node], decoder=Required[Node], hidden=PositiveInt, vamp=group(VAMP))
MODEL |= dict(decoder_z=DecoderZ, x_per_z=PositiveInt, eval_recon=bool | Literal["test"])
MODEL |= dict(tokens=bool)  # the model reads token sequences (data=smiles|text), sized by their vocabulary
FLAT = typed(MODEL | dict(latent_dim=Required[PositiveInt], x_shape=list[PositiveInt]))
TWO_LEVEL = MODEL | dict(x_shape=Required[Shape], z1_dim=Required[PositiveInt], z2_dim=Required[PositiveInt])
TWO_LEVEL = typed(TWO_LEVEL | dict(channels=PositiveInt, conditional_prior=Required[Node]))
RUNNER = dict(trainer=Required[Node], paths=Required[group(PATHS)], task_name=str, callbacks=Nodes)
RUNNER |= dict(logger=Nodes, float32_precision=Float32Precision, allow_emulated_bf16=bool)
# the model before the nodes that read its keys (objective.decoder_z)
TRAIN = RUNNER | dict(seed=Required[NonNegativeInt], optim=Required[group(OPTIM)], model=Required[Model])
TRAIN |= dict(data=Required[Node], prior=Required[Node], objective=Required[Node], threads=PositiveInt | None)
TRAIN |= dict(warmup=NonNegativeInt, patience=PositiveInt, ckpt_path=str | None, resume=str | None)
TRAIN |= dict(skip_finished=bool, optimized_metric=str | None, tags=list[str | int])
EVAL = RUNNER | dict(ckpt_path=Required[str], data_overrides=dict)
EMBED = dict(ckpt_path=Required[str], paths=Required[group(PATHS)], task_name=str, seed=NonNegativeInt)
EMBED |= dict(split=Literal["train", "val", "test"], device=Literal["cpu", "cuda", "auto"])
EMBED |= dict(batch_size=PositiveInt, data=Annotated[dict | None, "node"], data_overrides=dict)
LATENT = EMBED | dict(tool=Literal["interpolate", "traverse", "sample_around", "consistency"])
LATENT |= dict(points=PositiveInt | None, indices=Annotated[list[NonNegativeInt], Field(min_length=1)] | None)
LATENT |= dict(mean=bool | None, steps=Steps, path=PathKind, dims=list[NonNegativeInt] | None)
LATENT |= dict(values=list[Number], absolute=bool, scale=NonNegativeNumber, n=PositiveInt)
SCHEMAS = {"train": typed(TRAIN), "eval": typed(EVAL), "embed": typed(EMBED), "latent": typed(LATENT)}


def validate(config: dict, kind: str = "train") -> None:
    """Raise a ConfigError (one line, naming the key) for the first problem of `config`, a resolved
    config as plain containers; `kind`: train, eval, embed or latent."""
    _check_group("", config, SCHEMAS[kind])


_join = lambda path, key: f"{path}.{key}" if path else str(key)
_show = lambda value: repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
_is_node = lambda value: isinstance(value, dict) and "_target_" in value
_adapter = cache(TypeAdapter)


def _check_group(path: str, value: dict, schema) -> None:
    """`value` against the TypedDict `schema`, then its groups and nodes (Lightning's last)."""
    _check(path, value, schema)
    for key in sorted(schema.__annotations__, key=lambda key: key in HEAVY):
        hint, where, item = schema.__annotations__[key], _join(path, key), value.get(key)
        hint = typing.get_args(hint)[0] if typing.get_origin(hint) in (Required, NotRequired) else hint
        mark = getattr(hint, "__metadata__", (None,))[0]
        if item is None:
            continue
        if mark == "model":
            mark = TWO_LEVEL if "conditional_prior" in item else FLAT
        if is_typeddict(mark):
            _check_group(where, item, mark)
        elif mark == "node":
            check_node(where, item)
        elif mark == "nodes":
            for name in [name for name, node in item.items() if node is not None]:
                check_node(_join(where, name), item[name])


def _check(path: str, value: dict, schema) -> None:
    """`value` against a TypedDict `schema`; its first error as one line: unknown keys first, then
    missing ones, then the others in the config's order."""
    try:
        _adapter(schema).validate_python(value)
    except ValidationError as error:
        errors, rank = error.errors(), {"extra_forbidden": -2, "missing": -1}
        first = min(errors, key=lambda e: rank.get(e["type"]) or [*value, e["loc"][0]].index(e["loc"][0]))
        key, where = first["loc"][0], _join(path, first["loc"][0])
        if first["type"] == "extra_forbidden":  # the known keys, and the closest to this one
            known = sorted(set(schema.__annotations__) - set(HYDRA_KEYS))
            close = [f"; did you mean {m!r}?" for m in difflib.get_close_matches(key, known, n=1)]
            shown = ", ".join(known) or "none, this class takes no settings"
            where = f"{path}: unknown key" if path else "unknown top-level key"
            raise ConfigError(f"{where} {key!r} (known: {shown}){''.join(close)}") from None
        if first["type"] == "missing":
            raise ConfigError(f"{where} is missing (a required key of {path or 'the config'})") from None
        item = value[key]
        for part in first["loc"][1:]:  # into a list: its bad item
            if isinstance(part, int) and isinstance(item, list):
                where, item = f"{where}[{part}]", item[part]
        wants, prefix = dict.fromkeys(e["msg"] for e in errors if e["loc"][0] == key), "Input should be "
        if all(want.startswith(prefix) for want in wants):
            wanted = " or ".join(want[len(prefix) :] for want in wants)
            raise ConfigError(f"{where} must be {wanted}, got {_show(item)}") from None
        raise ConfigError(f"{where}: {'; '.join(wants)}, got {_show(item)}") from None


def check_node(path: str, value) -> None:
    """A `_target_` node (e.g. a data module's settings in Python) against its target's signature;
    settings that are nodes themselves (the trainer's plugins and strategy) are checked as nodes."""
    if not _is_node(value):
        raise ConfigError(f"{path} must be a node with a _target_, got {_show(value)}")
    target = value["_target_"]
    try:
        factory = _adapter(ImportString).validate_python(target)
    except ValidationError:
        raise ConfigError(f"{path}._target_ {target!r} is not an importable class or function") from None
    settings = {key: item for key, item in value.items() if key not in HYDRA_KEYS}
    nodes = {
        key: item if isinstance(item, list) else [item]
        for key, item in settings.items()
        if _is_node(item) or isinstance(item, list) and item and all(map(_is_node, item))
    }
    _check(path, settings, _settings(factory, PASSED.get(path, ()), frozenset(nodes)))
    for key, items in nodes.items():
        for index, item in enumerate(items):
            check_node(f"{_join(path, key)}[{index}]" if len(items) > 1 else _join(path, key), item)


@cache
def _settings(factory, passed: tuple[str, ...], nodes: frozenset[str]):
    """A TypedDict of the keys `factory` takes: its signature's (a class's `__init__`'s), less
    `passed`; the keys in `nodes` take any value; with **kwargs, any other key too."""
    init, fields = factory, {}
    if isinstance(factory, type):  # its __init__: the first in its MRO
        init = next(k.__dict__["__init__"] for k in factory.__mro__ if "__init__" in k.__dict__)
    parameters = [] if init is object.__init__ else list(inspect.signature(init).parameters.values())
    for p in parameters[isinstance(factory, type) :]:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in passed:
            hint = Any if p.name in nodes or p.annotation is p.empty else _hint(p.annotation, init)
            fields[p.name] = (Required if p.default is p.empty else NotRequired)[hint]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters) and init.__qualname__ != "Module.__init__"
    # a TypedDict built at run time from the signature (mypy checks only literal ones)
    schema = TypedDict(f"{getattr(factory, '__name__', 'Node')}Settings", fields)  # type: ignore[misc]
    return with_config(ConfigDict(STRICT, extra="allow" if takes_any else "forbid"))(schema)  # type: ignore[misc]


def _hint(annotation, function) -> Any:
    """An annotation, evaluated (`from __future__ import annotations`), if pydantic can check it
    (not a name imported for type checkers only, nor a type pydantic cannot check), else Any."""
    try:
        if isinstance(annotation, str):
            annotation = eval(annotation, inspect.unwrap(function).__globals__)
        return annotation if TypeAdapter(annotation, config=STRICT).pydantic_complete else Any
    except Exception:
        return Any
