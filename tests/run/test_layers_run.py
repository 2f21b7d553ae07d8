"""`edgenn run` adds the per-layer analysis by default, apart from the timed rows, and a
recipe switches it off."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main


def _run(out, *extra: str) -> int:
    return main(["run", *extra, "--targets", "cpu,ort-mobile", "--variants", "int8-static",
                 "--epochs", "3", "--runs", "5", "--warmup", "1", "--out", str(out), "--quiet",
                 "--no-isolate"])


@pytest.mark.slow
def test_run_profiles_every_target_and_compares_every_variant(tmp_path):
    assert _run(tmp_path / "on") == 0
    report = json.loads((tmp_path / "on" / "report.json").read_text())
    layers = report["extra"]["layers"]
    profiled = {(p["target"], p["variant"]) for p in layers["profiles"] if "operators" in p}
    assert profiled == {("cpu", "fp32"), ("cpu", "int8-static"), ("ort-mobile", "fp32"),
                        ("ort-mobile", "int8-static")}
    divergence = layers["divergence"]
    assert divergence["reference"] == "pytorch"
    variants = {v["variant"]: v for v in divergence["variants"]}
    assert set(variants) >= {"onnx fp32", "onnx int8-static"}
    assert variants["onnx fp32"]["first_below"] is None
    assert "features.5" in divergence["layers"]
    assert report["extra"]["timings_s"]["layers"] > 0
    assert "Per layer" in (tmp_path / "on" / "report.html").read_text()


@pytest.mark.slow
def test_a_recipe_switches_the_analysis_off(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[layers]\nprofile = false\ndiverge = false\n")
    assert _run(tmp_path / "off", str(recipe)) == 0
    report = json.loads((tmp_path / "off" / "report.json").read_text())
    assert "layers" not in report["extra"]
    assert report["settings"]["layers"]["profile"] is False


@pytest.mark.slow
def test_a_user_onnx_is_compared_with_its_own_fp32_by_node_name(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(6, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(16, 3)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="hidden"),
         helper.make_node("Relu", ["h"], ["r"], name="act"),
         helper.make_node("MatMul", ["r", "w2"], ["scores"], name="head")], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])], [w1, w2])
    model = tmp_path / "mlp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(64, 6)).astype(np.float32))
    assert main(["run", str(model), "--data", str(data), "--targets", "cpu", "--variants",
                 "int8-dynamic", "--runs", "5", "--warmup", "1", "--out", str(tmp_path / "o"),
                 "--quiet", "--no-isolate"]) == 0
    layers = json.loads((tmp_path / "o" / "report.json").read_text())["extra"]["layers"]
    divergence = layers["divergence"]
    assert divergence["reference"] == "onnx fp32"
    assert divergence["layers"] == ["hidden", "act", "head"]
    assert [v["variant"] for v in divergence["variants"]] == ["onnx int8-dynamic"]
    cpu = next(p for p in layers["profiles"] if p["variant"] == "fp32")
    assert {layer["layer"] for layer in cpu["layers"]} <= {"hidden", "act", "head"}
