"""benchmarks/mobile_latency.py measures each (runtime, model) alone: every row in a
process of its own (never the test's, never another row's), with a by-hand p50 of the same
file through the runtime's own API beside the harness's; and it says what CPU it ran on.
Latency values are not asserted (tests never depend on wall-clock time); their presence
and where they were measured are."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def tiny_onnx(tmp_path):
    """A one-MatMul classifier (8 features → 3 classes) and four samples: built with the
    onnx helpers, so that the test costs no training and no torch import."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgenn.core import Artifact

    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(8, 3))
                                      .astype(np.float32), "weights")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weights"], ["logits"])], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "tiny.onnx")
    data = tmp_path / "data.npz"
    np.savez(data, x=np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32),
             y=np.array([0, 1, 2, 0]))
    return Artifact(tmp_path / "tiny.onnx", "onnx"), data


@pytest.fixture
def mobile_latency(monkeypatch):
    # On sys.path (not loaded from a file spec) so that spawned workers can import it too.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import mobile_latency

    return mobile_latency


def test_each_row_is_measured_alone_beside_a_by_hand_loop(mobile_latency, tiny_onnx):
    onnx, data = tiny_onnx
    pairs = {"cpu fp32": ("cpu", onnx), "cpu fp32 again": ("cpu", onnx)}
    results = mobile_latency.measure_rows(pairs, data, threads=1, runs=6, warmup=1)
    assert list(results) == list(pairs)
    pids = {r["pid"] for r in results.values()}
    assert len(pids) == 2 and os.getpid() not in pids  # one fresh process per row
    for result in results.values():
        assert result["status"] == "ok", result
        assert result["harness_p50"] > 0 and result["by_hand_p50"] > 0
        low, high = result["harness_ci"]
        assert low <= result["harness_p50"] <= high
        assert result["size"] == onnx.size_bytes()


def test_a_row_that_cannot_load_is_reported_not_raised(mobile_latency, tiny_onnx,
                                                        tmp_path):
    onnx, data = tiny_onnx
    broken = onnx.derive(tmp_path / "missing.onnx", "test:missing")
    results = mobile_latency.measure_rows({"gone": ("cpu", broken)}, data, 1, 3, 0)
    assert results["gone"]["status"] == "failed" and results["gone"]["reason"]


def test_cpu_description_names_the_int8_flags(mobile_latency):
    line = mobile_latency.cpu_description()
    assert line.startswith("CPU: ") and "avx512_vnni" in line and "cores visible" in line
