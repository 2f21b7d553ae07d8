"""The per-layer section of report.html and the terminal lines of profile/diverge."""

from __future__ import annotations

import re

from edgenn.core.results import Report
from edgenn.report.layers import (
    divergence_lines,
    layers_section,
    profile_lines,
    snr_colour,
)

PROFILE = {"target": "cpu", "variant": "fp32", "runs": 5, "batch": 1, "total_ms": 0.04,
           "operators": [{"op_type": "Conv", "ms": 0.03, "share": 0.75},
                         {"op_type": "Gemm", "ms": 0.01, "share": 0.25}],
           "layers": [{"layer": "features.4", "ms": 0.03, "share": 0.75, "kernels": ["Conv"],
                       "macs": 294912.0, "gmacs_per_s": 9.8, "of_peak": 0.2}]}
DIVERGENCE = {"threshold_db": 30.0, "reference": "pytorch", "samples": 8,
              "layers": ["features.1", "features.4"],
              "variants": [{"variant": "onnx int8-static", "first_below": "features.4",
                            "layers": {"features.1": {"snr_db": 41.0, "cosine": 0.9999,
                                                      "max_abs": 0.01},
                                       "features.4": {"snr_db": 12.5, "cosine": 0.97,
                                                      "max_abs": 0.4}}},
                           {"variant": "onnx pruned", "first_below": None,
                            "layers": {"features.1": None, "features.4": None}}],
              "problems": {"tflite int8": "RuntimeError: boom"}}


def _report(layers: dict | None) -> Report:
    report = Report(rows=[], settings={}, environment={})
    if layers is not None:
        report.extra["layers"] = layers
    return report


def test_no_section_without_a_per_layer_analysis():
    assert layers_section(_report(None)) == ""


def test_section_shows_top_operators_unavailable_profilers_and_the_heatmap():
    page = layers_section(_report({
        "peak_gmacs": 49.0,
        "profiles": [PROFILE, {"target": "tflite", "variant": "fp32",
                               "unavailable": "LiteRT's Python package exposes no profiler"}],
        "divergence": DIVERGENCE,
        "sensitivity": [{"variant": "int8-static", "layer": "features.4", "node": "n1",
                         "op_type": "Conv", "loss_db": 7.5}]}))
    assert "Conv 75%" in page and "Gemm 25%" in page
    assert "49.0 GMAC/s" in page and "9.80 (20% of peak)" in page
    assert "exposes no profiler" in page
    # the broken layer is red, the healthy one green, the first layer under 30 dB named
    assert re.search(f'background:{snr_colour(12.5, 30.0)}"[^>]*>12.5<', page)
    assert re.search(f'background:{snr_colour(41.0, 30.0)}"[^>]*>41.0<', page)
    assert "<b>features.4</b>" in page and "boom" in page
    assert "SNR lost (dB)" in page and "7.5" in page


def test_colours_split_at_the_threshold():
    assert snr_colour(29.9, 30) != snr_colour(30.0, 30) != snr_colour(45.0, 30)


def test_terminal_lines():
    lines = profile_lines({"peak_gmacs": 49.0, "profiles": [PROFILE]})
    assert any("top operators: Conv 75%, Gemm 25%" in line for line in lines)
    text = "\n".join(divergence_lines(DIVERGENCE))
    assert "onnx int8-static: first layer under 30 dB: features.4" in text
    assert "onnx pruned: every compared layer stays at or above 30 dB" in text
    assert "tflite int8: not compared (RuntimeError: boom)" in text


def test_one_line_per_target_that_cannot_profile():
    reason = "LiteRT Python package: no per-operator profiler"
    page = layers_section(_report({"profiles": [
        {"target": "tflite", "variant": v, "unavailable": reason} for v in ("fp32", "int8")]}))
    assert page.count(reason) == 1 and "all 2" in page
