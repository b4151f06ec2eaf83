"""Train a MIM / A-MIM / VAE model: `python src/train.py [overrides]` (see README)."""

import os
from pathlib import Path

from mimkit.allocator import configure_allocator

configure_allocator()  # before torch allocates anything: glibc keeps freed memory (Makefile's settings)

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from mimkit.cli import run_task  # noqa: E402
from mimkit.run import train  # noqa: E402

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return run_task(train, cfg)


if __name__ == "__main__":
    main()
