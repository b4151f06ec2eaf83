"""The run config, checked against the constructors' signatures (docs/decisions/config-schema.md).

`validate(config, kind)` runs on the resolved config (plain containers) before any data are read or
any file written. A `_target_` node is checked by pydantic against its target's signature: the
parameters are the keys and their annotations (`mimkit.fields`) the rules, so any importable class
works, a user's own included. A class whose `__init__` takes **kwargs takes its base classes' keys
too. The groups that no constructor takes whole (the top level, `paths`, `optim`, `model`) are the
dicts below. The first problem ends the run with one line naming the key:

    model.hidden must be greater than 0, got -5
    data: unknown key 'n_trian' (known: batch_size, ...); did you mean 'n_train'?

The groups of the model, prior, objective, optim and data are checked before the trainer, the
callbacks and the logger, so that their errors come before Lightning is imported.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from functools import cache
from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
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
# the constructor parameters that the code passes itself, by node (not config keys)
PASSED = {
    "prior": ("latent_dim", "encoder"),
    "optim.optimizer": ("params", "lr"),
    "trainer": ("callbacks", "logger"),
}
HEAVY = ("trainer", "callbacks", "logger")  # checked last: their classes import Lightning

Node = Annotated[dict, "node"]  # a `_target_` node
NodeOrNull = Annotated[dict | None, "node"]
Nodes = Annotated[dict | None, "nodes"]  # named `_target_` nodes (callbacks, loggers); null drops one
Model = Annotated[dict, "model"]  # FLAT or TWO_LEVEL, by whether it has a conditional_prior


def typed(spec: dict) -> Any:
    """A group's keys as a strict TypedDict (only the keys marked Required are)."""
    schema = TypedDict("Group", spec, total=False)
    schema.__pydantic_config__ = STRICT
    return schema


def group(spec: dict) -> Any:
    return Annotated[dict, typed(spec)]


PATHS = {
    "root_dir": str,
    "data_dir": str,
    "shared_data_dir": str,
    "log_dir": str,
    "output_dir": Required[str],
}
OPTIM = {
    "lr": Required[PositiveNumber],
    "schedule": Required[Schedule],
    "warmup": NonNegativeInt,
    "grad_norm": GradNorm,
    "optimizer": Node,  # a torch.optim class, called with (params, lr=optim.lr)
}
MODEL = {
    "encoder": Required[Node],
    "decoder": Required[Node],
    "hidden": PositiveInt,
    "decoder_z": DecoderZ,  # read by objective=mim
    "x_per_z": PositiveInt,  # read by objective=mim
    "eval_recon": bool | Literal["test"],  # at every validation and test (true), in tests only, never
    "vamp": group({"activation": Activation, "init_mean": Number, "init_std": NonNegativeNumber}),
}
FLAT = typed({**MODEL, "latent_dim": Required[PositiveInt], "x_shape": list[PositiveInt]})
TWO_LEVEL = typed(
    {
        **MODEL,
        "x_shape": Required[Shape],
        "z1_dim": Required[PositiveInt],
        "z2_dim": Required[PositiveInt],
        "channels": PositiveInt,
        "conditional_prior": Required[Node],
    }
)
RUNNER = {
    "trainer": Required[Node],
    "paths": Required[group(PATHS)],
    "task_name": str,
    "callbacks": Nodes,
    "logger": Nodes,
    "float32_precision": Float32Precision,
    "allow_emulated_bf16": bool,
}
TRAIN = {
    **RUNNER,
    "seed": Required[NonNegativeInt],
    "optim": Required[group(OPTIM)],
    "model": Required[Model],  # before the nodes that read its keys (objective.decoder_z)
    **{name: Required[Node] for name in ("data", "prior", "objective")},
    "threads": PositiveInt | None,
    "warmup": NonNegativeInt,
    "patience": PositiveInt,
    "ckpt_path": str | None,
    "resume": str | None,
    "skip_finished": bool,
    "optimized_metric": str | None,
    "tags": list[str | int],
}
EVAL = {**RUNNER, "ckpt_path": Required[str], "data_overrides": dict}
EMBED = {
    "ckpt_path": Required[str],
    "paths": Required[group(PATHS)],
    "task_name": str,
    "split": Literal["train", "val", "test"],
    "batch_size": PositiveInt,
    "device": Literal["cpu", "cuda", "auto"],
    "seed": NonNegativeInt,
    "data": NodeOrNull,
    "data_overrides": dict,
}
LATENT = {
    **EMBED,
    "tool": Literal["interpolate", "traverse", "sample_around", "consistency"],
    "points": PositiveInt | None,
    "indices": Annotated[list[NonNegativeInt], Field(min_length=1)] | None,
    "mean": bool | None,
    "steps": Steps,
    "path": PathKind,
    "dims": list[NonNegativeInt] | None,
    "values": list[Number],
    "absolute": bool,
    "scale": NonNegativeNumber,
    "n": PositiveInt,
}
SCHEMAS = {
    kind: typed(spec)
    for kind, spec in [("train", TRAIN), ("eval", EVAL), ("embed", EMBED), ("latent", LATENT)]
}


def validate(config: dict, kind: str = "train") -> None:
    """Raise a ConfigError (one line, naming the key) for the first problem of `config`, a resolved
    config as plain containers; `kind`: train, eval, embed or latent."""
    _check_group("", config, SCHEMAS[kind])


def check_node(path: str, node: dict) -> None:
    """Check one `_target_` node (e.g. a data module's settings in Python) as `validate` does."""
    _check_node(path, node)


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _mark(hint) -> Any:
    """The TypedDict or the word ('node', 'nodes', 'model') of a group's hint, else None."""
    while typing.get_origin(hint) in (Required, NotRequired):
        hint = typing.get_args(hint)[0]
    meta = getattr(hint, "__metadata__", (None,))[0]
    return meta if isinstance(meta, str) or is_typeddict(meta) else None


def _check_group(path: str, value: dict, schema) -> None:
    """`value` against the TypedDict `schema`, then its groups and nodes (Lightning's last)."""
    _check(path, value, schema)
    for key in sorted(schema.__annotations__, key=lambda key: key in HEAVY):
        mark, where, item = _mark(schema.__annotations__[key]), _join(path, key), value.get(key)
        if item is None:
            continue
        if is_typeddict(mark):
            _check_group(where, item, mark)
        elif mark == "model":
            _check_group(where, item, TWO_LEVEL if "conditional_prior" in item else FLAT)
        elif mark == "node":
            _check_node(where, item)
        elif mark == "nodes":
            for name, node in item.items():
                if node is not None:
                    _check_node(_join(where, name), node)


def _check(path: str, value, schema) -> None:
    """`value` against a TypedDict `schema`; its first error as one line: unknown keys first, then
    missing ones, then the others in the config's order."""
    try:
        _adapter(schema).validate_python(value)
    except ValidationError as error:
        order = list(value) if isinstance(value, dict) else []
        rank = {"extra_forbidden": 0, "missing": 1}
        errors = error.errors()
        first = min(
            errors,
            key=lambda e: (rank.get(e["type"], 2), order.index(e["loc"][0]) if e["loc"][0] in order else 0),
        )
        key = first["loc"][0]
        if first["type"] == "extra_forbidden":
            known = sorted(set(schema.__annotations__) - set(HYDRA_KEYS))
            raise ConfigError(_unknown(path, key, known)) from None
        if first["type"] == "missing":
            raise ConfigError(
                f"{_join(path, key)} is missing (a required key of {path or 'the config'})"
            ) from None
        where, item = _join(path, key), value[key]
        for part in first["loc"][1:]:  # into a list: its bad item
            if isinstance(part, int) and isinstance(item, list):
                where, item = f"{where}[{part}]", item[part]
        wants = dict.fromkeys(e["msg"] for e in errors if e["loc"][0] == key)
        prefix = "Input should be "
        if all(want.startswith(prefix) for want in wants):
            raise ConfigError(
                f"{where} must be {' or '.join(w[len(prefix) :] for w in wants)}, got {_show(item)}"
            ) from None
        raise ConfigError(f"{where}: {'; '.join(wants)}, got {_show(item)}") from None


@cache
def _adapter(schema) -> TypeAdapter:
    return TypeAdapter(schema)


def _unknown(path: str, key: str, known: list[str]) -> str:
    where = f"{path}: unknown key" if path else "unknown top-level key"
    message = f"{where} {key!r} (known: {', '.join(known) or 'none, this class takes no settings'})"
    close = difflib.get_close_matches(key, known, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _is_node(value) -> bool:
    return isinstance(value, dict) and "_target_" in value


def _check_node(path: str, value) -> None:
    """A `_target_` node against its target's signature; settings that are nodes themselves (e.g.
    the trainer's plugins and strategy) are checked as nodes."""
    if not _is_node(value):
        raise ConfigError(f"{path} must be a node with a _target_, got {_show(value)}")
    try:
        factory = _locate(value["_target_"])
        if not callable(factory):
            raise TypeError
    except Exception:  # not importable, or not callable
        raise ConfigError(
            f"{path}._target_ {value['_target_']!r} is not an importable class or function"
        ) from None
    settings = {key: item for key, item in value.items() if key not in HYDRA_KEYS}
    nodes = {
        key: item if isinstance(item, list) else [item]
        for key, item in settings.items()
        if _is_node(item) or isinstance(item, list) and item and all(map(_is_node, item))
    }
    _check(path, settings, _settings(factory, PASSED.get(path, ()), frozenset(nodes)))
    for key, items in nodes.items():
        for index, item in enumerate(items):
            _check_node(f"{_join(path, key)}[{index}]" if len(items) > 1 else _join(path, key), item)


def _locate(target: str) -> Any:
    """The object named by a dotted path: the longest importable module, then its attributes."""
    parts = target.split(".")
    for end in range(len(parts) - 1, 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for part in parts[end:]:
            found = getattr(found, part)
        return found
    raise ImportError(target)


@cache
def _settings(factory, passed: tuple[str, ...], nodes: frozenset[str]):
    """A TypedDict of the keys `factory` takes: its signature's (of a class, its `__init__`'s), less
    `passed`; the keys in `nodes` take any value; with **kwargs, any other key too."""
    init = (
        next(k.__dict__["__init__"] for k in factory.__mro__ if "__init__" in k.__dict__)
        if isinstance(factory, type)
        else factory
    )
    parameters = [] if init is object.__init__ else list(inspect.signature(init).parameters.values())
    fields = {
        p.name: (Required if p.default is p.empty else NotRequired)[
            Any if p.name in nodes else _hint(p.annotation, init)
        ]
        for p in parameters[isinstance(factory, type) :]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in passed
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters) and init.__qualname__ != "Module.__init__"
    schema = TypedDict(f"{getattr(factory, '__name__', 'Node')}Settings", fields)
    schema.__pydantic_config__ = ConfigDict(STRICT, extra="allow" if takes_any else "forbid")
    return schema


def _hint(annotation, function) -> Any:
    """An annotation, evaluated (`from __future__ import annotations`), if pydantic can check it."""
    if annotation is inspect.Parameter.empty:
        return Any
    try:
        if isinstance(annotation, str):
            annotation = eval(annotation, inspect.unwrap(function).__globals__)
        return annotation if TypeAdapter(annotation, config=STRICT).pydantic_complete else Any
    except Exception:  # a name only imported for type checkers, a type pydantic cannot check
        return Any
