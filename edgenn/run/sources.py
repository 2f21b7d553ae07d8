"""Where the run's fp32 model comes from, and its reference outputs.

- trained here: a zoo model or a user's `file.py:factory`, trained by edgenn;
- pretrained: the same model with the user's weights (`--weights`), never retrained;
- an ONNX file made elsewhere (`edgenn run model.onnx`): no PyTorch module at all, so the
  variants that need one (pruning, litert-torch's .tflite, the PyTorch reference row)
  become rows that say so, and the fp32 ONNX model on ONNX Runtime is the reference;
- a .tflite made elsewhere (`edgenn run model.tflite`): the TFLite half of a run,
  `edgenn.run.tflite_source.run_tflite`, which `edgenn.api.run` and a sweep point call in
  place of `pipeline.run` (it reuses the pipeline's compile and measure steps).

Each gives a `Source`: the artifacts every later step starts from, the reference outputs
on the test split and what the report records about it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions, atomic_path
from edgenn.core.results import Measurement
from edgenn.core.target import run_in_chunks
from edgenn.frontend.data import Dataset
from edgenn.run import plan
from edgenn.run.config import Hooks, RunConfig
from edgenn.run.plan import NEEDS_PYTORCH


@dataclass
class Source:
    """The fp32 model the run starts from."""

    onnx: Artifact
    artifacts: list[Artifact]  # everything written for it (checkpoint, .pt2, ONNX)
    reference: np.ndarray  # fp32 outputs on the test split
    info: dict[str, Any]  # report.extra["source"]
    model: Any = None  # the trained nn.Module; None for an ONNX source
    checkpoint: Artifact | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # training curve
    rows: list[Measurement] = field(default_factory=list)  # rows decided already


def is_onnx(model: str) -> bool:
    return str(model).lower().endswith(".onnx")


def is_tflite(model: str) -> bool:
    return str(model).lower().endswith(".tflite")


def from_pytorch(model, data: Dataset, config: RunConfig, hooks: Hooks,
                 export_config: Any = None, weights_digest: str | None = None) -> Source:
    """Train `model` — or, with `config.weights`, take it as loaded (`weights_digest` is
    its weights' hash then; they are loaded here unless given) — then write its
    checkpoint, `.pt2` program and ONNX export."""
    from edgenn.frontend.train import predict

    history: list[dict[str, float]] = []
    if config.weights:
        if weights_digest is None:
            from edgenn.frontend.weights import load_weights

            weights_digest = load_weights(model, config.weights)
        info = {"kind": "pretrained", "weights": str(config.weights),
                "weights_sha256": weights_digest}
        hooks.status(f"loaded pretrained weights from {config.weights} (not retrained)")
    else:
        info, history = _train(model, data, config, hooks)
    checkpoint, program, onnx = plan.sources(model, data, config, hooks, info, export_config)
    if config.weights:
        from edgenn.frontend import weights

        info["unchanged"] = weights.weights_digest(model) == info["weights_sha256"]
    return Source(onnx, [checkpoint, program, onnx], predict(model, data.x_test), info,
                  model=model, checkpoint=checkpoint, history=history)


def from_onnx(artifact: Artifact, data: Dataset, config: RunConfig, hooks: Hooks) -> Source:
    """A user's ONNX model, copied into the build with its external data; its outputs on
    ONNX Runtime (cpu) are the reference."""
    from edgenn.targets.cpu import CpuTarget

    model_dir = config.out / "model"
    here = artifact.path.parent
    copies = []
    for file in artifact.files():  # external data keeps its relative path: the model names it
        try:
            copy = model_dir / Path(file).relative_to(here)
        except ValueError:
            raise BadInputError(f"{artifact.path}: external data {file} lies outside the "
                                "model's folder; keep it beside the model") from None
        copy.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(copy) as tmp:
            shutil.copyfile(file, tmp)
        copies.append(copy)
    onnx = Artifact(copies[0], "onnx", artifact.inputs, artifact.outputs, artifact.lineage,
                    tuple(copies[1:]), artifact.metadata)
    hooks.status(f"ONNX source {artifact.path} ({onnx.variant}); reference: ONNX Runtime cpu")
    runner = CpuTarget().load(onnx, RunOptions(threads=config.latency.threads))
    reference = run_in_chunks(runner.run, data.x_test)
    rows = [Measurement(target="pytorch", variant="fp32", status="skipped",
                        reason=NEEDS_PYTORCH)] if "pytorch" in config.target_names else []
    if "tflite" in config.target_names:
        rows.append(Measurement(target="tflite", variant="–", status="skipped",
                                reason=f"{NEEDS_PYTORCH}: litert-torch converts from PyTorch"))
    return Source(onnx, [onnx], reference, {"kind": "onnx", "path": str(artifact.path)},
                  rows=rows)


def _train(model, data: Dataset, config: RunConfig, hooks: Hooks
           ) -> tuple[dict[str, Any], list[dict[str, float]]]:
    from edgenn.frontend.train import train
    from edgenn.frontend.zoo import user_code_error, user_file

    with hooks.progress("train", config.train.epochs) as advance:
        try:
            result = train(model, data, config.train,
                           lambda epoch, total, rec: advance(
                               info=f"val loss {rec['val_loss']:.3f} "
                                    f"acc {rec['val_accuracy']:.3f}"))
        except Exception as exc:
            if user_file(config.model) is None:
                raise  # a zoo model failing to train is a bug: keep the traceback
            raise BadInputError(f"{config.model} failed while training: "
                                f"{user_code_error(exc, user_file(config.model))}") from None
    hooks.status(f"trained {config.model}: kept epoch {result.kept_epoch} of "
                 f"{result.epochs_run} (best {result.best_epoch}), "
                 f"val accuracy {result.val_accuracy:.4f}")
    return ({"kind": "trained", "train": config.train.to_dict(), "best_epoch": result.best_epoch,
             "kept_epoch": result.kept_epoch,
             "epochs_run": result.epochs_run, "val_accuracy": result.val_accuracy},
            list(result.history))


def with_observed_outputs(artifact: Artifact, x, threads: int = 2) -> Artifact:
    """`artifact` (ONNX) with its first output's shape as ONNX Runtime really produces it
    on one sample of `x`: a model whose declaration disagrees (a stale export, a hand-edited
    graph) is measured by what it returns, and a warning names the declaration. Labels
    are then checked against the real class count."""
    import logging

    from edgenn.core import samples
    from edgenn.core.artifact import TensorSpec
    from edgenn.targets.cpu import CpuTarget

    if artifact.format != "onnx" or not artifact.outputs or samples.count(x) == 0:
        return artifact
    runner = CpuTarget().load(artifact, RunOptions(threads=threads))
    real = np.asarray(runner.run(samples.take(x, slice(0, 1)))).shape
    declared = artifact.outputs[0]
    same = len(declared.shape) == len(real) and all(
        not isinstance(d, int) or d == r for d, r in zip(declared.shape[1:], real[1:],
                                                          strict=False))
    if same:
        return artifact
    shown = "×".join(str(d) for d in declared.shape) or "a scalar"
    logging.getLogger(__name__).warning(
        "%s declares its output '%s' as %s but ONNX Runtime returns %s per sample: edgenn "
        "measures what the runtime returns", artifact.path.name, declared.name, shown,
        "×".join(str(d) for d in real[1:]) or "a scalar")
    observed = TensorSpec(declared.name, ("batch", *real[1:]), declared.dtype)
    return replace(artifact, outputs=(observed, *artifact.outputs[1:]))
