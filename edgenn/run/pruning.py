"""Pruning in a run: the pruned, fine-tuned module, its `.pt2` program and its ONNX, and
the accuracy-budget fallback that lowers the sparsity when the pruned model loses too
much (fine-tuning again at each step)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgenn.core import Artifact, to_plain
from edgenn.quantize.prune import prune_model
from edgenn.run.config import CompressionConfig

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def say(progress: Progress | None, message: str) -> None:
    """Log a step of a pass, and show it on the caller's progress line."""
    log.info(message)
    if progress is not None:
        progress(message)


PRUNE_RETRIES = 2  # budget fallback: halve the sparsity at most this many times


def pruned_within_budget(model, data, onnx_artifact: Artifact, workdir: Path,
                         config: CompressionConfig, judged: Callable[[Artifact], Artifact], *,
                         seed: int = 0, train_config: Any = None,
                         progress: Progress | None = None) -> tuple[Any, Artifact, Artifact]:
    """`build_pruned`, and when the pruned model breaks the accuracy budget, again at half
    the sparsity (fine-tuned again), at most `PRUNE_RETRIES` times; the last attempt is
    kept, and its metadata lists every attempt (`prune_fallback`)."""
    sparsity = config.prune.sparsity
    tried: list[dict[str, Any]] = []
    while True:
        attempt = dataclasses.replace(config, prune=dataclasses.replace(config.prune,
                                                                        sparsity=sparsity))
        module, program, onnx = build_pruned(model, data, onnx_artifact, workdir, attempt,
                                             seed=seed, train_config=train_config,
                                             progress=progress)
        onnx = judged(onnx)
        record = onnx.metadata["budget"]
        tried.append({"sparsity": sparsity, "drop_pp": record["drop_pp"], "met": record["met"]})
        if record["met"] or config.max_accuracy_drop is None or len(tried) > PRUNE_RETRIES:
            break
        say(progress, f"pruned: accuracy drop {record['drop_pp']:.2f} pp at sparsity "
                       f"{sparsity:.2f} exceeds {config.max_accuracy_drop} pp; retrying at "
                       f"{sparsity / 2:.2f}")
        sparsity = round(sparsity / 2, 4)
    if len(tried) > 1:
        note = (f"pruned: sparsity lowered to {sparsity:.2f} for the accuracy budget ("
                + ", ".join(f"{t['sparsity']:.2f} → −{t['drop_pp']:.2f} pp" for t in tried)
                + ")")
        onnx = dataclasses.replace(onnx, metadata={
            **onnx.metadata, "prune_fallback": tried,
            "notes": [*onnx.metadata.get("notes", []), note]})
    return module, program, onnx


def build_pruned(model, data, onnx_artifact: Artifact, workdir: Path,
                 config: CompressionConfig, *, seed: int = 0, train_config: Any = None,
                 progress: Progress | None = None) -> tuple[Any, Artifact, Artifact]:
    """Prune `model`, fine-tune it on the training split, save it as a `.pt2` program and
    export it to ONNX (fp32). Returns (pruned module, its program artifact, its ONNX)."""
    from edgenn.exporters.onnx import export_onnx
    from edgenn.exporters.torch_program import export_program
    from edgenn.frontend.train import TrainConfig, train

    say(progress, f"pruning ({config.prune.method.value}, {config.prune.sparsity:.0%}) "
                   f"and fine-tuning {config.fine_tune_epochs} epochs")
    # the run's own training settings (its loss above all), for the fine-tuning budget
    tune = dataclasses.replace(train_config or TrainConfig(),
                               epochs=max(config.fine_tune_epochs, 1), lr=config.fine_tune_lr,
                               seed=seed)
    fine_tune = (lambda module: train(module, data, tune)) if config.fine_tune_epochs else None
    pruned, stats = prune_model(model, data.x_train[:8], config.prune, fine_tune=fine_tune)
    described = {**to_plain(config.prune), **stats.to_dict()}
    base = Artifact(path=onnx_artifact.path, format="torch",
                    lineage=(*onnx_artifact.lineage[:-1], f"prune:{stats.method}"))
    program = export_program(pruned, data.x_train[:2], workdir / "model.pruned.pt2",
                             source=base, variant="pruned", prune=described)
    exported = export_onnx(pruned, data.x_train[:2], workdir / "model.pruned.onnx",
                           parity_batches=[data.x_val[:64]], source=base)
    onnx = dataclasses.replace(exported, metadata={**exported.metadata, "variant": "pruned",
                                                   "prune": described})
    return pruned, program, onnx
