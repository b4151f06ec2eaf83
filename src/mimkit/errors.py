"""The errors a user can cause, in a leaf module that every other one may import."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad value in the run config (or a bad file it names); the message names the key."""


def one_line(error: BaseException, limit: int | None = None) -> str:
    """An exception as one line: its type (when not self-explanatory) and its message, every run
    of whitespace (newlines too) made one space, the message cut to its first `limit` characters."""
    text = " ".join(str(error).split())[:limit]
    return text if isinstance(error, ConfigError) else f"{type(error).__name__}: {text}"
