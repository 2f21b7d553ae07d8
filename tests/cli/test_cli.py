"""The CLI as a user meets it: help, targets, bench on a foreign model, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgenn.cli import main

EDGENN = [sys.executable, "-m", "edgenn.cli"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([*EDGENN, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def foreign_onnx(path: Path, features: int = 6, classes: int = 3) -> Path:
    """A two-layer MLP written with onnx.helper: a model edgenn did not make."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(features, 8)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros(8, np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(size=(8, classes)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["scores"])]
    graph = helper.make_graph(
        nodes, "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", features])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", classes])],
        [w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def foreign_data(path: Path, model: Path, n: int = 40, features: int = 6) -> Path:
    """Labels from the model's own argmax, so the expected accuracy is exactly 1."""
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(n, features)).astype(np.float32)
    scores = ort.InferenceSession(str(model)).run(None, {"x": x})[0]
    np.savez(path, x=x, y=scores.argmax(1))
    return path


def test_help_teaches_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "export", "compile", "bench", "targets"):
        assert command in result.stdout
    assert "exit codes" in result.stdout
    bench_help = run_cli("bench", "--help")
    assert "--data" in bench_help.stdout and "Example" in bench_help.stdout


def test_targets_lists_every_registered_target(capsys):
    from edgenn.core.registry import TARGETS

    assert main(["targets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in listed] == TARGETS.names()
    cpu = next(row for row in listed if row["name"] == "cpu")
    assert cpu["available"] is True
    for row in listed:
        if not row["available"]:
            assert "install" in row["reason"] or "pip" in row["reason"], row


def test_bench_measures_a_model_edgenn_did_not_make(tmp_path):
    model = foreign_onnx(tmp_path / "foreign.onnx")
    data = foreign_data(tmp_path / "data.npz", model)
    out = tmp_path / "out"
    code = main(["bench", str(model), "--data", str(data), "--out", str(out), "--runs", "20",
                 "--warmup", "2", "--no-isolate", "--quiet"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    row = report["rows"][0]
    assert row["target"] == "cpu" and row["status"] == "ok"
    assert row["accuracy"] == 1.0 and row["samples"] == 40
    assert set(row["latency_ms"]) >= {"p50", "p90", "p99", "mean"}
    manifest = json.loads((out / "manifest.json").read_text())
    # the model, and the calibration samples a normalising target would take from the data
    kinds = [(a["format"], a["variant"]) for a in manifest["artifacts"]]
    assert set(kinds[:-1]) == {("onnx", "fp32")} and kinds[-1] == ("data", "calibration")
    assert all(len(a["sha256"]) == 64 for a in manifest["artifacts"])


def test_bench_without_labels_measures_latency_and_size_only(tmp_path):
    model = foreign_onnx(tmp_path / "foreign.onnx")
    data = tmp_path / "x.npz"
    with np.load(foreign_data(tmp_path / "data.npz", model)) as arrays:
        np.savez(data, x=arrays["x"])
    out = tmp_path / "out"
    assert main(["bench", str(model), "--data", str(data), "--out", str(out), "--runs", "3",
                 "--warmup", "1", "--no-isolate", "--quiet"]) == 0
    row = json.loads((out / "report.json").read_text())["rows"][0]
    assert row["status"] == "ok" and row["accuracy"] is None and row["samples"] == 40
    assert row["latency_ms"]["p50"] > 0 and row["size_bytes"] > 0


def _truncated(tmp_path: Path) -> Path:
    whole = foreign_onnx(tmp_path / "whole.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _not_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_text("definitely not a protobuf")
    return path


BAD_INPUTS = {
    "missing model file": (lambda p: (p / "nope.onnx", None), "model file not found"),
    "not ONNX": (lambda p: (_not_onnx(p), None), "not a valid ONNX model"),
    "truncated ONNX": (lambda p: (_truncated(p), None), "not a valid ONNX model"),
    "npz without x": (lambda p: (None, {"y": np.zeros(4, np.int64)}), "missing array(s) x"),
    "shape does not fit": (lambda p: (None, {"x": np.zeros((4, 5), np.float32),
                                             "y": np.zeros(4, np.int64)}),
                           "input 'x' expects (batch)×6, the data give 4×5"),
    "NaN in data": (lambda p: (None, {"x": np.full((4, 6), np.nan, np.float32),
                                      "y": np.zeros(4, np.int64)}), "NaN or infinite"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, case):
    make, expected = BAD_INPUTS[case]
    model, arrays = make(tmp_path)
    if model is None:
        model = foreign_onnx(tmp_path / "good.onnx")
    data = tmp_path / "data.npz"
    if arrays is None:
        foreign_data(data, foreign_onnx(tmp_path / "for-data.onnx"))
    else:
        np.savez(data, **arrays)
    out = tmp_path / "out"
    result = run_cli("bench", str(model), "--data", str(data), "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgenn: error:") and expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.rglob("*"))


def test_unknown_target_and_unwritable_out_dir(tmp_path):
    model = foreign_onnx(tmp_path / "m.onnx")
    data = foreign_data(tmp_path / "d.npz", model)
    unknown = run_cli("bench", str(model), "--data", str(data), "--targets", "quantum",
                      "--out", str(tmp_path / "o"))
    assert unknown.returncode == 2 and "unknown target(s): quantum" in unknown.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = run_cli("bench", str(model), "--data", str(data), "--out", str(blocker / "x"))
    assert unwritable.returncode == 2 and "cannot write to output directory" in unwritable.stderr


def test_compile_cpu_writes_an_optimised_model(tmp_path):
    model = foreign_onnx(tmp_path / "m.onnx")
    assert main(["compile", str(model), "--target", "cpu", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    compiled = tmp_path / "b" / "compiled" / "cpu" / "m.cpu.onnx"
    onnx.checker.check_model(str(compiled))


def test_quick_run_writes_report_and_manifest(tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--targets", "pytorch,cpu", "--epochs", "3", "--runs", "5",
                 "--variants", "none", "--warmup", "1", "--out", str(out), "--quiet"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["target"] for r in report["rows"]] == ["pytorch", "cpu"]
    assert (out / "report.md").read_text().startswith("# edgenn report")
    manifest = json.loads((out / "manifest.json").read_text())
    lineages = {tuple(a["lineage"]) for a in manifest["artifacts"]}
    assert ("train", "export:onnx", "compile:cpu") in lineages
    assert set(manifest["environment"]["versions"]) >= {"torch", "onnx", "onnxruntime"}
    assert not list(out.rglob("*.partial"))


@pytest.mark.slow
def test_default_run_meets_the_spine_goals(tmp_path):
    """The README's first command, restricted to the spine's targets: accuracy ≥ 0.95,
    agreement ≥ 99.5 %, latency percentiles present."""
    out = tmp_path / "default"
    assert main(["run", "--targets", "pytorch,cpu", "--variants", "none", "--out", str(out),
                 "--quiet"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    for row in rows:
        assert row["status"] == "ok"
        assert row["accuracy"] >= 0.95
        assert row["top1_agreement"] >= 0.995
        assert row["latency_ms"]["p50"] > 0 and row["latency_ms"]["p99"] >= row["latency_ms"]["p50"]
