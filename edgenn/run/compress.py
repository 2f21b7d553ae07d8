"""Compression orchestration: the variants `edgenn run` measures, and the accuracy budget.

This module sees every stage (training loop, exporter, quantize passes, the cpu target),
which the passes themselves must not. It builds, from the trained model and its fp32
ONNX artifact:

- int8-dynamic;
- int8-static in the format that pays off on the CPU (`edgenn.run.int8_search`: each
  candidate setting quantized, checked against the budget on the validation split and
  timed at batch 1 on the cpu target; the fastest that meets the budget is kept);
- fp16 (for the GPU target);
- pruned (fine-tuned, exported to ONNX, fp32) and pruned-int8.

The budget (`max_accuracy_drop`, percentage points of validation accuracy against the
fp32 ONNX model, measured here in one process) is enforced by `int8_search.enforce_budget`: when a
static int8 model breaks it, per-node sensitivity ranks the nodes and the worst are kept
in float one at a time until it holds. Every decision is recorded in the artifact's
metadata (`selection`, `budget`, `notes`); the report's rows are measured later by the
harness on the test split.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    BudgetExceededError,
    EdgeNNError,
    samples,
)
from edgenn.core.errors import first_line
from edgenn.core.preparation import PLAIN_PREPROCESSING
from edgenn.quantize.fp16 import Fp16Config, convert_fp16
from edgenn.quantize.onnx_int8 import (
    DynamicConfig,
    quantize_dynamic,
)
from edgenn.run.config import CompressionConfig
from edgenn.run.int8_search import Evaluator, budget_record, choose_static
from edgenn.run.pruning import Progress, pruned_within_budget, say

log = logging.getLogger(__name__)


def budget_verdict(artifacts: Sequence[Artifact]) -> dict[str, Any] | None:
    """Whether any compressed variant met its accuracy budget; None when no budget was
    set. The report carries it; the CLI maps `met: False` to exit 3."""
    judged = [a for a in artifacts if "budget" in a.metadata
              and a.metadata["budget"].get("max_drop_pp") is not None]
    if not judged:
        return None
    limit = judged[0].metadata["budget"]["max_drop_pp"]
    drops = {a.variant: a.metadata["budget"]["drop_pp"] for a in judged}
    met = any(a.metadata["budget"]["met"] for a in judged)
    message = "" if met else (
        f"no variant meets the accuracy budget of {limit} pp ("
        + ", ".join(f"{name} −{drop:.2f} pp" for name, drop in drops.items()) + ")")
    return {"max_drop_pp": limit, "met": met, "drop_pp": drops, "message": message}


def require_budget(artifacts: Sequence[Artifact]) -> None:
    """BudgetExceededError (exit 3) when no compressed variant met its accuracy budget."""
    verdict = budget_verdict(artifacts)
    if verdict is not None and not verdict["met"]:
        raise BudgetExceededError(verdict["message"])


def with_preparation_note(artifact: Artifact) -> Artifact:
    """`artifact` with a note naming the preparation steps its model needed beyond ORT's
    own pre-processing (folded constants, an upgraded opset, a pre-processing fallback)."""
    steps = (artifact.metadata.get("quantization") or {}).get("preparation") or []
    unusual = [step for step in steps if step != PLAIN_PREPROCESSING]
    if not unusual:
        return artifact
    notes = [*artifact.metadata.get("notes", []),
             f"{artifact.variant}: prepared with {'; '.join(unusual)}"]
    return dataclasses.replace(artifact, metadata={**artifact.metadata, "notes": notes})


@dataclass
class Variants:
    """What `build_variants` made: the compressed ONNX artifacts, the pruned module
    (saved as a `.pt2` artifact too) for the passes that start from PyTorch (mobile), and
    the variants that could not be built, each with its reason."""

    artifacts: list[Artifact]
    pruned_module: Any = None
    pruned_program: Artifact | None = None
    failed: dict[str, str] = field(default_factory=dict)

    def attempt(self, variant: str, build: Callable[[], Any]) -> Any:
        """`build()` for one variant; a failure fails that variant alone (its reason kept
        in `failed`, the traceback logged for `--verbose`) and returns None."""
        try:
            return build()
        except EdgeNNError as exc:
            reason = str(exc)
        except Exception as exc:  # a library's failure: a row says so, the run goes on
            reason = first_line(exc)
        log.debug("%s failed", variant, exc_info=True)
        self.failed[variant] = reason
        return None


def build_variants(model, data, onnx_artifact: Artifact, workdir: str | Path,
                   config: CompressionConfig, calibration_x: np.ndarray, *, threads: int = 2,
                   seed: int = 0, train_config: Any = None,
                   progress: Progress | None = None, ranges_dir: Path | None = None) -> Variants:
    """The compressed variants of `onnx_artifact` (fp32 ONNX of `model`), in `workdir`.

    `model` is the trained nn.Module (for pruning), `data` the edgenn Dataset (training
    split for fine-tuning, validation split for the budget), `calibration_x` the run's one
    calibration set; `threads` and `seed` are the run's; `ranges_dir` where the build's
    calibration tables live (static int8 measures each model's ranges once there). Each
    variant is built and judged on its own: one that fails is listed in `failed` with
    its reason and the others are still built.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    evaluator = Evaluator(data.x_val, data.y_val, threads, config.latency_runs)
    if data.y_val is None:  # no labels: variants answer to agreement with the fp32 model
        evaluator.label_by(onnx_artifact)
    reference = evaluator.accuracy(onnx_artifact)
    made = Variants([])

    def judged(artifact: Artifact) -> Artifact:
        record = budget_record(reference, evaluator.accuracy(artifact),
                               config.max_accuracy_drop)
        return dataclasses.replace(artifact, metadata={**artifact.metadata, "budget": record})

    def keep(variant: str, build: Callable[[], Artifact]) -> Artifact | None:
        say(progress, variant)
        artifact = made.attempt(variant, build)
        if artifact is not None:
            artifact = with_preparation_note(artifact)
            made.artifacts.append(artifact)
        return artifact

    if "int8-dynamic" in config.variants:
        keep("int8-dynamic", lambda: judged(quantize_dynamic(
            onnx_artifact, workdir / "model.int8-dynamic.onnx", DynamicConfig())))
    chosen_settings = None
    if "int8-static" in config.variants:
        static = keep("int8-static", lambda: choose_static(
            onnx_artifact, workdir / "model.int8-static.onnx", calibration_x, evaluator,
            config, progress=progress, ranges_dir=ranges_dir))
        chosen_settings = static.metadata["selection"]["chosen"] if static else None
    if "fp16" in config.variants:
        keep("fp16", lambda: judged(convert_fp16(onnx_artifact, workdir / "model.fp16.onnx",
                                                 Fp16Config())))
    if "pruned" in config.variants or "pruned-int8" in config.variants:
        pruned = made.attempt("pruned", lambda: pruned_within_budget(
            model, data, onnx_artifact, workdir, config, judged, seed=seed,
            train_config=train_config, progress=progress))
        if pruned is None:
            reason = made.failed.pop("pruned")
            for variant in ("pruned", "pruned-int8"):
                if variant in config.variants:
                    made.failed[variant] = reason if variant == "pruned" else \
                        f"needs the pruned model, which failed: {reason}"
            return made
        made.pruned_module, made.pruned_program, pruned_artifact = pruned
        if "pruned" in config.variants:
            made.artifacts.append(pruned_artifact)
        if "pruned-int8" in config.variants:
            candidates = [c for c in config.candidates if c.name == chosen_settings] \
                or list(config.candidates)
            sub = dataclasses.replace(config, candidates=tuple(candidates))
            keep("pruned-int8", lambda: choose_static(
                pruned_artifact, workdir / "model.pruned-int8.onnx", calibration_x, evaluator,
                sub, variant="pruned-int8", progress=progress, reference_accuracy=reference,
                ranges_dir=ranges_dir))
    return made


def calibration_set(x_train: samples.Samples, count: int, seed: int = 0) -> samples.Samples:
    """`count` rows of the training split (every input of it), drawn without replacement
    (seeded); float inputs as float32."""
    rows = samples.count(x_train)
    if rows == 0:
        raise BadInputError("calibration set is empty: the training split has no samples")
    index = np.sort(np.random.default_rng(seed).permutation(rows)[:count])
    drawn = samples.take(x_train, index)
    if isinstance(drawn, dict):
        return {name: np.ascontiguousarray(a, dtype=np.float32 if a.dtype.kind == "f"
                                           else a.dtype) for name, a in drawn.items()}
    return np.ascontiguousarray(drawn, dtype=np.float32)
