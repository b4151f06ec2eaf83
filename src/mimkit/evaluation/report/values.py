"""Override values as the report compares, orders and prints them (numbers, strings, lists,
None)."""

from __future__ import annotations

import json
from typing import Any


def is_number(value: Any) -> bool:
    """An int or float, booleans excluded."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def hashable(value: Any) -> Any:
    """`value`, lists and dicts as their JSON text, so that any value can key a dict or a set."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (list, dict)) else value


def format_value(value: Any) -> str:
    """The text of a value in labels and tables: None as "none"."""
    return "none" if value is None else str(value)


def sort_key(value: Any) -> tuple:
    """Numbers first, in numeric order; then everything else by its text."""
    return (0, value, "") if is_number(value) else (1, 0, format_value(value))
