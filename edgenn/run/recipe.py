"""Recipes: a TOML file holding every setting of `edgenn run`, validated up front.

Nothing here restates an option: the keys, their types, enum choices, defaults and bounds
all come from the config dataclasses (`edgenn.run.config`, `TrainConfig`). `KEYS` only
says where each recipe key lives in `RunConfig`, and `SPELLED` how a recipe spells a value
the dataclass holds differently ("all" targets, "digits" data). Validation names the key,
the value and what is allowed, and collects every problem before raising. The embedded
default recipe is generated from the same classes (`default_text`).

`build_config` is the one way a `RunConfig` is made from settings: `run`, `export` and
`bench` all go through it (recipe < command-line overrides; for training, TrainConfig's
defaults < the model's own `train_defaults` < the recipe < the command line).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError
from edgenn.core.config import SEED_LIMIT
from edgenn.frontend.train import TrainConfig
from edgenn.run.config import RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Recipe = dict[str, dict[str, Any]]

# Where each recipe key lives in RunConfig (a dotted attribute path).
KEYS: dict[str, dict[str, str]] = {
    "model": {"name": "model", "options": "model_options", "weights": "weights"},
    "data": {"source": "data", "test": "test_data"},
    "train": {**{f.name: f"train.{f.name}" for f in dataclasses.fields(TrainConfig)
                 if f.name != "seed"}, "seed": "seed"},
    "compression": {
        "variants": "compression.variants", "calibration_method": "compression.method",
        "calibration_samples": "compression.calibration_samples",
        "prune_sparsity": "compression.prune.sparsity",
        "fine_tune_epochs": "compression.fine_tune_epochs",
        "max_accuracy_drop": "compression.max_accuracy_drop",
        "accuracy_tolerance": "compression.accuracy_tolerance",
    },
    "targets": {"run": "targets", "options": "target_options", "devices": "devices"},
    "latency": {"warmup": "latency.warmup", "runs": "latency.runs",
                "batch": "latency.batch_size", "threads": "latency.threads",
                "isolate": "isolate"},
    "layers": {"profile": "layers.profile", "diverge": "layers.diverge",
               "threshold_db": "layers.threshold_db", "samples": "layers.samples",
               "profile_runs": "layers.profile_runs"},
}

# Recipe spellings of values the dataclasses hold differently: (to config, from config).
SPELLED: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "data": (lambda v: None if v == "digits" else v, lambda v: v or "digits"),
    "targets": (lambda v: None if v == "all" else ((v,) if isinstance(v, str) else v),
                lambda v: "all" if v is None else list(v)),
}

# One line of documentation per key, for the generated default recipe.
HELP = {
    "model.name": "a zoo model (`edgenn zoo`), path/to/file.py:factory, an .onnx or a "
                  ".tflite",
    "model.weights": "pretrained weights (a state dict) for the model: no training",
    "data.source": '"digits" or "signals" (embedded: `edgenn data`), an .npz with x and y, '
                   'or an explicit split',
    "data.test": "a separate test .npz (x, y), kept exactly as given",
    "compression.variants": "int8-dynamic, int8-static, fp16, pruned, pruned-int8",
    "compression.calibration_samples": "drawn once from the training split",
    "compression.prune_sparsity": "fraction of channels removed by structured pruning",
    "compression.max_accuracy_drop": "pp against fp32, every row; exit 3 when any row "
                                     "breaks it",
    "compression.accuracy_tolerance": "pp lost against fp32 before a row is flagged (no "
                                      "budget set)",
    "train.patience": 'unset: a third of the epochs, at least 10; keep = "last": no early stop',
    "train.warmup_epochs": "linear warm-up, in epochs of steps (at most a quarter of them)",
    "train.monitor": "what early stopping and keep = \"best\" compare (ties: lower loss)",
    "targets.run": '"all" or a list, e.g. ["pytorch", "cpu", "tflite"]',
    "targets.options": "per-target options, e.g. { snn-fast = { timesteps = 128 } }",
    "targets.devices": 'also measured on these devices, e.g. ["pi"] (`edgenn devices list`)',
    "latency.warmup": "untimed runs first", "latency.runs": "timed runs of run() per row",
    "latency.isolate": "each row in its own process",
    "layers.profile": "per-operator time from each target's profiler (runs apart from timing)",
    "layers.diverge": "per-layer SNR of every variant against PyTorch",
    "layers.threshold_db": "a variant drifts from the first layer under this SNR",
}


# ---------------------------------------------------------------------------------------
# Types from the dataclasses
# ---------------------------------------------------------------------------------------


def _unwrap_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def _owner(path: str) -> tuple[type, str]:
    """The dataclass that holds the attribute at `path`, and the attribute's name."""
    cls: type = RunConfig
    *parents, name = path.split(".")
    for part in parents:
        cls = _unwrap_optional(typing.get_type_hints(cls)[part])
    return cls, name


def _hint(path: str) -> Any:
    cls, name = _owner(path)
    return _unwrap_optional(typing.get_type_hints(cls)[name])


def _default(path: str) -> Any:
    cls, name = _owner(path)
    return getattr(cls(), name)


def _convert(name: str, value: Any, hint: Any) -> tuple[Any, str | None]:
    """(value as the dataclass holds it, or a problem) for one recipe value."""
    shown = f"'{name}' = {value!r}"
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        allowed = [m.value for m in hint]
        if value not in allowed:
            return None, f"{shown} is not allowed (allowed: {', '.join(map(str, allowed))})"
        return value, None
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return None, f"{shown} must be a list of strings"
        return tuple(value), None
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return None, f"{shown} must be a table"
        bad = _not_finite(value)
        return (value, None) if bad is None else \
            (None, f"'{name}.{bad}' must be a finite number (NaN and infinity are not)")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{shown} must be a finite number"
    if not isinstance(hint, type) or not isinstance(value, hint) or (
            isinstance(value, bool) and hint is not bool):
        wanted = getattr(hint, "__name__", str(hint))
        return None, f"{shown} must be of type {wanted}"
    return value, None


def _not_finite(value: Any, prefix: str = "") -> str | None:
    """The dotted key of the first NaN or infinite number inside nested tables and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return prefix or "value"
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found = _not_finite(inner, f"{prefix}.{key}" if prefix else str(key))
        if found:
            return found
    return None


def _check_bounds(name: str, path: str, value: Any) -> str | None:
    """The owning dataclass's own validation of one value (its bounds, its choices)."""
    if path == "seed" and not 0 <= value < SEED_LIMIT:
        return f"'{name}' = {value!r}: a seed is 0 … {SEED_LIMIT - 1}"
    cls, attribute = _owner(path)
    try:
        dataclasses.replace(cls(), **{attribute: value})
    except BadInputError as exc:
        return f"'{name}' = {value!r}: {exc}"
    return None


def _values(recipe: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """{attribute path: value as the dataclasses hold it} and every problem found."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for section, table in recipe.items():
        if section not in KEYS:
            problems.append(f"unknown section [{section}] (allowed: {', '.join(KEYS)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        for key, raw in table.items():
            name = f"{section}.{key}"
            path = KEYS[section].get(key)
            if path is None:
                problems.append(f"unknown key '{name}' (allowed: {', '.join(KEYS[section])})")
                continue
            spelled = SPELLED[path][0](raw) if path in SPELLED else raw
            if spelled is None:
                values[path] = None
                continue
            value, problem = _convert(name, spelled, _hint(path))
            problem = problem or _check_bounds(name, path, value)
            if problem:
                problems.append(problem)
            else:
                values[path] = value
    return values, problems


def validate(recipe: Mapping[str, Any]) -> list[str]:
    """Every problem in a parsed recipe, each naming the key, the value and what is allowed."""
    return _values(recipe)[1]


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def default_text() -> str:
    """The embedded default recipe, generated from the config dataclasses' defaults."""
    return recipe_text(None)


def recipe_text(config: RunConfig | None) -> str:
    """A recipe file for `config` (every key, documented); None: the default recipe, whose
    training keys are left commented so that each model's own defaults apply."""
    lines = ["# The embedded default of `edgenn run`: every setting of the main job in one file."
             if config is None else "# The effective settings of a recipe (defaults filled in).",
             "# `edgenn recipe init my.toml` writes an editable copy; `edgenn run my.toml` "
             "runs it.", "# Options given on the command line (e.g. --runs 50) override "
             "the recipe."]
    for section, keys in KEYS.items():
        lines += ["", f"[{section}]"]
        if section == "train" and config is None:
            lines += ["# Unset keys take the model's own training defaults (`edgenn zoo` "
                      "lists them),", "# then these. Uncomment to override."]
        for key, path in keys.items():
            value = _default(path) if config is None else _lookup(config, path)
            if path in SPELLED:
                value = SPELLED[path][1](value)
            commented = value is None or (config is None and section == "train"
                                          and key != "seed")
            text = _toml(value if value is not None else _example(path))
            note = HELP.get(f"{section}.{key}") or _choices(path)
            line = f"{'# ' if commented else ''}{key} = {text}"
            lines.append(f"{line:<27} # {note}" if note else line)
    return "\n".join(lines) + "\n"


def _lookup(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part, None) if config is not None else None
    return config


EXAMPLES = {"train.patience": 10, "train.grad_clip_norm": 1.0, "train.threads": 2,
            "compression.max_accuracy_drop": 1.0, "weights": "weights.pt",
            "test_data": "test.npz"}  # by attribute path: shown, commented, when unset


def _example(path: str) -> Any:
    if path in EXAMPLES:
        return EXAMPLES[path]
    hint = _hint(path)
    return 1.0 if hint is float else 1 if hint is int else ""


def _choices(path: str) -> str:
    hint = _hint(path)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return " | ".join(str(m.value) for m in hint)
    return ""


def _toml(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{ " + ", ".join(
            f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    return repr(value)


def load_recipe(path: str | Path | None) -> Recipe:
    """The user's recipe (empty for None or "default": every setting at its default),
    validated. Unset keys keep their defaults."""
    if path is None or str(path) == "default":
        return {}
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"recipe not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not a text (UTF-8) TOML file") from None
    return parse(text, str(path))


def parse(text: str, where: str) -> Recipe:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{where}: not valid TOML ({exc})") from None
    problems = validate(raw)
    if problems:
        raise BadInputError(f"{where}: " + "; ".join(problems))
    return {section: dict(values) for section, values in raw.items()}


# ---------------------------------------------------------------------------------------
# Recipe → RunConfig
# ---------------------------------------------------------------------------------------


def build_config(recipe: Recipe | str | Path | None = None, out: str | Path = "edgenn-out",
                 overrides: Mapping[tuple[str, str], Any] | None = None) -> RunConfig:
    """The one way to a RunConfig: a recipe (a parsed dict, a file, or None for the
    default) with `overrides` {(section, key): value} on top (None values are unset).
    Every problem is reported at once."""
    if not isinstance(recipe, dict):
        recipe = load_recipe(recipe)
    merged: Recipe = {section: dict(table) if isinstance(table, dict) else table
                      for section, table in recipe.items()}
    for (section, key), value in (overrides or {}).items():
        if value is not None:
            merged.setdefault(section, {})[key] = value
    values, problems = _values(merged)
    if problems:
        raise BadInputError("; ".join(problems))
    return _assemble(values, Path(out))


def run_config_from_recipe(recipe: Recipe, out: str | Path) -> RunConfig:
    """A validated recipe as a RunConfig (`build_config` without overrides)."""
    return build_config(recipe, out)


def _assemble(values: dict[str, Any], out: Path) -> RunConfig:
    from edgenn.frontend.zoo.info import default_train_config

    model = values.get("model", RunConfig.model)
    train_values = _under(values, "train")
    train = TrainConfig(**train_values) if str(model).lower().endswith((".onnx", ".tflite")) \
        else default_train_config(model, **train_values)  # a model file is not trained
    top = {path: value for path, value in values.items() if "." not in path}
    # always a CompressionConfig: with no variants, its calibration set size and accuracy
    # tolerance still apply (to the tflite int8 and spiking rows)
    return RunConfig(out=out, **top, train=train,
                     latency=_build(_owner("latency.warmup")[0], _under(values, "latency")),
                     compression=_build(_owner("compression.method")[0],
                                        _under(values, "compression")),
                     layers=_build(_owner("layers.profile")[0], _under(values, "layers")))


def _under(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {path[len(prefix) + 1:]: value for path, value in values.items()
            if path.startswith(prefix + ".")}


def _build(cls: type, values: dict[str, Any]) -> Any:
    """`cls()` with `values` (dotted paths for nested dataclasses) set."""
    nested = {name.split(".")[0] for name in values if "." in name}
    flat = {name: value for name, value in values.items() if "." not in name}
    for name in nested:
        flat[name] = _build(_unwrap_optional(typing.get_type_hints(cls)[name]),
                            _under(values, name))
    return cls(**flat)
