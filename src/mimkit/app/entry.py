"""The Hydra entry points, shared by `python src/train.py` and the console scripts.

`python src/train.py ARGS` and `mimkit-train ARGS` (pyproject's [project.scripts]) run the same
`train()` below; likewise eval/`mimkit-eval`, embed/`mimkit-embed` and latent/`mimkit-latent`
(`mimkit-report` is `mimkit.evaluation.report.main`, not a Hydra app). Importing this module first applies
the entry points' glibc allocator settings (`mimkit.app.allocator`: before torch allocates anything,
so this module is imported before torch) and sets PROJECT_ROOT, the checkout whose `conf/` is
composed and whose folders `paths.*` default to: the environment's value if set, else the
checkout this package lives in (an editable install or `src/` on the path).
"""

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mimkit.app.allocator import configure_allocator

configure_allocator()  # before torch allocates anything: glibc keeps freed memory (set only here)

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from mimkit.app.cli import run_task  # noqa: E402
from mimkit.app.config import to_plain  # noqa: E402

PROJECT_ROOT = Path(os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[3])))
CONFIG_DIR = PROJECT_ROOT / "conf"


def lazy_task(kind: str, module: str, name: str) -> Callable[[DictConfig], dict]:
    """The task `module.name`, imported once the config of `kind` passed the schema: a config
    error is reported before Lightning and the rest are imported (the task validates again, at
    no cost)."""

    def task(cfg: DictConfig) -> dict:
        from mimkit.app.schema import validate

        validate(to_plain(cfg), kind)
        return getattr(importlib.import_module(module), name)(cfg)

    return task


def hydra_entry(config_name: str, task: Callable[[DictConfig], dict]) -> Callable[[], float | None]:
    """A command-line main composing conf/<config_name>.yaml and running `task` on it through
    `mimkit.app.cli.run_task` (one-line errors, the final report)."""

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    def main(cfg: DictConfig) -> float | None:
        return run_task(task, cfg)

    def checked_main() -> float | None:
        if not (CONFIG_DIR / f"{config_name}.yaml").is_file():
            sys.exit(
                f"error: no {config_name}.yaml in {CONFIG_DIR}: set PROJECT_ROOT to a checkout with conf/"
            )
        return main()

    return checked_main


train = hydra_entry("train", lazy_task("train", "mimkit.app.run", "train"))
evaluate = hydra_entry("eval", lazy_task("eval", "mimkit.app.run", "evaluate"))
embed = hydra_entry("embed", lazy_task("embed", "mimkit.app.embeddings", "embed"))
latent = hydra_entry("latent", lazy_task("latent", "mimkit.app.latent", "latent"))
