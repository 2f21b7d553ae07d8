"""`edgenn run [RECIPE.toml]`: the main job, train → export → variants → compile → measure."""

from __future__ import annotations

import argparse
from typing import Any

from edgenn.cli import add_common
from edgenn.commands._shared import make_hooks, parse_target_options, parse_targets, show_report

HELP = "train, export, compress, compile for every target and measure them side by side"
DESCRIPTION = """\
The main job. Without a recipe it runs the embedded default (`edgenn recipe show
default`): the CNN trained on scikit-learn's digits (no download), exported to ONNX,
quantized (int8 dynamic and static, fp16) and pruned, compiled for every available target
and measured on the same test split. Options given here override the recipe.

  OUT/report.md, report.json   the comparison: accuracy, agreement with PyTorch,
                               latency p50/p90/p99, size, peak memory per row
  OUT/manifest.json            every artifact with its lineage, size and sha256

Examples:
  edgenn run                                   # the default recipe, everything
  edgenn run my-recipe.toml                    # your recipe (edgenn recipe init)
  edgenn run --targets pytorch,cpu --runs 50   # two targets, fewer timed runs
  edgenn run --model resnet --data my.npz      # a zoo model on your data (x, y)
  edgenn run --max-accuracy-drop 0.5           # exit 3 when no variant stays within 0.5 pp
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", default=None, metavar="RECIPE.toml",
                        help="a recipe file (default: the embedded default recipe)")
    parser.add_argument("--model", default=None,
                        help="zoo model name (see `edgenn zoo`) or path/to/file.py:factory")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="your data set: an .npz with arrays x and y (default: digits)")
    parser.add_argument("--targets", default=None, metavar="A,B",
                        help="comma-separated targets to run (default: all; `edgenn targets`)")
    parser.add_argument("--target-option", action="append", metavar="TARGET.KEY=VALUE",
                        help="a target option, e.g. snn-fast.timesteps=128 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum training epochs (early stopping ends sooner)")
    parser.add_argument("--variants", default=None, metavar="A,B",
                        help="compressed variants to build: int8-dynamic, int8-static, fp16, "
                             "pruned, pruned-int8, or 'none'")
    parser.add_argument("--max-accuracy-drop", type=float, default=None, metavar="PP",
                        help="accuracy budget in percentage points against fp32; when static "
                             "int8 breaks it, the most sensitive layers stay in float; exit 3 "
                             "when no variant meets it")
    parser.add_argument("--json", action="store_true",
                        help="print report.json to stdout (tables and progress go to stderr)")
    group = parser.add_argument_group("latency measurement")
    group.add_argument("--batch", type=int, default=None, metavar="N",
                       help="batch size of the timed runs (recipe default: 1)")
    group.add_argument("--warmup", type=int, default=None, metavar="N",
                       help="untimed runs before timing (recipe default: 20)")
    group.add_argument("--runs", type=int, default=None, metavar="N",
                       help="timed runs of run() per row (recipe default: 200)")
    group.add_argument("--no-isolate", dest="isolate", action="store_false", default=None,
                       help="measure every row in this process instead of one fresh process "
                            "per row (faster; rows can disturb each other's figures)")
    add_common(parser)
    parser.set_defaults(threads=None, seed=None)


def recipe_with_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from edgenn.recipe import load_recipe, validate

    recipe = load_recipe(args.recipe)
    overrides = {
        ("model", "name"): args.model, ("data", "source"): args.data,
        ("train", "epochs"): args.epochs, ("train", "seed"): args.seed,
        ("latency", "batch"): args.batch, ("latency", "warmup"): args.warmup,
        ("latency", "runs"): args.runs, ("latency", "threads"): args.threads,
        ("latency", "isolate"): args.isolate,
        ("compression", "max_accuracy_drop"): args.max_accuracy_drop,
    }
    if args.targets:
        overrides[("targets", "run")] = list(parse_targets(args.targets) or [])
    if args.variants:
        names = [v.strip() for v in args.variants.split(",") if v.strip()]
        overrides[("compression", "variants")] = [] if names == ["none"] else names
    for (section, key), value in overrides.items():
        if value is not None:
            recipe.setdefault(section, {})[key] = value
    options = parse_target_options(args.target_option)
    for target, values in options.items():
        recipe.setdefault("targets", {}).setdefault("options", {}).setdefault(
            target, {}).update(values)
    problems = validate(recipe)
    if problems:
        from edgenn.core import BadInputError

        raise BadInputError("; ".join(problems))
    return recipe


def execute(args: argparse.Namespace, ui) -> int:
    from edgenn.pipeline import run
    from edgenn.recipe import run_config_from_recipe

    config = run_config_from_recipe(recipe_with_overrides(args), out=args.out)
    # The report is shown once written, even when the accuracy budget then exits 3.
    run(config, make_hooks(ui), finish=lambda report: _show(ui, report, config, args.json))
    return 0


def _show(ui, report, config, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    show_report(ui, report, config.out)
