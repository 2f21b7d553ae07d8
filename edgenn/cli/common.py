"""What the command modules share: common options, UI-backed pipeline hooks, option
parsing, output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError
from edgenn.core.config import SEED_LIMIT
from edgenn.core.results import Report


def add_common(parser: argparse.ArgumentParser, *, out: bool = True) -> None:
    """Options every pipeline verb shares."""
    if out:
        parser.add_argument("--out", default="edgenn-out", metavar="DIR",
                            help="build directory for artifacts and reports "
                                 "(default: %(default)s)")
    parser.add_argument("--seed", type=seed_value, default=0,
                        help="random seed, 0 … 2³²−1 (default: 0)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="intra-op threads for every runtime (default: 2)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or tables, only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--wide", action="store_true",
                        help="print every column of the table (by default columns are "
                             "dropped to fit the terminal, $COLUMNS, or 100 when piped)")


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (a bad one is exit 2 with argparse's one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def seed_value(text: str) -> int:
    """argparse type: a seed NumPy and PyTorch both take (0 … 2³² − 1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 0 … {SEED_LIMIT - 1}, got {value}")
    return value


def make_hooks(ui):
    """Pipeline hooks that draw on the UI (progress bars on stderr, status lines)."""
    from edgenn.run.config import Hooks

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
    """--batch/--warmup/--runs/--no-isolate; unset options keep the recipe's values, whose
    defaults are LatencySettings' own."""
    from edgenn.run.config import LatencySettings

    default = LatencySettings()
    group = parser.add_argument_group("latency measurement")
    group.add_argument("--batch", type=int, default=None, metavar="N",
                       help=f"batch size of the timed runs (default: {default.batch_size})")
    group.add_argument("--warmup", type=int, default=None, metavar="N",
                       help=f"untimed runs before timing (default: {default.warmup})")
    group.add_argument("--runs", type=int, default=None, metavar="N",
                       help=f"timed runs of run() per row (default: {default.runs})")
    group.add_argument("--no-isolate", dest="isolate", action="store_false", default=None,
                       help="measure every row in this process instead of one fresh process "
                            "per row (faster, but rows can disturb each other's figures)")
    parser.set_defaults(threads=None, seed=None)


def latency_overrides(args: argparse.Namespace) -> dict[tuple[str, str], Any]:
    """The recipe keys the latency options set."""
    return {("latency", "warmup"): args.warmup, ("latency", "runs"): args.runs,
            ("latency", "batch"): args.batch, ("latency", "threads"): args.threads,
            ("latency", "isolate"): args.isolate, ("train", "seed"): args.seed}


def exit_for_budget(report: Report) -> int:
    """Exit 3 (with its one line) when the report says the accuracy budget was not met."""
    verdict = report.extra.get("budget")
    if verdict and not verdict.get("met", True):
        from edgenn.core import BudgetExceededError

        raise BudgetExceededError(verdict.get("message") or "the accuracy budget was not met")
    return 0


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

    from edgenn.report import spiking
    from edgenn.report.table import (
        no_variant_headline,
        notes,
        reasons,
        recommended_lines,
        rich_table,
    )

    headline = no_variant_headline(report)
    if headline:
        ui.print(f"[bold red]{escape(headline)}[/bold red]")
    ui.print(rich_table(report, ui.out.width, ui.wide))
    for line in recommended_lines(report):
        ui.print(f"[green]recommended[/green] {escape(line)}")
    budget = report.extra.get("budget")
    if budget and not budget.get("met", True):
        ui.print(f"[red]over budget[/red] {escape(budget.get('message', ''))}")
    for label, why in reasons(report):
        ui.print(f"[yellow]{escape(label)}[/yellow]: {escape(why)}")
    for label, kind, text in notes(report):
        color = "yellow" if kind == "warning" else "cyan"
        ui.print(f"[{color}]{kind}[/{color}] {escape(label)}: {escape(text)}")
    for table in spiking.rich_tables(report):
        ui.print(table)
    if out is not None:
        ui.print(f"reports: {out / 'report.html'} · {out / 'report.md'} · "
                 f"{out / 'report.json'} · {out / 'manifest.json'}")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print what was written as JSON on stdout (and nothing else)")


def emit_artifact(ui, args: argparse.Namespace, artifact, **figures: Any) -> None:
    """With --json, the written artifact (path, format, lineage, metadata, size, sha256)
    and the command's figures as the command's JSON output."""
    if getattr(args, "json", False):
        from edgenn.core import jsonable, sha256_of

        ui.emit_json(jsonable({"artifact": artifact.to_dict(),
                               "size_bytes": artifact.size_bytes(),
                               "sha256": sha256_of(artifact.path), **figures}))

