"""Reading a multirun's job directories: overrides, stored config, config-group choices and the
final metrics (metrics.json) of each job."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException

from mimkit.evaluation.report.messages import warn
from mimkit.evaluation.report.values import is_number


@dataclass
class Job:
    """One job of a multirun: its directory, overrides, composed config and final metrics."""

    path: Path
    overrides: dict[str, Any]
    config: dict
    choices: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        """`key`'s value: the override if given, else the config-group choice, else the config."""
        if key in self.overrides:
            return self.overrides[key]
        if key in self.choices:
            return self.choices[key]
        return config_value(self.config, key)


def parse_overrides(lines: Iterable[str], source: str | Path = "overrides") -> dict[str, Any]:
    """Hydra's overrides.yaml list ("key=value", "+key=value", "~key") as {key: value}, each value
    read by Hydra's own override grammar; deletions (~key) carry no value and are left out.

    Raises ValueError naming `source` and the line that does not parse.
    """
    lines = [str(line) for line in lines]
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except OverrideParseException as error:
        reason = str(error).splitlines()[0]
        raise ValueError(f"{source}: cannot parse override {error.override!r}: {reason}") from None
    return {
        override.get_key_element().lstrip("+"): override.value()
        for override in parsed
        if not override.is_delete()
    }


def lookup(config: Any, key: str) -> Any:
    """The value at dotted `key` in nested dicts, or None."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def config_value(config: dict, key: str) -> Any:
    """`key` in a stored (unresolved) Hydra config, interpolations such as ${model.hidden}
    resolved where possible (the raw value where they cannot be, e.g. ${hydra:...})."""
    raw = lookup(config, key)
    if not (isinstance(raw, str) and "${" in raw):
        return raw
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.select(OmegaConf.create(config), key)
    except OmegaConfBaseException:
        return raw


def read_yaml(path: Path, default: Any) -> Any:
    """A YAML file's content; `default` if it is missing, empty or unreadable (with a warning)."""
    if not path.is_file():
        return default
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        warn(f"{path}: unreadable YAML ({error.__class__.__name__}); ignored")
        return default
    return default if loaded is None else loaded


def _job_order(path: Path) -> tuple:
    return (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name)


def job_dirs(multirun: Path) -> list[Path]:
    """The job directories of a multirun (sub-directories with a `.hydra` folder), in job order.

    A single run directory (one with its own `.hydra`) counts as a multirun of one job.
    """
    if (multirun / ".hydra").is_dir():
        return [multirun]
    return sorted((p for p in multirun.iterdir() if p.is_dir() and (p / ".hydra").is_dir()), key=_job_order)


def read_metrics(path: Path) -> dict[str, float] | None:
    """The numeric entries of a metrics.json, or None if it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {k: float(v) for k, v in data.items() if is_number(v)}


def read_job(path: Path) -> Job | None:
    """One job; None (with a warning) if it has no readable metrics.json."""
    metrics = read_metrics(path / "metrics.json")
    if metrics is None:
        warn(f"skipping job {path}: no readable metrics.json (failed or unfinished)")
        return None
    hydra_dir = path / ".hydra"
    overrides_file = hydra_dir / "overrides.yaml"
    overrides = parse_overrides(read_yaml(overrides_file, []), overrides_file)
    config = read_yaml(hydra_dir / "config.yaml", {})
    hydra_cfg = read_yaml(hydra_dir / "hydra.yaml", {})
    choices = lookup(hydra_cfg, "hydra.runtime.choices") or {}
    choices = {str(k): v for k, v in choices.items() if isinstance(v, str)}
    return Job(path=path, overrides=overrides, config=config, choices=choices, metrics=metrics)
