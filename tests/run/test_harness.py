"""Harness: statistics, agreement, rows that fail without stopping the run, isolation."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.frontend.data import save_npz
from edgenn.run.config import LatencySettings
from edgenn.run.harness import Job, latency_stats, measure, measure_all
from edgenn.run.scoring import agreement


def test_latency_stats_percentiles_and_median_interval():
    samples = list(range(1, 101))  # 1..100 ms
    stats = latency_stats(samples)
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p90"] == pytest.approx(90.1)
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["p50_ci95_low"] <= stats["p50"] <= stats["p50_ci95_high"]
    assert 38 <= stats["p50_ci95_low"] and stats["p50_ci95_high"] <= 63


def test_agreement_top1_error_and_snr():
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    same = agreement(reference.copy(), reference)
    assert same["top1_agreement"] == 1.0 and same["max_abs_error"] == 0.0
    assert same["snr_db"] is None  # infinite SNR is reported as null
    flipped = agreement(reference[:, ::-1].copy(), reference)
    assert flipped["top1_agreement"] == 0.0 and flipped["max_abs_error"] == 1.0
    spikes = agreement(np.array([[3, 1], [0, 5], [4, 4]]), reference, comparable=False)
    assert spikes["top1_agreement"] == pytest.approx(1.0) and spikes["max_abs_error"] is None


def _job(tmp_path, digits, artifact, reference, target="cpu", runs=5):
    data = save_npz(tmp_path / "test.npz", digits.x_test, digits.y_test)
    ref = tmp_path / "ref.npy"
    np.save(ref, reference)
    return Job(target=target, target_options={}, artifact=artifact.to_dict(),
               data_path=str(data), reference_path=str(ref),
               latency=LatencySettings(warmup=2, runs=runs, batch_size=1, threads=1))


def test_measure_cpu_row(tmp_path, digits, cnn_artifacts, reference_logits):
    from edgenn.targets.cpu import CpuTarget

    compiled = CpuTarget().compile(cnn_artifacts[1], tmp_path)
    row = measure(_job(tmp_path, digits, compiled, reference_logits))
    assert row.status == "ok", row.reason
    assert row.accuracy > 0.9 and row.top1_agreement >= 0.995 and row.max_abs_error < 1e-3
    assert len(row.latency_samples_ms) == 5 and row.latency_ms["p50"] > 0
    assert row.size_bytes == compiled.size_bytes() and row.peak_rss_mb > 0
    assert row.lineage[-1] == "compile:cpu"


def test_a_failing_target_becomes_a_failed_row(tmp_path, digits, cnn_artifacts,
                                               reference_logits):
    broken = cnn_artifacts[1].derive(tmp_path / "missing.onnx", "compile:cpu")
    row = measure(_job(tmp_path, digits, broken, reference_logits))
    assert row.status == "failed" and "missing.onnx" in row.reason


def test_isolated_measurement_runs_in_its_own_process(tmp_path, digits, cnn_artifacts,
                                                      reference_logits):
    import os

    job = _job(tmp_path, digits, cnn_artifacts[0], reference_logits, target="pytorch", runs=3)
    rows = measure_all([job, job], isolate=True)
    assert all(row.status == "ok" for row in rows), rows[0].reason
    assert rows[0].max_abs_error < 1e-5 and rows[0].top1_agreement == 1.0
    # each row in a fresh process of its own: neither this one nor the other row's
    workers = [row.extra["process_id"] for row in rows]
    assert os.getpid() not in workers and workers[0] != workers[1]
    # and without isolation, in this process
    assert measure_all([job], isolate=False)[0].extra["process_id"] == os.getpid()
