"""`edgenn targets`: every registered target, whether it is usable here, and why not."""

from __future__ import annotations

import argparse

HELP = "list targets, their availability and how to install what is missing"
DESCRIPTION = """\
List every registered target (built-in and plug-ins from the `edgenn.targets` entry-point
group) with its availability on this machine. An unavailable target shows the reason and
the command that installs what it needs. Exit code 0 whatever is available.
"""


def configure(parser: argparse.ArgumentParser) -> None:
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
                     "accepts": accepts, "description": description})
    if args.json:
        ui.emit_json(rows)
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
