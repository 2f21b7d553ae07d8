"""`edgenn recipe`: print the embedded default recipe or write an editable copy."""

from __future__ import annotations

import argparse

HELP = "show the default recipe, or write an editable copy to start from"
DESCRIPTION = """\
A recipe is a TOML file holding every setting of `edgenn run`: model, data, training,
pruning and quantization, targets, accuracy budget and latency settings. The embedded
default is itself a recipe.

Examples:
  edgenn recipe show default          # print the default recipe
  edgenn recipe show my.toml          # the effective settings of your recipe, validated
  edgenn recipe init my.toml          # write an editable copy of the default
  edgenn run my.toml                  # run it
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))
    show = sub.add_parser("show", help="print a recipe (default: the embedded default)")
    show.add_argument("name", nargs="?", default="default",
                      help="'default' or a recipe file to validate and print, "
                           "every default filled in")
    init = sub.add_parser("init", help="write an editable copy of the default recipe")
    init.add_argument("path", nargs="?", default="edgenn-recipe.toml",
                      help="where to write it (default: %(default)s)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    for sub_parser in (show, init):
        sub_parser.add_argument("-q", "--quiet", action="store_true", help="no messages")


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    from edgenn.core import BadInputError, write_text_atomic
    from edgenn.run.recipe import build_config, default_text, recipe_text

    if args.action == "show":
        if args.name == "default":
            print(default_text(), end="")
            return 0
        print(recipe_text(build_config(args.name)), end="")
        return 0
    path = Path(args.path)
    if path.exists() and not args.force:
        raise BadInputError(f"{path} exists; pass --force to overwrite it")
    try:
        write_text_atomic(path, default_text())
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    ui.print(f"wrote {path}; edit it, then: edgenn run {path}")
    return 0
