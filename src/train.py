"""Train a MIM / A-MIM / VAE model: `python src/train.py [overrides]` (see README)."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from mim.cli import run_task
from mim.run import train


os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return run_task(train, cfg)


if __name__ == "__main__":
    main()
