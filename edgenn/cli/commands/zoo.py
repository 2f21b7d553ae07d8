"""`edgenn zoo`: every zoo model with its parameters, MACs and training defaults."""

from __future__ import annotations

import argparse

HELP = "list the model zoo with parameters and MACs for a data shape"
DESCRIPTION = """\
List every model `edgenn run --model NAME` accepts (built-ins and plug-ins from the
`edgenn.models` entry-point group), built for a data shape, with its parameter count and
its multiply-accumulates (MACs) for one sample. A model that cannot take the shape (an
image model given flat vectors) says why. Your own model: `--model path/to/file.py:factory`
in `edgenn run`, a function (input_shape, num_classes) -> torch.nn.Module.

The shape picks the variant of a family: `cnn` builds a 2-D CNN for C×H×W images and a
1-D CNN for C×L signals (or flat vectors); `tcn` is the 1-D temporal convolutional network.

Examples:
  edgenn zoo                          # the digits shape: 1×8×8, 10 classes
  edgenn zoo --shape 3,32,32 --classes 100
  edgenn zoo --data signals           # 1-D: the embedded signals, 3×128, 8 classes
  edgenn zoo --data my.npz --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", default="1,8,8", metavar="D,D,...",
                        help="sample shape: C,H,W images, C,L signals (T,F sequences for "
                             "lstm, gru, transformer) or L flat vectors "
                             "(default: %(default)s, the digits)")
    parser.add_argument("--classes", type=int, default=10, metavar="N",
                        help="number of classes (default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="DATA",
                        help="take the shape and classes from your .npz (arrays x and y) "
                             "or an embedded data set (`edgenn data`: digits, signals)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def parse_shape(text: str) -> tuple[int, ...]:
    from edgenn.core import BadInputError

    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise BadInputError(f"--shape '{text}' must be positive integers such as 1,8,8")
    import math

    if math.prod(shape) > MAX_SAMPLE_VALUES:
        raise BadInputError(f"--shape '{text}' is {math.prod(shape):,} values per sample; "
                            f"the zoo builds models for at most {MAX_SAMPLE_VALUES:,}")
    return shape


MAX_SAMPLE_VALUES = 1 << 24  # 16 M values (e.g. 3×2048×2048): beyond, weights outgrow memory


def execute(args: argparse.Namespace, ui) -> int:

    from rich.table import Table

    from edgenn.core import BadInputError, EdgeNNError
    from edgenn.frontend.zoo import MODELS
    from edgenn.frontend.zoo.info import describe

    if args.data:
        from edgenn.frontend.data import EMBEDDED, load_dataset, read_npz

        if args.data in EMBEDDED:
            embedded = load_dataset(args.data)
            shape, classes = tuple(embedded.sample_shape), embedded.num_classes
        else:
            x, y = read_npz(args.data)
            shape, classes = tuple(x.shape[1:]), int(y.max()) + 1
    else:
        shape, classes = parse_shape(args.shape), args.classes
    from edgenn.frontend.data import MAX_CLASSES

    if not 1 <= classes <= MAX_CLASSES:
        raise BadInputError(f"--classes must be 1 … {MAX_CLASSES:,}, got {classes}")
    rows = []
    for name in MODELS.names():
        try:
            info = describe(name, shape, classes).to_dict()
            info["error"] = ""
        except EdgeNNError as exc:
            info = {"name": name, "description": "", "parameters": None, "macs": None,
                    "train_defaults": {}, "error": str(exc)}
        rows.append(info)
    if args.json:
        ui.emit_json({"shape": list(shape), "classes": classes, "models": rows})
        return 0
    shape_text = "×".join(map(str, shape))
    table = Table(title=f"edgenn zoo — samples {shape_text}, {classes} classes")
    for column, justify in (("model", "left"), ("params", "right"), ("MACs", "right"),
                            ("description", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        if row["error"]:
            table.add_row(row["name"], "—", "—", f"[red]{row['error']}[/red]")
        else:
            table.add_row(row["name"], f"{row['parameters']:,}", f"{row['macs']:,}",
                          row["description"])
    ui.print(table)
    ui.print("train one: edgenn run --model NAME · your own: --model file.py:factory")
    return 0
