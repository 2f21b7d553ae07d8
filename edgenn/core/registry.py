"""Registries: a plain dict from name to a lazily imported object, plus entry points.

One mechanism for every kind of thing (targets, zoo models): the built-in entries are
strings `"module:attribute"`, imported only when asked for, so `edgenn --help` never
imports a toolchain. Plug-ins add entries through the entry-point group named by the
registry (`edgenn.targets`, `edgenn.models`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

from edgenn.core.errors import BadInputError


class LazyRegistry:
    """Name → object, importing `"module:attr"` specs on first use."""

    def __init__(self, kind: str, builtin: Mapping[str, str], group: str) -> None:
        self.kind = kind
        self.group = group
        self._builtin = dict(builtin)

    def specs(self) -> dict[str, str]:
        """Every registered name and its import spec, built-ins first."""
        found = dict(self._builtin)
        for point in entry_points(group=self.group):
            found.setdefault(point.name, point.value)
        return found

    def names(self) -> list[str]:
        return list(self.specs())

    def __contains__(self, name: object) -> bool:
        return name in self.specs()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def load(self, name: str) -> Any:
        specs = self.specs()
        if name not in specs:
            known = ", ".join(sorted(specs))
            raise BadInputError(f"unknown {self.kind} '{name}' (known: {known})")
        module_name, _, attribute = specs[name].partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attribute)


TARGETS = LazyRegistry(
    "target",
    {
        "pytorch": "edgenn.targets.pytorch:PyTorchTarget",
        "cpu": "edgenn.targets.cpu:CpuTarget",
        "gpu": "edgenn.targets.gpu:GpuTarget",
        "tflite": "edgenn.targets.tflite:TfliteTarget",
        "ort-mobile": "edgenn.targets.ort_mobile:OrtMobileTarget",
        "snn-fast": "edgenn.targets.snn.target:FastSnnTarget",
        "snn-brian2": "edgenn.targets.snn.target:Brian2SnnTarget",
    },
    group="edgenn.targets",
)


def create_target(name: str, **options: Any) -> Any:
    """Instantiate the target registered as `name` with its keyword options."""
    cls = TARGETS.load(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise BadInputError(f"target {name}: bad option(s) {sorted(options)}: {exc}") from None
