"""Errors edgenn raises on purpose. The CLI prints each as one line and exits with its
`exit_code`; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class EdgeNNError(Exception):
    """Base of every error edgenn raises on purpose; the CLI prints it as one line."""

    exit_code = 2


class BadInputError(EdgeNNError):
    """A file, option or data set that edgenn cannot use as given."""


class UnsupportedOperatorError(EdgeNNError):
    """A model holds operators a target or converter cannot handle; lists all of them.

    `operators` is what the message names (operator types, counted when a graph holds
    many of one: "Clip ×35 (first: /act/Clip)"); `nodes`, when given, every offending
    node itself.
    """

    def __init__(self, what: str, operators: Sequence[str], reason: str = "",
                 nodes: Sequence[str] = ()) -> None:
        self.operators = list(operators)
        self.nodes = list(nodes)
        listed = ", ".join(self.operators)
        tail = f" ({reason})" if reason else ""
        super().__init__(f"{what}: unsupported operator(s): {listed}{tail}")


class ToleranceExceededError(EdgeNNError):
    """Numerical parity between two backends is worse than the tolerance allows."""

    def __init__(self, output: str, error: float, tolerance: float, where: str = "") -> None:
        self.output, self.error, self.tolerance = output, error, tolerance
        place = f" {where}" if where else ""
        super().__init__(
            f"output '{output}'{place}: max abs error {error:.3g} exceeds tolerance "
            f"{tolerance:.3g}"
        )


class TargetUnavailableError(EdgeNNError):
    """A target's toolchain or hardware is missing; the message says how to get it."""


class BudgetExceededError(EdgeNNError):
    """No variant met the user's accuracy budget."""

    exit_code = 3


class StepFailedError(EdgeNNError):
    """A library step of a pass failed on this model (ONNX Runtime's quantizer, the
    checker, a session): which step, where in the graph when known, and the library's
    own message, in one line. The cause keeps the library's traceback (`--verbose`)."""

    def __init__(self, step: str, message: str, node: str | None = None,
                 op_type: str | None = None) -> None:
        self.step, self.message, self.node, self.op_type = step, message, node, op_type
        where = f" at node {node} ({op_type})" if node else \
            (f" at a {op_type} node" if op_type else "")
        super().__init__(f"{step} failed{where}: {message}")


@contextmanager
def library_step(step: str) -> Iterator[None]:
    """Run a library call as the named step of a pass: any exception that is not
    edgenn's becomes one `StepFailedError` line (the graph node the library was working
    on, when its traceback shows one), chained to the original."""
    try:
        yield
    except EdgeNNError:
        raise
    except Exception as exc:
        node = node_in_traceback(exc)
        raise StepFailedError(step, first_line(exc), getattr(node, "name", None) or None,
                              getattr(node, "op_type", None)) from exc


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: its type and first non-empty line of text."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:limit]}" if lines else type(exc).__name__


def node_in_traceback(exc: BaseException):
    """The innermost `node` local (an ONNX NodeProto-like object: it has `op_type`) in the
    frames the exception passed through; None when there is none."""
    found, tb = None, exc.__traceback__
    while tb is not None:
        node = tb.tb_frame.f_locals.get("node")
        if node is not None and hasattr(node, "op_type") and hasattr(node, "name"):
            found = node
        tb = tb.tb_next
    return found
