"""Recipes: a TOML file holding every setting of `edgenn run`, validated up front.

The embedded default is itself a recipe (`edgenn/recipes/default.toml`). Validation names
the bad key, the value and what is allowed, and collects every problem before raising.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    below: float | None = None  # exclusive upper bound


SCHEMA: dict[str, dict[str, Field]] = {
    "model": {"name": Field(str), "options": Field(dict)},
    "data": {"source": Field(str)},
    "train": {
        "epochs": Field(int, minimum=1), "batch_size": Field(int, minimum=1),
        "lr": Field(float, minimum=0), "optimizer": Field(str, ("adam", "sgd", "rmsprop",
                                                                 "adagrad")),
        "loss": Field(str, ("cross_entropy", "mse", "bce")),
        "weight_decay": Field(float, minimum=0), "patience": Field(int, minimum=1),
        "schedule": Field(str, ("none", "cosine", "step")),
        "init": Field(str, ("default", "kaiming", "xavier")),
        "grad_clip_norm": Field(float, minimum=0), "augment_shift": Field(int, minimum=0),
        "momentum": Field(float, minimum=0), "seed": Field(int),
        "threads": Field(int, minimum=1),
    },
    "compression": {
        "variants": Field(list, ("int8-dynamic", "int8-static", "fp16", "pruned",
                                 "pruned-int8")),
        "calibration_method": Field(str, ("minmax", "entropy", "percentile")),
        "calibration_samples": Field(int, minimum=1),
        "prune_sparsity": Field(float, minimum=0, below=1),
        "fine_tune_epochs": Field(int, minimum=0),
        "max_accuracy_drop": Field(float, minimum=0),
    },
    "targets": {"run": Field((str, list)), "options": Field(dict)},
    "latency": {
        "warmup": Field(int, minimum=0), "runs": Field(int, minimum=1),
        "batch": Field(int, minimum=1), "threads": Field(int, minimum=1),
        "isolate": Field(bool),
    },
}


def default_text() -> str:
    return resources.files("edgenn").joinpath("recipes/default.toml").read_text("utf-8")


def load_recipe(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """The default recipe, overlaid with the user's file when given; validated."""
    recipe = parse(default_text(), "default recipe")
    if path is None or str(path) == "default":
        return recipe
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"recipe not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not a text (UTF-8) TOML file") from None
    user = parse(text, str(path))
    for section, values in user.items():
        recipe.setdefault(section, {}).update(values)
    return recipe


def parse(text: str, where: str) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{where}: not valid TOML ({exc})") from None
    problems = validate(raw)
    if problems:
        raise BadInputError(f"{where}: " + "; ".join(problems))
    return {section: dict(values) for section, values in raw.items()}


def validate(raw: dict[str, Any]) -> list[str]:
    """Every problem in a parsed recipe, each naming the key, the value and what is allowed."""
    problems: list[str] = []
    for section, values in raw.items():
        if section not in SCHEMA:
            problems.append(f"unknown section [{section}] (allowed: {', '.join(SCHEMA)})")
            continue
        if not isinstance(values, dict):
            problems.append(f"[{section}] must be a table")
            continue
        for key, value in values.items():
            spec = SCHEMA[section].get(key)
            name = f"{section}.{key}"
            if spec is None:
                problems.append(f"unknown key '{name}' (allowed: "
                                f"{', '.join(SCHEMA[section])})")
                continue
            problems.extend(_check(name, value, spec))
    return problems


def _check(name: str, value: Any, spec: Field) -> list[str]:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        return [f"'{name}' = {value!r} must be of type {wanted}"]
    if spec.choices is not None:
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if v not in spec.choices]
        if bad:
            return [f"'{name}' = {bad[0]!r} is not allowed (allowed: "
                    f"{', '.join(map(str, spec.choices))})"]
    if spec.minimum is not None and isinstance(value, (int, float)) and value < spec.minimum:
        return [f"'{name}' = {value!r} must be ≥ {spec.minimum:g}"]
    if spec.below is not None and isinstance(value, (int, float)) and value >= spec.below:
        return [f"'{name}' = {value!r} must be < {spec.below:g}"]
    return []


# ---------------------------------------------------------------------------------------
# Recipe → pipeline configuration
# ---------------------------------------------------------------------------------------


def run_config_from_recipe(recipe: dict[str, dict[str, Any]], out: str | Path):
    """The pipeline's RunConfig from a validated recipe.

    Training settings: TrainConfig's defaults < the model's own `train_defaults` < the
    recipe's [train] table (< command-line options, applied to the recipe before this).
    """
    from edgenn.harness import LatencySettings
    from edgenn.pipeline import RunConfig
    from edgenn.zoo.info import default_train_config

    model, data, train = recipe.get("model", {}), recipe.get("data", {}), recipe.get("train", {})
    latency = recipe.get("latency", {})
    targets = recipe.get("targets", {})
    seed = int(train.get("seed", 0))
    run_targets = targets.get("run", "all")
    if isinstance(run_targets, str) and run_targets != "all":
        run_targets = [run_targets]  # `run = "cpu"` means the one target
    source = data.get("source", "digits")
    return RunConfig(
        out=Path(out), model=model.get("name", "cnn"), model_options=model.get("options", {}),
        data=None if source == "digits" else source,
        train=default_train_config(model.get("name", "cnn"), **train),
        targets=None if run_targets == "all" else tuple(run_targets),
        target_options=dict(targets.get("options", {})),
        latency=LatencySettings(warmup=latency.get("warmup", 20), runs=latency.get("runs", 200),
                                batch_size=latency.get("batch", 1),
                                threads=latency.get("threads", 2)),
        isolate=bool(latency.get("isolate", True)), seed=seed,
        compression=compression_from_recipe(recipe.get("compression", {}), seed),
    )


def compression_from_recipe(section: dict[str, Any], seed: int) -> Any:
    """The CompressionConfig a recipe's [compression] table asks for (None: no variants)."""
    variants = tuple(section.get("variants", ()))
    if not variants and section.get("max_accuracy_drop") is None:
        return None
    from edgenn.compress import CompressionConfig
    from edgenn.quantize.prune import PruneConfig

    return CompressionConfig(
        variants=variants,
        method=section.get("calibration_method", "minmax"),
        calibration_samples=int(section.get("calibration_samples", 256)),
        max_accuracy_drop=section.get("max_accuracy_drop"),
        prune=PruneConfig(sparsity=float(section.get("prune_sparsity", 0.5))),
        fine_tune_epochs=int(section.get("fine_tune_epochs", 10)),
        seed=seed,
    )
