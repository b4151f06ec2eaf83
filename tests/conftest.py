"""Fixtures that compose the real Hydra config (conf/) into a temporary run dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

# small, quick settings that keep the real pipeline (data, model, callbacks, logger)
FAST = [
    "data.n_train=1024", "data.n_val=512", "data.n_test=512", "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
]


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/<name>.yaml as Hydra would for a run whose run dir is `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg


@pytest.fixture
def train_config(tmp_path):
    """make(*overrides) -> the composed train config with FAST settings, run dir in tmp_path."""
    def make(*overrides: str, fast: bool = True, output_dir: Path | None = None) -> DictConfig:
        return compose_config("train", (FAST if fast else []) + list(overrides), output_dir or tmp_path)
    return make


def run_cli(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run src/<script> as a user would, from the repository root."""
    return subprocess.run([sys.executable, str(ROOT / "src" / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
