"""The bottom of the house: types and errors every stage shares (stdlib + NumPy only).

`exporters/`, `quantize/` and `targets/` import only this package, never each other, so
a target or a pass can be added without touching the rest. The names below are the ones
the stages use; each lives in a small module of its own.
"""

from edgenn.core import samples
from edgenn.core.artifact import Artifact, TensorSpec
from edgenn.core.config import jsonable, parse_enum, to_plain
from edgenn.core.errors import (
    BadInputError,
    BudgetExceededError,
    EdgeNNError,
    StepFailedError,
    TargetUnavailableError,
    ToleranceExceededError,
    UnsupportedOperatorError,
)
from edgenn.core.files import (
    atomic_path,
    native_stderr_silenced,
    prepare_out_dir,
    sha256_of,
    write_text_atomic,
)
from edgenn.core.target import Runner, RunOptions, Target, predicted_classes, runner_metrics

__all__ = [
    "Artifact", "BadInputError", "BudgetExceededError", "EdgeNNError", "RunOptions", "Runner",
    "StepFailedError",
    "Target", "TargetUnavailableError", "TensorSpec", "ToleranceExceededError",
    "UnsupportedOperatorError", "atomic_path", "jsonable", "native_stderr_silenced",
    "parse_enum", "predicted_classes", "prepare_out_dir", "runner_metrics", "samples",
    "sha256_of", "to_plain", "write_text_atomic",
]
