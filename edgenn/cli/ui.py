"""User-facing output: the rich console, progress bars and quiet/JSON modes.

Library code never prints; it takes callbacks. The CLI layer builds one `UI` and hands
its callbacks down.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class UI:
    """Console output for one CLI invocation (stderr for progress, stdout for results)."""

    def __init__(self, quiet: bool = False, json_mode: bool = False, wide: bool = False
                 ) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.json_mode = json_mode
        self.wide = wide
        self.pending_json: str | None = None
        # Progress and tables go to stderr in --json mode so stdout stays parseable.
        stream = sys.stderr if json_mode else sys.stdout
        self.width = table_width(stream.isatty(), wide)
        self.out = Console(file=stream, highlight=False, width=self.width)
        self.err = Console(file=sys.stderr, highlight=False)

    def emit_json(self, data: Any, **dump: Any) -> None:
        """The command's result as JSON: held until the command is done, then written to
        stdout alone (`edgenn.cli.program.main`), so nothing else ever precedes it."""
        import json

        self.pending_json = json.dumps(data, indent=2, **dump)

    def flush_json(self) -> None:
        text, self.pending_json = self.pending_json, None
        if text is not None:
            print(text, flush=True)

    def print(self, *objects: Any) -> None:
        if not self.quiet:
            self.out.print(*objects)

    def status(self, message: str) -> None:
        if not self.quiet:
            from rich.markup import escape

            self.err.print(f"[dim]·[/dim] {escape(message)}")

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Any]:
        """A progress bar; yields `advance(n=1, **fields)`. Silent when quiet."""
        if self.quiet:
            yield lambda *_, **__: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                      console=self.err, transient=False) as bar:
            task = bar.add_task(description, total=total, info="")

            def advance(n: int = 1, info: str = "") -> None:
                bar.update(task, advance=n, info=info)

            yield advance


def table_width(tty: bool, wide: bool) -> int | None:
    """Columns the tables may use: $COLUMNS when set (piped output too), the terminal's
    width on a terminal, else 100; `--wide` lifts the limit (every column, no folding)."""
    import os

    if wide:
        return 400
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if tty else 100

