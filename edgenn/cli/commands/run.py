"""`edgenn run [RECIPE.toml]`: the main job, train → export → variants → compile → measure."""

from __future__ import annotations

import argparse

from edgenn.cli.commands.devices import add_device_option, with_devices
from edgenn.cli.common import (
    add_common,
    add_latency_options,
    exit_for_budget,
    latency_overrides,
    make_hooks,
    parse_target_options,
    parse_targets,
    show_report,
)

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
  edgenn run --model tcn --data signals        # a 1-D model on the embedded signals
  edgenn run --model net.py:build --weights w.pt --data my.npz
                                               # your trained PyTorch model, as it is
  edgenn run model.onnx --data my.npz          # an ONNX file made elsewhere
  edgenn run model.tflite --data my.npz        # a .tflite: fp32 and its int8 variants
  edgenn run --max-accuracy-drop 0.5           # exit 3 when any row loses more than 0.5 pp
  edgenn run --targets cpu --device pi         # also measured on a board (edgenn devices)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", default=None,
                        metavar="RECIPE.toml|MODEL.onnx|MODEL.tflite",
                        help="a recipe file (default: the embedded default recipe), or an "
                             "ONNX or .tflite model to start from (no training)")
    parser.add_argument("--model", default=None,
                        help="zoo model name (see `edgenn zoo`), path/to/file.py:factory, "
                             "an .onnx or a .tflite file")
    parser.add_argument("--weights", default=None, metavar="WEIGHTS.pt",
                        help="pretrained weights for --model (a state dict saved with "
                             "torch.save): the model is used as trained, not retrained")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="your data set: an .npz with arrays x and y, an explicit split "
                             "x_train, y_train, x_test, y_test, x alone (no labels: a given "
                             "model measured by agreement) or x.<input> per input of an ONNX "
                             "model with several, or an embedded data set by name: digits "
                             "(the default) or signals (`edgenn data`)")
    parser.add_argument("--test-data", default=None, metavar="TEST.npz",
                        help="a separate test set (x, y), kept exactly as given")
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
                        help="accuracy budget in percentage points against fp32, judged on "
                             "every row (test split); static int8 keeps its most sensitive "
                             "layers in float and pruning lowers its sparsity to meet it; "
                             "exit 3 when any row still breaks it")
    parser.add_argument("--json", action="store_true",
                        help="print report.json to stdout (tables and progress go to stderr)")
    add_common(parser)
    add_device_option(parser)
    add_latency_options(parser)  # unset options (and --threads, --seed) keep the recipe's


def overrides(args: argparse.Namespace) -> dict[tuple[str, str], object]:
    """The recipe keys this command line sets (None: not given)."""
    given: dict[tuple[str, str], object] = {
        ("model", "name"): args.model, ("model", "weights"): args.weights,
        ("data", "source"): args.data, ("data", "test"): args.test_data,
        ("train", "epochs"): args.epochs, **latency_overrides(args),
        ("compression", "max_accuracy_drop"): args.max_accuracy_drop,
        ("targets", "run"): list(parse_targets(args.targets) or []) or None,
    }
    if args.variants:
        names = [v.strip() for v in args.variants.split(",") if v.strip()]
        given[("compression", "variants")] = [] if names == ["none"] else names
    return given


def execute(args: argparse.Namespace, ui) -> int:
    from edgenn.api import run
    from edgenn.core import BadInputError
    from edgenn.run.recipe import build_config, load_recipe

    if args.recipe and str(args.recipe).lower().endswith((".onnx", ".tflite")):
        if args.model:
            raise BadInputError(f"give the model once: {args.recipe} or --model {args.model}")
        args.model, args.recipe = args.recipe, None
    recipe = load_recipe(args.recipe)
    options = recipe.setdefault("targets", {}).setdefault("options", {})
    for target, values in parse_target_options(args.target_option).items():
        options.setdefault(target, {}).update(values)
    config = with_devices(build_config(recipe, args.out, overrides(args)), args)
    report = run(config, make_hooks(ui))
    if args.json:

        ui.emit_json(report.to_dict())
    show_report(ui, report, config.out)
    return exit_for_budget(report)
