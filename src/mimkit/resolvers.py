"""OmegaConf resolvers of the configs (registered when `mimkit` is imported).

`${mimkit.either:A,B}`: A unless it is null or empty, else B.
`${mimkit.when:A,TEXT}`: TEXT if A is set (not null, not empty), else "".
conf/hydra/default.yaml uses them to put a run resumed with `resume=RUN_DIR` back in RUN_DIR.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def _set(value) -> bool:
    return value is not None and value != ""


def either(value, fallback):
    return value if _set(value) else fallback


def when(value, text: str) -> str:
    return text if _set(value) else ""


def register() -> None:
    for name, function in (("mimkit.either", either), ("mimkit.when", when)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register()
