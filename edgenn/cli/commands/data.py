"""`edgenn data`: the embedded data sets (`--data NAME` anywhere), and a copy of one."""

from __future__ import annotations

import argparse

HELP = "list the embedded data sets (digits, signals) or save one as an .npz"
DESCRIPTION = """\
List the data sets edgenn carries (nothing is downloaded), each usable by name wherever a
command takes --data: `digits` (scikit-learn's handwritten digits, images 1×8×8) and
`signals` (procedural three-axis sensor waveforms, signals 3×128, generated from a fixed
seed). Each is split the same way every time: 60 % train, 20 % validation, 20 % test,
stratified by class.

With a NAME and --save, the data set is written as an .npz holding its explicit split
(x_train, y_train, x_val, y_val, x_test, y_test): the layout to copy for your own data
when you want your test set kept exactly as given.

Examples:
  edgenn data                                  # the embedded data sets
  edgenn data --json
  edgenn run --model tcn --data signals        # a 1-D model on the signals
  edgenn data signals --save signals.npz       # its split, as a file you can inspect
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, metavar="NAME",
                        help="one embedded data set (default: list them all)")
    parser.add_argument("--save", default=None, metavar="FILE.npz",
                        help="write NAME's split (x_train, y_train, x_val, y_val, x_test, "
                             "y_test) to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def execute(args: argparse.Namespace, ui) -> int:
    from edgenn.core import BadInputError
    from edgenn.frontend.data import EMBEDDED

    if args.name is not None and args.name not in EMBEDDED:
        raise BadInputError(f"no embedded data set '{args.name}' (embedded: "
                            f"{', '.join(EMBEDDED)}; your own: --data my.npz)")
    if args.save and args.name is None:
        raise BadInputError("--save needs the name of the data set to save, e.g. "
                            "`edgenn data signals --save signals.npz`")
    names = [args.name] if args.name else list(EMBEDDED)
    loaded = {name: EMBEDDED[name]() for name in names}  # each generated once
    rows = [_describe(name, EMBEDDED[name], loaded[name]) for name in names]
    if args.save:
        _save(loaded[args.name], args.save)
        rows[0]["saved"] = str(args.save)
    if args.json:
        ui.emit_json({"datasets": rows})
        return 0
    from rich.table import Table

    table = Table(title="edgenn embedded data sets (--data NAME)")
    for column, justify in (("name", "left"), ("train/val/test", "right"),
                            ("sample", "left"), ("classes", "right"), ("what", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(row["name"], "/".join(f"{row['samples'][k]:,}"
                                             for k in ("train", "val", "test")),
                      "×".join(map(str, row["sample_shape"])), str(row["classes"]),
                      row["description"])
    ui.print(table)
    if args.save:
        ui.print(f"saved {args.name} to {args.save}")
    else:
        ui.print("use one: edgenn run --data NAME · save one: edgenn data NAME --save F.npz")
    return 0


def _describe(name: str, loader, data) -> dict:
    return {"name": name, "description": (loader.__doc__ or "").strip().splitlines()[0],
            "samples": {"train": len(data.y_train), "val": len(data.y_val),
                        "test": len(data.y_test)},
            "sample_shape": list(data.sample_shape), "classes": data.num_classes}


def _save(data, path: str) -> None:
    from pathlib import Path

    import numpy as np

    from edgenn.core import BadInputError, atomic_path

    target = Path(path)
    if target.suffix != ".npz":
        raise BadInputError(f"--save {path}: the file name must end in .npz")
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, x_train=data.x_train, y_train=data.y_train, x_val=data.x_val,
                     y_val=data.y_val, x_test=data.x_test, y_test=data.y_test)
    except OSError as exc:
        raise BadInputError(f"--save {path}: cannot write it ({exc.strerror or exc})") from None
