"""The value types of config keys, written once and read twice: the constructors annotate their
parameters with them, and the config schema (`mimkit.app.schema`) checks every `_target_` node
against its class's annotations before anything is built. Scalars are strict (true is not 1,
'3' is not 3, 1.5 is not an integer); numbers are finite.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

PositiveInt = Annotated[int, Strict(), Field(gt=0)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
Number = Annotated[float, Field(allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeNumber = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Shape = Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]
