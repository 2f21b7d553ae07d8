"""Compression orchestration: the variants `edgenn run` measures, and the accuracy budget.

This module sees every stage (training loop, exporter, quantize passes, the cpu target),
which the passes themselves must not. It builds, from the trained model and its fp32
ONNX artifact:

- int8-dynamic;
- int8-static in the format that pays off on the CPU: each candidate setting is
  quantized, checked against the budget on the validation split, and timed at batch 1
  on the cpu target; the fastest that meets the budget is kept;
- fp16 (for the GPU target);
- pruned (fine-tuned, exported to ONNX, fp32) and pruned-int8.

The budget (`max_accuracy_drop`, percentage points of validation accuracy against the
fp32 ONNX model, measured here in one process) is enforced by `enforce_budget`: when a
static int8 model breaks it, per-node sensitivity ranks the nodes and the worst are kept
in float one at a time until it holds. Every decision is recorded in the artifact's
metadata (`selection`, `budget`, `notes`); the report's rows are measured later by the
harness on the test split.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
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
    RunOptions,
    atomic_path,
    predicted_classes,
    samples,
)
from edgenn.core.errors import first_line, library_step
from edgenn.core.preparation import PLAIN_PREPROCESSING
from edgenn.core.target import run_in_chunks
from edgenn.quantize.fp16 import Fp16Config, convert_fp16
from edgenn.quantize.onnx_int8 import (
    DynamicConfig,
    StaticConfig,
    quantize_dynamic,
    quantize_static,
)
from edgenn.run.config import CompressionConfig
from edgenn.run.pruning import Progress, pruned_within_budget, say

log = logging.getLogger(__name__)


# The int8 candidates are timed in this many interleaved rounds; one is preferred over
# another for speed only when faster by more than the noise margin in all of them but at
# most one in five (`beats`).
TIMING_ROUNDS = 7


@dataclass
class Evaluator:
    """Validation accuracy and batch-1 latency on the cpu target, in this process."""

    x_val: np.ndarray
    y_val: np.ndarray | None  # None until labelled (pseudo-labels: the fp32 model)
    threads: int = 2
    latency_runs: int = 100
    _cache: dict[str, float] = field(default_factory=dict)
    # Unlabelled data: the fp32 model's outputs on x_val. Agreement with its argmax is
    # then the "accuracy", and the SNR against its outputs (`fidelity_db`) the finer
    # measure of how close a variant stays.
    reference: np.ndarray | None = None
    _fidelity: dict[str, float | None] = field(default_factory=dict)

    def label_by(self, artifact: Artifact) -> None:
        """No labels: `artifact` (the fp32 model) gives the pseudo-labels and the
        reference outputs the variants are held to."""
        self.reference = self.outputs(artifact)
        self.y_val = predicted_classes(self.reference)

    def _runner(self, artifact: Artifact):
        from edgenn.targets.cpu import CpuTarget

        with library_step(f"an ONNX Runtime session on {artifact.path.name}"):
            return CpuTarget().load(artifact, RunOptions(threads=self.threads))

    def outputs(self, artifact: Artifact) -> np.ndarray:
        runner = self._runner(artifact)
        with library_step(f"running {artifact.path.name} on the validation split"):
            return run_in_chunks(runner.run, self.x_val)

    def accuracy(self, artifact: Artifact) -> float:
        key = str(artifact.path)
        if key not in self._cache:
            scores = self.outputs(artifact)
            self._cache[key] = float(np.mean(predicted_classes(scores) == self.y_val))
            if self.reference is not None:
                self._fidelity[key] = fidelity_db(scores, self.reference)
        return self._cache[key]

    def fidelity_db(self, artifact: Artifact) -> float | None:
        """SNR (dB) of `artifact`'s outputs against the fp32 model's on the validation
        split when the data have no labels (None with labels)."""
        if self.reference is None:
            return None
        self.accuracy(artifact)
        return self._fidelity.get(str(artifact.path))

    def p50_ms(self, artifact: Artifact) -> float:
        runner = self._runner(artifact)
        sample = samples.take(self.x_val, slice(0, 1))
        for _ in range(max(5, self.latency_runs // 10)):
            runner.run(sample)
        times = []
        for _ in range(self.latency_runs):
            start = time.perf_counter_ns()
            runner.run(sample)
            times.append(time.perf_counter_ns() - start)
        return float(np.median(times)) / 1e6

    def warmed_runner(self, artifact: Artifact) -> Callable[[Any], Any]:
        """`artifact`'s batch-1 run, loaded and warmed up (a candidate that cannot run
        fails here, alone)."""
        run = self._runner(artifact).run
        sample = samples.take(self.x_val, slice(0, 1))
        with library_step(f"running {artifact.path.name} at batch 1"):
            for _ in range(max(5, self.latency_runs // 10)):
                run(sample)
        return run

    def interleaved_ms(self, runs: dict[str, Callable[[Any], Any]],
                       rounds: int = TIMING_ROUNDS) -> dict[str, list[float]]:
        """Each run's batch-1 median (ms) in each of `rounds` interleaved rounds: within a
        round every candidate is timed in turn (the order reversed every other round), so
        a burst of load falls on all of them alike and candidates compare round by round.
        `latency_runs` timed runs per candidate in all."""
        sample = samples.take(self.x_val, slice(0, 1))
        per_round = max(5, math.ceil(self.latency_runs / rounds))
        medians: dict[str, list[float]] = {name: [] for name in runs}
        order = list(runs)
        for index in range(rounds):
            for name in order if index % 2 == 0 else order[::-1]:
                run, times = runs[name], []
                for _ in range(per_round):
                    start = time.perf_counter_ns()
                    run(sample)
                    times.append(time.perf_counter_ns() - start)
                medians[name].append(float(np.median(times)) / 1e6)
        return medians


def budget_record(reference: float, accuracy: float, max_drop: float | None) -> dict[str, Any]:
    drop = 100.0 * (reference - accuracy)
    return {"reference_accuracy": reference, "accuracy": accuracy, "drop_pp": drop,
            "max_drop_pp": max_drop, "met": max_drop is None or drop <= max_drop + 1e-9,
            "split": "validation"}


def pick_candidate(rows: Sequence[dict[str, Any]], noise: float) -> tuple[dict, str]:
    """The candidate that meets the budget, chosen so that timing noise cannot decide:
    start from the preferred one (`preferred`: most accurate, then the preference order)
    and move to a faster one only while it `beats` it: faster by more than `noise`
    (relative) in (nearly) every interleaved timing round (`round_p50_ms`; a row without
    rounds is one round of its `p50_ms`). Anything less is not a real difference, and the
    tie goes to the preferred one — so load cannot flip the choice of two seeded runs."""
    meeting = [r for r in rows if r["meets_budget"]]
    if not meeting:  # the float fallback repairs the fastest — by the same noise rule
        return (_fastest_beyond_noise(rows, noise),
                "no candidate meets the budget: fastest kept for the float fallback")
    chosen = _fastest_beyond_noise(meeting, noise)
    close = [r for r in meeting if r is not chosen and r["p50_ms"] < chosen["p50_ms"]]
    if not close:
        return chosen, "fastest candidate that meets the budget"
    names = ", ".join(r["name"] for r in close)
    rounds = len(_rounds(chosen))
    return chosen, (f"{names} not faster by more than {noise:.0%} in {_wins_needed(rounds)} "
                    f"of {rounds} interleaved timing rounds: not a real difference, so the "
                    f"{preferred_reason(meeting, chosen)} was kept")


def _rounds(row: dict[str, Any]) -> list[float]:
    return list(row.get("round_p50_ms") or [row["p50_ms"]])


def _wins_needed(rounds: int) -> int:
    """All rounds but at most one in five: one round a burst of load spoiled cannot keep
    a truly faster candidate out, and chance alone cannot bring a slower one in."""
    return rounds - rounds // 5


def beats(faster: dict[str, Any], than: dict[str, Any], noise: float) -> bool:
    """Whether `faster` is faster than `than` by more than `noise` (relative) in
    `_wins_needed` of their interleaved timing rounds, compared round by round."""
    mine, theirs = _rounds(faster), _rounds(than)
    if len(mine) != len(theirs):  # not timed together: their medians alone
        mine, theirs = [faster["p50_ms"]], [than["p50_ms"]]
    wins = sum(a * (1 + noise) < b for a, b in zip(mine, theirs, strict=True))
    return wins >= _wins_needed(len(mine))


def _fastest_beyond_noise(rows: Sequence[dict[str, Any]], noise: float) -> dict[str, Any]:
    """From the preferred row, move to a faster one only while it `beats` the current
    one (at most once per row: a cycle of round-by-round wins cannot loop)."""
    chosen = preferred(rows)
    for _ in rows:
        faster = [r for r in rows if r is not chosen and beats(r, chosen, noise)]
        if not faster:
            break
        chosen = preferred(faster)
    return chosen


def preferred(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The most accurate of `rows`; among equally accurate ones, the first in the
    preference order (`CompressionConfig.candidates`' order, which `rows` keeps). Without
    labels, the one closest to the fp32 model (highest SNR against its outputs): agreement
    with its argmax on a small validation split moves by whole samples, and on outputs
    that are not class scores (boxes, masks, sequences) says little."""
    return max(rows, key=_closeness)  # max keeps the first of equals


def _closeness(row: dict[str, Any]) -> float:
    fidelity = row.get("fidelity_db")
    return fidelity if fidelity is not None else row["val_accuracy"]


SNR_CAP_DB = 300.0  # identical outputs: a finite figure that JSON can hold


def fidelity_db(outputs: np.ndarray, reference: np.ndarray) -> float | None:
    """SNR (dB) of `outputs` against `reference` (capped at SNR_CAP_DB); None when their
    shapes differ."""
    outputs, reference = np.asarray(outputs), np.asarray(reference)
    if outputs.shape != reference.shape:
        return None
    noise = float(np.sum((outputs.astype(np.float64) - reference) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    if noise == 0:
        return SNR_CAP_DB
    return min(SNR_CAP_DB, 10 * math.log10(max(signal, 1e-300) / noise))


def preferred_reason(rows: Sequence[dict[str, Any]], chosen: dict[str, Any]) -> str:
    equal = [r for r in rows if _closeness(r) == _closeness(chosen)]
    if len(equal) > 1:
        return "first in the preference order of the equally accurate"
    return "closest to fp32 (SNR)" if chosen.get("fidelity_db") is not None else "most accurate"


def choose_static(source: Artifact, out_path: Path, calibration_x: np.ndarray,
                  evaluator: Evaluator, config: CompressionConfig,
                  variant: str = "int8-static", progress: Progress | None = None,
                  reference_accuracy: float | None = None,
                  ranges_dir: Path | None = None) -> Artifact:
    """Quantize `source` with every candidate; keep the fastest that meets the budget.

    The budget is against `reference_accuracy` (the fp32 model's validation accuracy;
    by default that of `source`).
    """
    out_path = Path(out_path)
    staging = out_path.parent / f".{out_path.stem}.candidates"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        reference = evaluator.accuracy(source) if reference_accuracy is None \
            else reference_accuracy
        fp32_p50 = evaluator.p50_ms(source)
        rows, built, failed, runs = [], {}, {}, {}
        for candidate in config.candidates:
            say(progress, f"{variant}: candidate {candidate.name}")
            settings = dataclasses.replace(candidate.config, method=config.method)
            try:  # a candidate that fails leaves the others to choose from
                artifact = quantize_static(source, staging / f"{candidate.name}.onnx",
                                           calibration_x, settings, variant=variant,
                                           ranges_dir=ranges_dir)
                record = budget_record(reference, evaluator.accuracy(artifact),
                                       config.max_accuracy_drop)
                runs[candidate.name] = evaluator.warmed_runner(artifact)
            except EdgeNNError as exc:
                log.debug("candidate %s failed", candidate.name, exc_info=True)
                failed[candidate.name] = str(exc)
                continue
            rows.append({"name": candidate.name, "val_accuracy": record["accuracy"],
                         "drop_pp": record["drop_pp"], "meets_budget": record["met"],
                         "fidelity_db": evaluator.fidelity_db(artifact)})
            built[candidate.name] = (artifact, settings)
        if not rows:
            raise EdgeNNError(every_candidate_failed(failed))
        # timed together, in interleaved rounds: load falls on every candidate alike
        say(progress, f"{variant}: timing {len(rows)} candidates in interleaved rounds")
        timed = evaluator.interleaved_ms(runs)
        runs.clear()  # the sessions are done with
        for row in rows:
            medians = timed[row["name"]]
            p50 = float(np.median(medians))
            row.update(p50_ms=p50, speedup_vs_fp32=fp32_p50 / p50, round_p50_ms=medians)
        best, reason = pick_candidate(rows, config.latency_noise)
        chosen, settings = built[best["name"]]
        # The search's timings stay in `selection`: the report's notes quote the final
        # measurements of the table (edgenn.run.judge.latency_notes), never these.
        notes = list(source.metadata.get("notes", []))
        selection = {"chosen": best["name"], "reason": reason, "fp32_p50_ms": fp32_p50,
                     "candidates": rows, "threads": evaluator.threads, "batch_size": 1,
                     "failed_candidates": failed}
        with atomic_path(out_path) as tmp:
            shutil.copyfile(chosen.path, tmp)
        result = dataclasses.replace(
            chosen, path=out_path,
            metadata={**chosen.metadata, "selection": selection, "notes": notes,
                      "budget": budget_record(reference, best["val_accuracy"],
                                              config.max_accuracy_drop)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not result.metadata["budget"]["met"]:
        result = enforce_budget(source, result, settings, calibration_x, evaluator, config,
                                progress=progress, reference_accuracy=reference,
                                ranges_dir=ranges_dir)
    return result


def enforce_budget(source: Artifact, quantized: Artifact, settings: StaticConfig,
                   calibration_x: np.ndarray, evaluator: Evaluator,
                   config: CompressionConfig, progress: Progress | None = None,
                   reference_accuracy: float | None = None,
                   ranges_dir: Path | None = None) -> Artifact:
    """Keep the most sensitive nodes of `quantized` in float, one at a time, until the
    validation accuracy drop is within `config.max_accuracy_drop`.

    Returns the repaired artifact (same path) whose metadata names the nodes kept in
    float; when the budget still does not hold after `max_float_nodes`, the best attempt
    is returned with `budget.met` False (`require_budget` turns that into exit code 3).
    """
    from edgenn.quantize.sensitivity import node_sensitivity

    reference = evaluator.accuracy(source) if reference_accuracy is None \
        else reference_accuracy
    record = budget_record(reference, evaluator.accuracy(quantized), config.max_accuracy_drop)
    if record["met"]:
        return dataclasses.replace(quantized, metadata={**quantized.metadata, "budget": record})
    say(progress, f"{quantized.variant}: accuracy drop {record['drop_pp']:.2f} pp exceeds "
                   f"{config.max_accuracy_drop} pp; ranking nodes by sensitivity")
    ranking = node_sensitivity(source, quantized,
                               samples.take(calibration_x, slice(0, config.sensitivity_samples)))
    out_path = Path(quantized.path)
    trial_path = out_path.parent / f".{out_path.stem}.fallback.onnx"
    kept: list[str] = []
    best = (record, None)
    try:
        for item in ranking[:config.max_float_nodes]:
            kept.append(item.node)
            say(progress, f"{quantized.variant}: keeping {item.node} ({item.op_type}, "
                           f"loses {item.loss_db:.1f} dB) in float")
            trial = quantize_static(source, trial_path, calibration_x,
                                    dataclasses.replace(settings, nodes_to_exclude=(
                                        *settings.nodes_to_exclude, *kept)),
                                    variant=quantized.variant, ranges_dir=ranges_dir)
            evaluator._cache.pop(str(trial_path), None)
            attempt = budget_record(reference, evaluator.accuracy(trial),
                                    config.max_accuracy_drop)
            if attempt["drop_pp"] < best[0]["drop_pp"]:  # never keep a worse model
                with atomic_path(out_path) as tmp:
                    shutil.copyfile(trial_path, tmp)
                best = (attempt, list(kept))
            if attempt["met"]:
                break
    finally:
        trial_path.unlink(missing_ok=True)
    evaluator._cache.pop(str(out_path), None)
    final, kept_float = best[0], best[1] or []
    final = {**final, "kept_in_float": kept_float,
             "sensitivity": [s.to_dict() for s in ranking]}  # the full ranking
    notes = list(quantized.metadata.get("notes", []))
    if kept_float:
        notes.append(f"{quantized.variant}: kept in float to meet the accuracy budget: "
                     f"{', '.join(kept_float)}")
    if not final["met"]:
        notes.append(f"{quantized.variant}: accuracy drop {final['drop_pp']:.2f} pp still "
                     f"exceeds the budget of {config.max_accuracy_drop} pp")
    quant = {**quantized.metadata.get("quantization", {}), "nodes_to_exclude": kept_float}
    return dataclasses.replace(quantized, metadata={**quantized.metadata, "budget": final,
                                                    "notes": notes, "quantization": quant})


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


def every_candidate_failed(failed: dict[str, str]) -> str:
    """One line for a static int8 search in which no candidate could be built: each
    distinct reason once, with the candidates it stopped."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in failed.items():
        by_reason.setdefault(reason, []).append(name)
    if len(by_reason) == 1:
        return f"every int8 candidate ({len(failed)}) failed: {next(iter(by_reason))}"
    return "every int8 candidate failed: " + "; ".join(
        f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())


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
