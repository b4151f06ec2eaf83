"""The errors a user can cause, in a leaf module that every other one may import."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad value in the run config (or a bad file it names); the message names the key."""


def one_line(error: BaseException) -> str:
    """An exception as one line: its type (when not self-explanatory) and its message."""
    text = " ".join(str(error).split())
    return text if isinstance(error, ConfigError) else f"{type(error).__name__}: {text}"
