"""`edgenn targets`: every registered target, whether it is usable here, and why not."""

from __future__ import annotations

import argparse

HELP = "list targets, their availability and how to install what is missing"
DESCRIPTION = """\
List every registered target (built-in and plug-ins from the `edgenn.targets` entry-point
group) with its availability on this machine. An unavailable target shows the reason and
the command that installs what it needs. Exit code 0 whatever is available.

`--options` lists what each target takes with `--target-option TARGET.OPTION=VALUE` (or
`[targets.TARGET]` in a recipe): name, type and default. An option a target does not take
is refused before any work, with this list.

  edgenn targets --options
  edgenn run --targets snn-fast --target-option snn-fast.timesteps=128
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--options", action="store_true",
                        help="list every target's options (name, type, default)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def execute(args: argparse.Namespace, ui) -> int:

    from rich.markup import escape
    from rich.table import Table

    from edgenn.core.registry import TARGETS, create_target

    rows = []
    for name in TARGETS.names():
        try:
            target = create_target(name)
            reason = target.available()
            description = target.description
            accepts = ", ".join(target.accepts)
        except Exception as exc:  # a plug-in that fails to import is reported, not fatal
            reason, description, accepts = f"{type(exc).__name__}: {exc}", "", ""
        rows.append({"name": name, "available": reason is None, "reason": reason or "",
                     "accepts": accepts, "description": description,
                     "options": _options(name)})
    if args.json:
        ui.emit_json(rows)
        return 0
    if args.options:
        table = Table(title="edgenn target options (--target-option TARGET.OPTION=VALUE)")
        for column in ("target", "option", "type", "default"):
            table.add_column(column, overflow="fold")
        for row in rows:
            for option, info in row["options"].items():
                table.add_row(escape(row["name"]), escape(option), escape(info["type"]),
                              escape(info["default"]))
            if not row["options"]:
                table.add_row(escape(row["name"]), "–", "", "")
        ui.print(table)
        return 0
    table = Table(title="edgenn targets")
    for column in ("target", "available", "accepts", "description / reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        mark = "[green]yes[/green]" if row["available"] else "[red]no[/red]"
        detail = row["description"] if row["available"] else row["reason"]
        table.add_row(escape(row["name"]), mark, escape(row["accepts"]), escape(detail))
    ui.print(table)
    return 0


def _options(name: str) -> dict:
    from edgenn.core.registry import target_options

    try:
        return target_options(name)
    except Exception:  # a plug-in that fails to import: reported by the availability column
        return {}

