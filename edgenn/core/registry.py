"""Registries: a plain dict from name to a lazily imported object, plus entry points.

One mechanism for every kind of thing (targets, zoo models): the built-in entries are
strings `"module:attribute"`, imported only when asked for, so `edgenn --help` never
imports a toolchain. Plug-ins add entries through the entry-point group named by the
registry (`edgenn.targets`, `edgenn.models`).
"""

from __future__ import annotations

import functools
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
        for name, value in _plugins(self.group):
            found.setdefault(name, value)
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


@functools.cache
def _plugins(group: str) -> tuple[tuple[str, str], ...]:
    """The installed plug-ins of an entry-point group, read once per process (scanning the
    installed distributions costs ~30 ms, and configs are built by the thousand in a
    sweep)."""
    return tuple((point.name, point.value) for point in entry_points(group=group))


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


def target_options(name: str) -> dict[str, dict[str, str]]:
    """The options a target takes (its constructor's keyword arguments): name →
    {"default", "type"}, for `edgenn targets --options` and for checking options."""
    import inspect

    cls = TARGETS.load(name)
    found: dict[str, dict[str, str]] = {}
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.name == "self" or parameter.kind in (parameter.VAR_POSITIONAL,
                                                          parameter.VAR_KEYWORD):
            continue
        annotation = parameter.annotation
        kind = "" if annotation is parameter.empty else \
            getattr(annotation, "__name__", None) or str(annotation)
        value = getattr(parameter.default, "value", parameter.default)  # enums: the value
        default = "" if parameter.default is parameter.empty else repr(value)
        found[parameter.name] = {"type": str(kind).replace("typing.", ""), "default": default}
    return found


def create_target(name: str, **options: Any) -> Any:
    """Instantiate the target registered as `name` with its keyword options; an option it
    does not take, or a value it refuses, is a BadInputError naming the valid ones."""
    cls = TARGETS.load(name)
    valid = target_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(f"{key} (default {info['default']})" if info["default"] else key
                           for key, info in valid.items()) or "none"
        raise BadInputError(f"target {name} has no option {', '.join(map(repr, unknown))}; "
                            f"its options: {listed} (see `edgenn targets --options`)")
    for key, value in options.items():
        expected = valid[key]["type"]
        if not _fits(value, expected):
            raise BadInputError(f"target {name}: option {key}={value!r} must be {expected}")
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"target {name}: bad option value(s) "
                            f"{', '.join(f'{k}={v!r}' for k, v in options.items())}: "
                            f"{exc}") from None


_CHECKS = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
           "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
           "bool": lambda v: isinstance(v, bool), "str": lambda v: isinstance(v, str),
           "None": lambda v: v is None}


def _fits(value: Any, annotation: str) -> bool:
    """Whether `value` fits a simple annotation ("int", "float | None", "str | Coding"): only
    the builtin kinds are checked; anything else is left to the target's constructor."""
    kinds = [k.strip() for k in annotation.split("|")]
    if not kinds or any(k not in _CHECKS for k in kinds):
        return True
    return any(_CHECKS[k](value) for k in kinds)

