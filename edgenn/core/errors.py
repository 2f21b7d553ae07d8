"""Errors edgenn raises on purpose. The CLI prints each as one line and exits with its
`exit_code`; anything else is a bug and keeps its traceback."""

from __future__ import annotations

from collections.abc import Sequence


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
