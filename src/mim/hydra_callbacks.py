"""Hydra callbacks: fail fast, in one line, when the run (or sweep) dir cannot be written."""

from __future__ import annotations

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mim.config import unwritable_reason


class CheckOutputDir(Callback):
    def _check(self, key: str, path: str) -> None:
        reason = unwritable_reason(path)
        if reason:
            print(f"error: {key} {path!r} is not writable: {reason}", file=sys.stderr)
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)  # so ${hydra:...} in the dir resolves
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        HydraConfig.instance().set_config(config)
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)
