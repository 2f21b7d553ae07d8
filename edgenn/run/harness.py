"""The measurement harness: the same test split through every runner, one row each.

Each (target, variant) is measured in its own freshly spawned process by default, so
that one runtime's threads, caches and allocations never pollute another's latency or
peak memory. Inside that process: load (untimed) → accuracy pass over the test split →
warm-up → timed runs of `run()` alone.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    EdgeNNError,
    RunOptions,
    native_stderr_silenced,
    predicted_classes,
    runner_metrics,
    samples,
    sha256_of,
)
from edgenn.core.results import Measurement
from edgenn.run.config import LatencySettings
from edgenn.run.scoring import agreement, confusion_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Everything a worker process needs to measure one row; plain data, picklable."""

    target: str
    target_options: dict[str, Any]
    artifact: dict[str, Any]
    data_path: str  # .npz with the test split: x, y
    reference_path: str | None  # .npy with the reference outputs on the same x
    latency: LatencySettings = field(default_factory=LatencySettings)
    eval_batch: int = 512
    seed: int = 0  # for runners with randomness (Poisson spike coding)


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/std and a distribution-free 95 % confidence interval of the median."""
    values = np.sort(np.asarray(samples_ms, dtype=np.float64))
    n = len(values)
    if n == 0:
        return {}
    stats = {
        "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if n > 1 else 0.0,
        "min": float(values[0]),
        "runs": float(n),
    }
    # Order statistics bracketing the median with ≥ 95 % coverage (binomial, normal approx.).
    half_width = 1.96 * math.sqrt(n) / 2
    lower = max(int(math.floor(n / 2 - half_width)), 0)
    upper = min(int(math.ceil(n / 2 + half_width)), n - 1)
    stats["p50_ci95_low"], stats["p50_ci95_high"] = float(values[lower]), float(values[upper])
    return stats


def _proc_status_mb(field_name: str) -> float | None:
    """A memory field of /proc/self/status (VmHWM, VmRSS) in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, not ru_maxrss: on Linux ru_maxrss
    survives exec, so a spawned worker would report its parent's peak."""
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw / (1024 * 1024) if sys.platform == "darwin" else raw / 1024


def _current_rss_mb() -> float:
    current = _proc_status_mb("VmRSS")
    return current if current is not None else _peak_rss_mb()


def measure(job: Job) -> Measurement:
    """Measure one row in this process. Never raises: failures become a `failed` row."""
    artifact = Artifact.from_dict(job.artifact)
    row = Measurement(target=job.target, variant=artifact.variant, artifact=str(artifact.path),
                      lineage=list(artifact.lineage), batch_size=job.latency.batch_size,
                      threads=job.latency.threads)
    carry_decisions(artifact, row)
    try:
        from edgenn.core.registry import create_target

        row.size_bytes = artifact.size_bytes()
        row.extra["sha256"] = sha256_of(artifact.path)  # `compare`: identical artifacts
        x, y = samples.load(job.data_path)  # no y: a model measured by agreement
        if isinstance(x, np.ndarray):
            x = x.astype(np.float32)
        before = _current_rss_mb()
        target = create_target(job.target, **job.target_options)
        with native_stderr_silenced():  # runtimes' C++ INFO lines ("Created XNNPACK ...")
            runner = target.load(artifact, RunOptions(threads=job.latency.threads,
                                                      seed=job.seed))
        row.load_rss_mb = round(_current_rss_mb() - before, 2)

        # The split in one call when it fits: runners may reuse that work in evaluate(x, y).
        count = samples.count(x)
        chunks = [x] if count <= job.eval_batch else [
            samples.take(x, slice(i, i + job.eval_batch)) for i in range(0, count, job.eval_batch)]
        outputs = np.concatenate([np.asarray(runner.run(chunk)) for chunk in chunks])
        score(row, outputs, y, job.reference_path,
              getattr(runner, "comparable_outputs", True))
        evaluate = getattr(runner, "evaluate", None)
        if callable(evaluate) and y is not None:
            row.extra.update(evaluate(x, y))

        settings = job.latency
        runs = min(settings.runs, int(getattr(runner, "max_latency_runs", settings.runs)))
        # A runner that caps its timed runs is a slow simulator: one warm-up run is enough.
        warmup = settings.warmup if runs == settings.runs else min(settings.warmup, 1)
        batch = samples.resize(x, settings.batch_size)
        run = runner.run
        for _ in range(warmup):
            run(batch)
        timings = []
        clock = time.perf_counter
        for _ in range(runs):
            start = clock()
            run(batch)
            timings.append((clock() - start) * 1000.0)
        row.latency_samples_ms = [round(s, 5) for s in timings]
        row.latency_ms = latency_stats(timings)
        row.extra.update(runner_metrics(runner))
        row.extra["process_id"] = os.getpid()  # which process measured it (isolation)
        row.peak_rss_mb = round(_peak_rss_mb(), 2)
    except EdgeNNError as exc:
        row.status, row.reason = "failed", str(exc)
    except Exception as exc:  # a runtime's own error: keep the run going, keep the detail
        log.debug("measurement failed:\n%s", traceback.format_exc())
        row.status, row.reason = "failed", f"{type(exc).__name__}: {exc}"
    return row


def score(row: Measurement, outputs: np.ndarray, y: np.ndarray | None,
          reference_path: str | os.PathLike[str] | None, comparable: bool = True) -> None:
    """Fill `row` from a runner's outputs on the test split: sample count, accuracy and
    confusion matrix (with labels), agreement with the reference outputs. Rows measured
    here and rows measured on a device (`edgenn.run.remote`) are scored by this alone."""
    row.samples = int(len(outputs))
    if y is not None:
        predicted = predicted_classes(outputs)
        row.accuracy = float(np.mean(predicted == y))
        if predicted.shape == np.shape(y) and np.min(y, initial=0) >= 0:
            classes = int(max(np.max(y, initial=-1), np.max(predicted, initial=-1))) + 1
            row.extra["confusion_matrix"] = confusion_matrix(y, predicted, classes).tolist()
    if reference_path:
        stats = agreement(outputs, np.load(reference_path), comparable)
        row.top1_agreement = stats["top1_agreement"]
        row.max_abs_error = stats["max_abs_error"]
        row.snr_db = stats["snr_db"]
        row.cosine_similarity = stats["cosine_similarity"]


CARRIED_METADATA = ("budget", "selection", "prune", "quantization", "float_nodes",
                    "op_counts")


def carry_decisions(artifact: Artifact, row: Measurement) -> None:
    """What the compression passes decided (and warned about) travels into the row."""
    notes = artifact.metadata.get("notes")
    if notes:
        row.extra["note"] = "; ".join(str(n) for n in notes)
    for key in CARRIED_METADATA:
        if key in artifact.metadata:
            row.extra[key] = artifact.metadata[key]


def _measure_dict(job: Job) -> dict[str, Any]:
    return measure(job).to_dict()


def _ignore_interrupts() -> None:
    """A worker's first act: Ctrl-C is edgenn's to handle (the parent stops the worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _in_worker(job: Job) -> dict[str, Any]:
    """`measure(job)` in a freshly spawned process. Ctrl-C is edgenn's alone: the worker is
    spawned with SIGINT blocked (a mask a new process inherits, so a Ctrl-C while its
    interpreter starts stays pending and never prints a KeyboardInterrupt traceback) and
    ignores it from its first act on; the parent holds a Ctrl-C that lands during the
    spawn until the worker exists, then stops the worker and exits 130."""
    import signal
    import threading

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupts)
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if main_thread \
            else None
        try:
            future = pool.submit(_measure_dict, job)  # spawns the worker now
        finally:
            if mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held Ctrl-C lands here
        return future.result()
    except KeyboardInterrupt:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def measure_all(jobs: Sequence[Job], isolate: bool = True,
                on_row: Callable[[Measurement], None] | None = None) -> list[Measurement]:
    """Measure each job, in its own spawned process when `isolate` (the default)."""
    rows: list[Measurement] = []
    for job in jobs:
        if isolate:
            try:
                row = Measurement.from_dict(_in_worker(job))
            except Exception as exc:  # the worker died (segfault, out of memory)
                row = Measurement(target=job.target,
                                  variant=Artifact.from_dict(job.artifact).variant,
                                  status="failed", reason=f"worker process died: {exc}")
        else:
            row = measure(job)
        rows.append(row)
        if on_row:
            on_row(row)
    return rows
