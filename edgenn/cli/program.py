"""The `edgenn` command line: one module per verb under `edgenn/cli/commands/`.

Each command module exposes `HELP` (one line), `DESCRIPTION` (the `--help` text),
`configure(parser)` and `execute(args, ui) -> int`. Heavy toolchains are imported inside
`execute`, so `edgenn --help` is instant.

Exit codes: 0 success · 1 internal error (a bug: the traceback is kept) · 2 bad input
or unusable target · 3 a measured goal not met (accuracy budget, compare regressions) ·
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

COMMANDS = {  # in the order `edgenn --help` lists them: the main job, its steps, tools
    "run": "edgenn.cli.commands.run",
    "recipe": "edgenn.cli.commands.recipe",
    "export": "edgenn.cli.commands.export",
    "quantize": "edgenn.cli.commands.quantize",
    "prune": "edgenn.cli.commands.prune",
    "compile": "edgenn.cli.commands.compile",
    "bench": "edgenn.cli.commands.bench",
    "profile": "edgenn.cli.commands.profile",
    "diverge": "edgenn.cli.commands.diverge",
    "simulate": "edgenn.cli.commands.simulate",
    "compare": "edgenn.cli.commands.compare",
    "sweep": "edgenn.cli.commands.sweep",
    "targets": "edgenn.cli.commands.targets",
    "devices": "edgenn.cli.commands.devices",
    "zoo": "edgenn.cli.commands.zoo",
    "data": "edgenn.cli.commands.data",
}

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EPILOG = """\
exit codes: 0 ok · 1 internal error · 2 bad input or unusable target ·
            3 accuracy budget not met, or regressions (compare --fail-on-regression) ·
            130 interrupted

Start with `edgenn run`: it trains the default CNN on the embedded digits data, exports
it to ONNX, compiles it for every available target and prints a side-by-side report.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"edgenn: error: {message} (see `{self.prog} --help`)\n")


def configure_logging(verbose: bool) -> None:
    """edgenn's own warnings by default; everything with --verbose.

    The toolchains edgenn drives (litert-torch, torchao, absl, TensorFlow's C++ core) log
    INFO lines and deprecation warnings a user cannot act on: they are kept out unless
    --verbose asks for them.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("edgenn").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        # Some toolchains force their own loggers to DEBUG (onnxruntime.tools does): keep
        # only their errors at the handler.
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: record.levelno >= logging.ERROR
                              or record.name.startswith("edgenn"))
        import os
        import warnings

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edgenn",
        description="Take a PyTorch model to CPU, mobile, GPU and spiking neuromorphic "
                    "targets, and measure every deployment side by side.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from edgenn import __version__

    parser.add_argument("--version", action="version", version=f"edgenn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(command)
        command.set_defaults(_execute=module.execute)
    return parser


INTERRUPTED = "edgenn: interrupted; the build directory holds only complete files"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (the process's own when None) and return its exit code.

    Ctrl-C anywhere in it — while the commands load, while a worker starts, in a
    measurement — ends in exit 130 and one line. As the process's own command line (argv
    None), once the outcome is decided a late Ctrl-C is ignored: the interpreter's
    shutdown (torch, ONNX Runtime, worker pools) would otherwise be killed by it (exit
    −2) after the work is done."""
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        if argv is None:
            _outcome_decided()  # a second Ctrl-C cannot cut the line below
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    if argv is None:
        _outcome_decided()
    return code


def _outcome_decided() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_OK
    configure_logging(getattr(args, "verbose", False))
    from edgenn.cli.ui import UI
    from edgenn.core import EdgeNNError

    ui = UI(quiet=getattr(args, "quiet", False), json_mode=getattr(args, "json", False),
            wide=getattr(args, "wide", False))
    try:
        with _stdout_held_for_json(ui.json_mode):
            code = int(args._execute(args, ui) or 0)
    except EdgeNNError as exc:
        ui.flush_json()  # a report written before exit 3 is still the output
        print(f"edgenn: error: {exc}", file=sys.stderr)
        return exc.exit_code
    ui.flush_json()
    return code


@contextmanager
def _stdout_held_for_json(enabled: bool) -> Iterator[None]:
    """With --json, stdout carries the JSON alone: while the command runs, whatever the
    toolchains write to stdout — Python `print`s and native writes to file descriptor 1
    alike (onnxruntime's calibrators, exporters) — goes to stderr instead."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved_fd, saved_stream = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout = saved_stream


if __name__ == "__main__":
    sys.exit(main())
