"""Options as data: the one enum parser and the one config → plain-data (JSON) function.

Every frozen config dataclass in edgenn parses its enum fields with `parse_enum` (so a bad
value always gets the same message, naming the allowed values) and is written into
report.json and manifests through `to_plain`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edgenn.core.errors import BadInputError

SEED_LIMIT = 2**32  # NumPy's and PyTorch's seeds are 0 … 2³² − 1

E = TypeVar("E", bound=Enum)


def parse_enum(kind: type[E], value: Any, name: str) -> E:
    """`value` as a member of `kind` (by value, case-insensitive); BadInputError naming the
    allowed values otherwise."""
    if isinstance(value, kind):
        return value
    raw = value.value if isinstance(value, Enum) else value
    for member in kind:
        if member.value == raw or (isinstance(raw, str) and str(member.value) == raw.lower()):
            return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise BadInputError(f"{name} '{raw}' is not one of: {allowed}")


def to_plain(value: Any) -> Any:
    """Plain JSON data from configs and results: dataclasses become dicts, enums their
    values, tuples lists, paths strings, NumPy scalars and arrays Python numbers and lists,
    non-finite floats None."""
    if isinstance(value, Enum):  # first: str- and int-valued enums are str and int too
        return to_plain(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist())
    if isinstance(value, np.generic):
        return to_plain(value.item())
    return str(value)


jsonable = to_plain  # the name the artifact and result types use for their JSON form
