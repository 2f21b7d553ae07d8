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
