"""Config checks and conversions shared by the entry points.

Every size in the run config is checked before any data is drawn or model built, so a typo
such as `model.hidden=-5` or `data.batch_size=abc` ends at once with one line naming the key.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

POSITIVE_INTS = {"hidden", "latent_dim", "x_dim", "batch_size", "eval_batch_size", "n_train",
                 "n_val", "n_test", "components", "pseudo_inputs", "qx_samples", "max_epochs",
                 "patience", "nll_samples", "mi_pairs", "ksg_k", "threads"}
NON_NEGATIVE_INTS = {"warmup", "seed", "data_seed"}


class ConfigError(ValueError):
    """A bad value in the run config; the message names the key."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(name: str, value) -> int:
    """`value` if it is a positive integer, else a ConfigError naming `name`."""
    if not (_is_int(value) and value > 0):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_config(cfg, prefix: str = "") -> None:
    """Raise ConfigError for the first size that is not a positive (or non-negative) integer."""
    items = cfg.items() if isinstance(cfg, dict) else enumerate(cfg) if isinstance(cfg, list) else ()
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)):
            check_config(value, f"{name}.")
        elif key in POSITIVE_INTS and value is not None and not (_is_int(value) and value > 0):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        elif key in NON_NEGATIVE_INTS and value is not None and not (_is_int(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    if prefix == "" and isinstance(cfg, dict):
        lr = cfg.get("optim", {}).get("lr")
        if lr is not None and not (isinstance(lr, (int, float)) and lr > 0):
            raise ConfigError(f"optim.lr must be a positive number, got {lr!r}")


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
