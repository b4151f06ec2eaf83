"""OmegaConf resolvers of the configs (registered when `mimkit` is imported).

`${mimkit.either:A,B}`: A unless it is null or empty, else B.
`${mimkit.when:A,TEXT}`: TEXT if A is set (not null, not empty), else "".
conf/hydra/default.yaml uses them to put a run resumed with `resume=RUN_DIR` back in RUN_DIR.
`${mimkit.prod:LIST}`: the product of a list of integers (conf/data/images.yaml: x_dim = C·H·W).
`${mimkit.tensor_x_dim:PATH,LABEL_COLUMN}`: the number of features of a data file, read from its
header (conf/data/tensors.yaml: x_dim; `mimkit.data.tensors.peek_x_dim`); a ConfigError naming
the file where it cannot be read. 1 while PATH is unset: the config still validates, and the data
module refuses the unset path in one line when it is built, before any other work.
"""

from __future__ import annotations

import math

from omegaconf import OmegaConf


def _set(value) -> bool:
    return value is not None and value != ""


def either(value, fallback):
    return value if _set(value) else fallback


def when(value, text: str) -> str:
    return text if _set(value) else ""


def prod(values) -> int:
    return math.prod(int(v) for v in values)


def tensor_x_dim(path, label_column=None) -> int:
    if not _set(path):
        return 1  # a placeholder: TensorsDataModule refuses the unset path
    from mimkit.data.tensors import peek_x_dim  # numpy and torch only for a config that uses it

    return peek_x_dim(path, label_column)


def register() -> None:
    for name, function in (
        ("mimkit.either", either),
        ("mimkit.when", when),
        ("mimkit.prod", prod),
        ("mimkit.tensor_x_dim", tensor_x_dim),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register()
