"""A sweep file: a recipe whose keys may hold lists (a grid) or distributions (random
search), and the points it expands to, each keyed by the hash of its inputs.

    [sweep]                       how the space is searched (see `SweepSettings`)
    method = "grid"
    [model] / [train] / …         recipe sections: fixed for every point
    [space.compression]           recipe keys, each with the values the sweep tries
    prune_sparsity = [0.25, 0.5]
    calibration_method = ["minmax", "entropy"]

A value under `[space.*]` is a list of candidates (for a key that itself holds a list,
such as `compression.variants`, a list of lists) or, for random search, a distribution
table: `{ uniform = [low, high] }`, `{ log_uniform = [low, high] }`, `{ int = [low, high] }`.
Every candidate is validated by the recipe's own rules (`edgenn.run.recipe`) before any
point runs, and every problem is reported at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError, sha256_of, to_plain
from edgenn.run.recipe import KEYS, Recipe, build_config, load_recipe, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METHODS = ("grid", "random")
DISTRIBUTIONS = ("uniform", "log_uniform", "int")


@dataclass(frozen=True)
class SweepSettings:
    """The `[sweep]` table: how points are chosen and judged."""

    method: str = "grid"  # grid: every combination · random: `samples` seeded draws
    samples: int = 16  # random search: points drawn (identical draws run once)
    seed: int = 0  # random search: the draw's seed
    max_accuracy_drop: float = 1.0  # pp against a point's fp32 reference: the budget
    max_retries: int = 2  # times a point is rerun when its worker process dies
    recipe: str | None = None  # a recipe file the points start from (default: embedded)


@dataclass(frozen=True)
class Point:
    """One setting of the swept keys, the full recipe it makes, and its key: the hash of
    the model, the data and every resolved setting (so a rerun recognises finished work)."""

    values: dict[str, Any]  # "section.key" → the value this point tries
    recipe: Recipe = field(repr=False)
    key: str = ""


@dataclass(frozen=True)
class Sweep:
    settings: SweepSettings
    base: Recipe  # the fixed recipe every point starts from
    space: dict[str, Any]  # "section.key" → list of candidates or a distribution table
    where: str = "sweep"

    def points(self) -> list[Point]:
        """The points to run, in a stable order, duplicates (same key) dropped."""
        names = list(self.space)
        if self.settings.method == "grid":
            combos = itertools.product(*(self.space[n] for n in names))
            chosen = [dict(zip(names, combo, strict=True)) for combo in combos]
        else:
            draw = random.Random(self.settings.seed)
            chosen = [{n: _draw(self.space[n], draw) for n in names}
                      for _ in range(self.settings.samples)]
        points: dict[str, Point] = {}
        for values in chosen:
            recipe = with_values(self.base, values)
            point = Point(values, recipe, point_key(recipe))
            points.setdefault(point.key, point)
        return list(points.values())


def with_values(base: Recipe, values: Mapping[str, Any]) -> Recipe:
    """`base` with each "section.key" of `values` set."""
    recipe: Recipe = {section: dict(table) for section, table in base.items()}
    for name, value in values.items():
        section, key = name.split(".", 1)
        recipe.setdefault(section, {})[key] = value
    return recipe


def point_key(recipe: Recipe) -> str:
    """The hash of a point's inputs: every resolved setting (defaults filled in, so two
    spellings of one setting are one point) and the content of every file it reads."""
    config = build_config(recipe, out=".")
    files = {name: _file_digest(getattr(config, name))
             for name in ("model", "weights", "data", "test_data")}
    settings = {k: v for k, v in to_plain(config).items() if k != "out"}
    identity = {"settings": settings, "files": files}
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_digest(value: str | None) -> str | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_file() and ":" in value:  # path/to/file.py:factory
        path = Path(value.rsplit(":", 1)[0])
    return sha256_of(path) if path.is_file() else None


def _draw(candidates: Any, draw: random.Random) -> Any:
    if isinstance(candidates, list):
        return candidates[draw.randrange(len(candidates))]
    (kind, (low, high)), = candidates.items()
    if kind == "int":
        return draw.randint(int(low), int(high))
    if kind == "log_uniform":
        return math.exp(draw.uniform(math.log(low), math.log(high)))
    return draw.uniform(low, high)


# ---------------------------------------------------------------------------------------
# Reading and checking a sweep file
# ---------------------------------------------------------------------------------------


def load_sweep(path: str | Path) -> Sweep:
    """A sweep file, checked: every problem (unknown keys, bad candidates) at once."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"sweep file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"{path}: not a valid TOML file ({exc})") from None
    return parse_sweep(raw, str(path), path.parent)


def parse_sweep(raw: Mapping[str, Any], where: str = "sweep",
                base_dir: Path | None = None) -> Sweep:
    problems: list[str] = []
    settings = _settings(raw.get("sweep", {}), problems)
    base: Recipe = {}
    if settings.recipe:
        recipe_path = Path(settings.recipe)
        if base_dir is not None and not recipe_path.is_absolute():
            recipe_path = base_dir / recipe_path
        try:
            base = load_recipe(recipe_path)
        except BadInputError as exc:
            problems.append(str(exc))
    for section, table in raw.items():
        if section in ("sweep", "space"):
            continue
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        base.setdefault(section, {}).update(table)
    problems += validate(base)
    space = _space(raw.get("space", {}), base, settings, problems)
    if problems:
        raise BadInputError(f"{where}: " + "; ".join(problems))
    return Sweep(settings, base, space, where)


def _settings(table: Any, problems: list[str]) -> SweepSettings:
    if not isinstance(table, dict):
        problems.append("[sweep] must be a table")
        return SweepSettings()
    known = SweepSettings.__dataclass_fields__
    unknown = [k for k in table if k not in known]
    if unknown:
        problems.append(f"unknown key(s) in [sweep]: {', '.join(unknown)} "
                        f"(allowed: {', '.join(known)})")
    values = {k: v for k, v in table.items() if k in known}
    settings = SweepSettings(**values)
    if settings.method not in METHODS:
        problems.append(f"'sweep.method' = {settings.method!r} is not allowed "
                        f"(allowed: {', '.join(METHODS)})")
    for name, low in (("samples", 1), ("max_retries", 0)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"'sweep.{name}' = {value!r} must be an integer ≥ {low}")
    drop = settings.max_accuracy_drop
    if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not drop >= 0:
        problems.append(f"'sweep.max_accuracy_drop' = {drop!r} must be a number ≥ 0 (pp)")
    return settings


def _space(table: Any, base: Recipe, settings: SweepSettings,
           problems: list[str]) -> dict[str, Any]:
    """{"section.key": candidates}, each candidate checked by the recipe's own rules."""
    space: dict[str, Any] = {}
    if not isinstance(table, dict) or not table:
        problems.append("[space] is empty: give at least one recipe key with the values to "
                        "try, e.g. [space.compression] prune_sparsity = [0.25, 0.5]")
        return space
    for section, keys in table.items():
        if section not in KEYS or not isinstance(keys, dict):
            problems.append(f"[space.{section}]: not a recipe section "
                            f"(allowed: {', '.join(KEYS)})")
            continue
        for key, candidates in keys.items():
            name = f"{section}.{key}"
            if key not in KEYS[section]:
                problems.append(f"unknown key 'space.{name}' "
                                f"(allowed: {', '.join(KEYS[section])})")
                continue
            checked = _candidates(name, candidates, settings, problems)
            for value in checked:
                problems += validate(with_values(base, {name: value}))
            if checked:
                space[name] = candidates
    return space


def _candidates(name: str, candidates: Any, settings: SweepSettings,
                problems: list[str]) -> list[Any]:
    """The values to validate for one swept key (a distribution: its two ends)."""
    if isinstance(candidates, list):
        if not candidates:
            problems.append(f"'space.{name}' is an empty list")
        return candidates
    if isinstance(candidates, dict) and len(candidates) == 1:
        (kind, ends), = candidates.items()
        if settings.method == "grid":
            problems.append(f"'space.{name}' is a distribution ({kind}); a grid needs a list "
                            "of values (or method = \"random\")")
            return []
        numbers = isinstance(ends, list) and len(ends) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in ends)
        if kind not in DISTRIBUTIONS or not numbers or not ends[0] <= ends[1] or (
                kind == "log_uniform" and ends[0] <= 0):
            problems.append(f"'space.{name}' = {candidates!r}: a distribution is one of "
                            f"{', '.join(DISTRIBUTIONS)} with [low, high], low ≤ high "
                            "(log_uniform: low > 0)")
            return []
        return [int(v) for v in ends] if kind == "int" else [float(v) for v in ends]
    problems.append(f"'space.{name}' = {candidates!r} must be a list of values or a "
                    f"distribution table such as {{ uniform = [0.1, 0.9] }}")
    return []


EXAMPLE = '''\
# An edgenn sweep: the recipe's own keys (`edgenn recipe show default`), with the values
# to try under [space.SECTION]. Run it with `edgenn sweep sweep.toml` (on Ray when it is
# installed: pip install "edgenn[sweep]"; --address for a cluster; --dry-run to see the
# plan). Finished points are kept in OUT/points/<key>/ and never run twice.

[sweep]
method = "grid"            # grid: every combination | random: `samples` seeded draws
samples = 16               # random only; distributions: { uniform = [0.2, 0.8] },
seed = 0                   #   { log_uniform = [low, high] }, { int = [low, high] }
max_accuracy_drop = 1.0    # pp below a point's fp32 reference: the recommendation's budget
max_retries = 2            # reruns of a point whose worker process dies
# recipe = "my.toml"       # a recipe file the points start from (default: embedded)

# Fixed for every point: any recipe section.
[model]
name = "cnn"

[train]
epochs = 10

[compression]
variants = ["int8-dynamic", "int8-static", "pruned", "pruned-int8"]
fine_tune_epochs = 2

[targets]
run = ["cpu"]

[latency]
runs = 100

# Swept: each key lists its values (a key that holds a list takes a list of lists).
[space.compression]
prune_sparsity = [0.25, 0.5, 0.75]
calibration_method = ["minmax", "entropy", "percentile"]
calibration_samples = [64, 256]
'''
