"""Config checks and conversions shared by the entry points.

The whole run config is checked against its schema (mimkit.schema) before any data is drawn, any
model built or any file written, so a typo such as `model.hidden=-5`, `data.batch_size=abc` or
`+data.n_trian=5` ends at once with one line naming the key and the values it allows.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A bad value in the run config; the message names the key."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(name: str, value) -> int:
    """`value` if it is a positive integer, else a ConfigError naming `name`."""
    if not (_is_int(value) and value > 0):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_config(cfg: dict, schema: str = "train") -> None:
    """Raise a ConfigError naming the key for the first value of the resolved config `cfg` that
    its schema (`mimkit.schema.TRAIN`, `EVAL` or `EMBED`) does not allow: a wrong type, an unknown
    key, a value out of range."""
    from mimkit import schema as schemas  # imports the data, model and objective modules

    schemas.validate(cfg, {"train": schemas.TRAIN, "eval": schemas.EVAL, "embed": schemas.EMBED}[schema])


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain Python containers (safe for weights_only checkpoints)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def one_line(error: BaseException) -> str:
    """An exception as one line: its type (when not self-explanatory) and its message."""
    text = " ".join(str(error).split())
    return text if isinstance(error, ConfigError) else f"{type(error).__name__}: {text}"


def unwritable_reason(path: str) -> str | None:
    """None if the folder `path` can be created and written to, else why not."""
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        return error.strerror or type(error).__name__
    return None
