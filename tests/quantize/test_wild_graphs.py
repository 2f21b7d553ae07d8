"""Models from the wild (issue 25): each class of failure seen on models other projects
ship, from a small graph built here — weights in Constant nodes at opset 11, a Concat
that trips ORT's symbolic shape inference, an incomplete symbolic shape inference — plus
a variant that fails alone, a quantized model given to `edgenn quantize`, and the
headline of a run in which no compressed variant could be built."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgenn.cli.program import main
from edgenn.core import Artifact, sha256_of
from edgenn.core.errors import StepFailedError, library_step
from edgenn.core.preparation import fold_constants, prepare
from edgenn.quantize.onnx_int8 import quantize_dynamic, quantize_static

QUICK = ["--targets", "cpu", "--runs", "3", "--warmup", "1", "--no-isolate", "--quiet"]


def images(count: int = 96, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 1, 8, 8)).astype(np.float32)


def vectors(count: int = 96, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 16)).astype(np.float32)


def outputs(path, x) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference - other) ** 2))
    return 10 * np.log10(float(np.sum(reference ** 2)) / max(noise, 1e-30))


def test_constant_weights_at_opset_11_give_a_valid_per_channel_int8(tmp_path, wild_graphs):
    model = wild_graphs.conv_net(tmp_path / "paddle.onnx", opset=11, constants=True)
    before = sha256_of(model)
    x = images()
    int8 = quantize_static(Artifact(model, "onnx"), tmp_path / "out" / "paddle.int8.onnx", x,
                           ranges_dir=tmp_path / "ranges")
    steps = int8.metadata["quantization"]["preparation"]
    assert steps[0] == "4 Constant node(s) moved into initializers"
    assert steps[1].startswith("opset 11 → 13")
    proto = onnx.load(str(int8.path))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 13
    dequantized_weights = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"
                           and any(a.name == "axis" for a in n.attribute)]
    assert dequantized_weights, "per-channel weights carry an axis (opset 13)"
    assert snr_db(outputs(model, x), outputs(int8.path, x)) > 20
    assert sha256_of(model) == before  # the user's file stays the fp32 reference


def test_dynamic_int8_sees_constant_held_weights(tmp_path, wild_graphs):
    model = wild_graphs.conv_net(tmp_path / "paddle.onnx", opset=11, constants=True)
    int8 = quantize_dynamic(Artifact(model, "onnx"), tmp_path / "paddle.dyn.onnx")
    ops = [n.op_type for n in onnx.load(str(int8.path)).graph.node]
    assert "ConvInteger" in ops or "MatMulInteger" in ops
    assert "Constant" not in ops


def test_fold_constants_keeps_graph_outputs_and_values(wild_graphs, tmp_path):
    proto = onnx.load(str(wild_graphs.conv_net(tmp_path / "m.onnx", constants=True)))
    assert fold_constants(proto) == 4
    assert {i.name for i in proto.graph.initializer} == {"w1", "b1", "w2", "b2"}
    assert fold_constants(proto) == 0


def test_a_concat_that_breaks_symbolic_inference_falls_back(tmp_path, wild_graphs):
    model = wild_graphs.concat_assert_net(tmp_path / "concat.onnx")
    x = vectors()
    int8 = quantize_static(Artifact(model, "onnx"), tmp_path / "concat.int8.onnx", x)
    [step] = int8.metadata["quantization"]["preparation"]
    assert step.startswith("pre-processing without symbolic shape inference (with it: "
                           "AssertionError at Concat node")
    assert snr_db(outputs(model, x), outputs(int8.path, x)) > 20


def test_incomplete_symbolic_inference_falls_back_and_leaves_nothing_behind(
        tmp_path, wild_graphs, monkeypatch):
    model = wild_graphs.incomplete_shapes_net(tmp_path / "incomplete.onnx")
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    int8 = quantize_static(Artifact(model, "onnx"), tmp_path / "out" / "m.int8.onnx",
                           vectors(), ranges_dir=tmp_path / "ranges")
    assert int8.metadata["quantization"]["preparation"] == [
        "pre-processing without symbolic shape inference (with it: Exception: Incomplete "
        "symbolic shape inference)"]
    assert list(here.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.int8.onnx"]


def test_prepare_changes_nothing_on_a_modern_model(tmp_path, wild_graphs):
    model = wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False)
    prepared = prepare(model, tmp_path / "scratch", preprocess=False)
    assert prepared.path == model.resolve() and prepared.steps == ()


def test_library_step_names_the_step_and_the_node():
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="conv_3")

    def quantize_node(node):
        raise ValueError("axis out of range\nmore detail")

    with pytest.raises(StepFailedError) as caught:
        with library_step("ONNX Runtime's quantize_static"):
            quantize_node(node)
    assert str(caught.value) == ("ONNX Runtime's quantize_static failed at node conv_3 "
                                 "(Conv): ValueError: axis out of range")
    assert isinstance(caught.value.__cause__, ValueError)


def _fail_dynamic(monkeypatch):
    """ONNX Runtime's quantize_dynamic raising as it does on a graph it cannot handle."""
    import onnxruntime.quantization as ortq

    def broken(*args, **kwargs):
        raise RuntimeError("Unable to find data type for weight_name='w1'")

    monkeypatch.setattr(ortq, "quantize_dynamic", broken)


def test_one_failing_variant_fails_its_own_row_only(tmp_path, wild_graphs, monkeypatch, capsys):
    model = wild_graphs.conv_net(tmp_path / "paddle.onnx", opset=11, constants=True)
    np.savez(tmp_path / "d.npz", x=images(160))
    _fail_dynamic(monkeypatch)
    code = main(["run", str(model), "--data", str(tmp_path / "d.npz"), "--out",
                 str(tmp_path / "build"), "--variants", "int8-dynamic,int8-static", *QUICK])
    assert code == 0
    rows = {r["variant"]: r for r in json.loads((tmp_path / "build" / "report.json")
                                                .read_text())["rows"]}
    assert rows["int8-static"]["status"] == "ok"
    assert rows["int8-dynamic"]["status"] == "failed"
    assert rows["int8-dynamic"]["reason"] == (
        "ONNX Runtime's quantize_dynamic failed: RuntimeError: Unable to find data type for "
        "weight_name='w1'")
    preparation = rows["int8-static"]["extra"]["quantization"]["preparation"]
    assert preparation[1].startswith("opset 11 → 13")
    assert "No compressed variant" not in capsys.readouterr().out


def test_a_failing_candidate_leaves_the_others(tmp_path, wild_graphs, monkeypatch):
    from edgenn.run import int8_search
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, choose_static

    model = Artifact(wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False),
                     "onnx")
    real = int8_search.quantize_static

    def per_channel_breaks(source, out, x, settings, **kwargs):
        if settings.per_channel:
            raise StepFailedError("ONNX Runtime's quantize_static", "per-channel refused",
                                  "conv", "Conv")
        return real(source, out, x, settings, **kwargs)

    monkeypatch.setattr(int8_search, "quantize_static", per_channel_breaks)
    x = images(64)
    evaluator = Evaluator(x, np.zeros(len(x), dtype=np.int64), latency_runs=5)
    chosen = choose_static(model, tmp_path / "m.int8.onnx", x, evaluator, CompressionConfig())
    selection = chosen.metadata["selection"]
    assert selection["chosen"] == "library-default"
    assert set(selection["failed_candidates"]) == {"qdq-u8-act-s8-per-channel",
                                                   "qdq-s8-act-s8-per-channel"}


def test_a_run_with_no_compressed_variant_says_so_at_the_top(tmp_path, wild_graphs,
                                                             monkeypatch, capsys):
    model = wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False)
    np.savez(tmp_path / "d.npz", x=images(160))
    _fail_dynamic(monkeypatch)
    code = main(["run", str(model), "--data", str(tmp_path / "d.npz"), "--out",
                 str(tmp_path / "build"), "--variants", "int8-dynamic", "--targets", "cpu",
                 "--runs", "3", "--warmup", "1", "--no-isolate"])
    assert code == 0
    out = capsys.readouterr().out
    headline = "No compressed variant could be built: int8-dynamic — ONNX Runtime's"
    assert out.lstrip().splitlines()[0].startswith(headline)
    markdown = (tmp_path / "build" / "report.md").read_text()
    assert f"**{headline}" in markdown.split("| target")[0]
    assert 'id="no-variant"' in (tmp_path / "build" / "report.html").read_text()


def test_quantize_command_prepares_a_wild_model(tmp_path, wild_graphs, capsys):
    model = wild_graphs.conv_net(tmp_path / "paddle.onnx", opset=11, constants=True)
    np.savez(tmp_path / "d.npz", x=images(160))
    assert main(["quantize", "--model", str(model), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    assert "prepared with: 4 Constant node(s) moved into initializers; opset 11 → 13" in \
        out.replace("\n", " ")
    onnx.checker.check_model(str(tmp_path / "q" / "paddle.int8-static.onnx"))


def test_quantize_command_refuses_a_quantized_model_in_one_line(tmp_path, wild_graphs,
                                                                capsys):
    model = wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False)
    np.savez(tmp_path / "d.npz", x=images(160))
    int8 = quantize_static(Artifact(model, "onnx"), tmp_path / "m.int8.onnx", images())
    code = main(["quantize", "--model", str(int8.path), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "q")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the model is int8-static already" in err[0]
    assert not (tmp_path / "q").exists()


def test_quantize_command_names_data_that_do_not_fit(tmp_path, wild_graphs, capsys):
    model = wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False)
    np.savez(tmp_path / "d.npz", x=vectors(160))
    code = main(["quantize", "--model", str(model), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "q")])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "input 'x' expects (batch)×1×8×8, the data give 160×16" in err


@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_quantized_model_with_a_misdeclared_output_runs_as_it_really_is(
        tmp_path, wild_graphs, caplog, command):
    from edgenn.quantize.onnx_int8 import StaticConfig

    model = wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False)
    int8 = quantize_static(Artifact(model, "onnx"), tmp_path / "qlinear.onnx", images(),
                           StaticConfig(quant_format="qoperator"))
    proto = onnx.load(str(int8.path))
    assert any(n.op_type == "QLinearConv" for n in proto.graph.node)
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[1].dim_value = 1, 5  # declared 1×5, really N×10
    onnx.save(proto, str(tmp_path / "misdeclared.onnx"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=images(160), y=rng.integers(0, 10, 160))
    argv = [command, str(tmp_path / "misdeclared.onnx"), "--data", str(tmp_path / "d.npz"),
            "--out", str(tmp_path / "build"), "--runs", "3", "--warmup", "1",
            "--no-isolate", "--quiet"]
    assert main(argv + (["--targets", "cpu"] if command == "run" else [])) == 0
    assert ("misdeclared.onnx declares its output 'logits' as 1×5 but ONNX Runtime returns "
            "10 per sample") in caplog.text
    rows = json.loads((tmp_path / "build" / "report.json").read_text())["rows"]
    measured = [r for r in rows if r["status"] == "ok"]
    assert [r["variant"] for r in measured] == ["int8-static"]
    skipped = {r["variant"]: r["reason"] for r in rows if r["status"] == "skipped"}
    if command == "run":
        assert skipped["int8-dynamic"] == "the source model is already int8-static"


def test_a_network_inside_if_branches_fails_its_int8_rows_with_the_reason(tmp_path,
                                                                         wild_graphs):
    model = wild_graphs.if_net(tmp_path / "if.onnx")
    np.savez(tmp_path / "d.npz", x=vectors(160))
    assert main(["run", str(model), "--data", str(tmp_path / "d.npz"), "--out",
                 str(tmp_path / "build"), "--variants", "int8-dynamic,int8-static",
                 *QUICK]) == 0
    rows = {r["variant"]: r for r in json.loads((tmp_path / "build" / "report.json")
                                                .read_text())["rows"]}
    inside = ("quantized no operator: the network's MatMul ×4 lie inside If/Loop/Scan "
              "subgraphs, which ONNX Runtime's quantizer does not enter")
    assert rows["fp32"]["status"] == "ok"
    assert rows["int8-dynamic"]["reason"] == f"ONNX Runtime's quantize_dynamic {inside}"
    assert rows["int8-static"]["reason"] == (
        f"every int8 candidate (3) failed: ONNX Runtime's quantize_static {inside}")


def test_without_labels_the_candidate_closest_to_fp32_is_preferred():
    from edgenn.run.int8_search import pick_candidate

    rows = [  # agreement on a small split moves by whole samples; SNR says who is closer
        {"name": "per-channel", "p50_ms": 1.00, "val_accuracy": 0.88, "fidelity_db": 17.5,
         "meets_budget": True},
        {"name": "library-default", "p50_ms": 1.05, "val_accuracy": 0.92,
         "fidelity_db": 9.0, "meets_budget": True},
    ]
    chosen, reason = pick_candidate(rows, 0.1)
    assert chosen["name"] == "per-channel"
    assert reason == "fastest candidate that meets the budget"
    rows[0]["p50_ms"] = 1.08  # slower, but within the noise: the closer one is kept
    chosen, reason = pick_candidate(rows, 0.1)
    assert chosen["name"] == "per-channel" and "closest to fp32 (SNR)" in reason


def test_unlabelled_search_records_each_candidates_fidelity(tmp_path, wild_graphs):
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, choose_static, fidelity_db

    model = Artifact(wild_graphs.conv_net(tmp_path / "m.onnx", opset=17, constants=False),
                     "onnx")
    x = images(64)
    evaluator = Evaluator(x, None, latency_runs=5)
    evaluator.label_by(model)
    chosen = choose_static(model, tmp_path / "m.int8.onnx", x, evaluator, CompressionConfig())
    selection = chosen.metadata["selection"]
    rows = selection["candidates"]
    assert all(r["fidelity_db"] > 10 for r in rows)
    kept = next(r for r in rows if r["name"] == selection["chosen"])
    assert kept["fidelity_db"] == pytest.approx(
        fidelity_db(outputs(chosen.path, x), outputs(model.path, x)), abs=1e-4)
