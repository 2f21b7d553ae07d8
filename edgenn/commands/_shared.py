"""What the command modules share: UI-backed pipeline hooks, option parsing, output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError
from edgenn.results import Report


def make_hooks(ui):
    """Pipeline hooks that draw on the UI (progress bars on stderr, status lines)."""
    from edgenn.pipeline import Hooks

    class UIHooks(Hooks):
        def status(self, message: str) -> None:
            ui.status(message)

        @contextmanager
        def progress(self, description: str, total: int | None
                     ) -> Iterator[Callable[..., None]]:
            with ui.progress(description, total) as advance:
                yield advance

    return UIHooks()


def add_latency_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("latency measurement")
    group.add_argument("--batch", type=int, default=1, metavar="N",
                       help="batch size of the timed runs (default: 1)")
    group.add_argument("--warmup", type=int, default=20, metavar="N",
                       help="untimed runs before timing (default: 20)")
    group.add_argument("--runs", type=int, default=200, metavar="N",
                       help="timed runs of run() per row (default: 200)")
    group.add_argument("--no-isolate", dest="isolate", action="store_false",
                       help="measure every row in this process instead of one fresh process "
                            "per row (faster, but rows can disturb each other's figures)")


def latency_settings(args: argparse.Namespace):
    from edgenn.harness import LatencySettings

    return LatencySettings(warmup=args.warmup, runs=args.runs, batch_size=args.batch,
                           threads=args.threads)


def parse_targets(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    names = tuple(t.strip() for t in value.split(",") if t.strip())
    if not names:
        raise BadInputError("--targets is empty")
    return names


def parse_target_options(pairs: list[str] | None) -> dict[str, dict[str, Any]]:
    """`--target-option snn-fast.timesteps=128` → {"snn-fast": {"timesteps": 128}}."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        target, dot, name = key.partition(".")
        if not sep or not dot or not target or not name:
            raise BadInputError(f"--target-option '{pair}' must look like TARGET.OPTION=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(target, {})[name] = value
    return options


def show_report(ui, report: Report, out: Path | None = None) -> None:
    from rich.markup import escape

    from edgenn.report import reasons, rich_table

    ui.print(rich_table(report))
    for label, why in reasons(report):
        ui.print(f"[yellow]{escape(label)}[/yellow]: {escape(why)}")
    for row in report.rows:
        if row.extra.get("note"):
            ui.print(f"[cyan]note[/cyan] {escape(row.label)}: {escape(str(row.extra['note']))}")
    if out is not None:
        ui.print(f"reports: {out / 'report.html'} · {out / 'report.md'} · "
                 f"{out / 'report.json'} · {out / 'manifest.json'}")
