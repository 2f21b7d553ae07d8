"""The tflite target's per-layer hooks: preserved tensors read back in float, and a plain
statement that LiteRT's Python package has no op profiler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenn.core import TargetUnavailableError
from edgenn.run.layers import diverge
from edgenn.targets.tflite import NO_OP_PROFILER, TfliteRunner, TfliteTarget, layer_outputs


def test_tflite_profile_says_why_there_is_none(cnn_mobile_artifacts):
    fp32 = next(a for a in cnn_mobile_artifacts if a.format == "tflite")
    with pytest.raises(TargetUnavailableError, match="no per-operator profiler"):
        TfliteTarget().profile(fp32, [np.zeros((1, 1, 8, 8), np.float32)] * 2, threads=1)
    assert "benchmark_model" in NO_OP_PROFILER


@pytest.mark.slow
def test_preserved_tensors_match_pytorch_layer_by_layer(cnn_mobile_artifacts, trained_cnn,
                                                        digits):
    tflites = [a for a in cnn_mobile_artifacts if a.format == "tflite"]
    fp32, int8 = tflites[0], next(a for a in tflites if a.variant == "int8-static")
    x = digits.x_test[:5]  # not a multiple of the .tflite's batch: chunks are padded
    outputs = layer_outputs(Path(fp32.path), x)
    assert all(value.shape[0] == len(x) and value.dtype == np.float32
               for _, _, value in outputs)
    final = outputs[-1][2]
    np.testing.assert_allclose(final, TfliteRunner(Path(fp32.path), 1).run(x), atol=1e-4)
    reference = diverge.torch_layer_outputs(trained_cnn, x)
    order = list(reference)
    table = diverge.divergence(reference, {
        "fp32": diverge.tflite_layer_outputs(Path(fp32.path), x, order),
        "int8": diverge.tflite_layer_outputs(Path(int8.path), x, order)})
    rows = {row["variant"]: row for row in table["variants"]}
    assert {"features.2", "features.5", "classifier.4"} <= set(table["layers"])
    assert min(v["snr_db"] for v in rows["fp32"]["layers"].values() if v) > 60
    int8_snr = [v["snr_db"] for v in rows["int8"]["layers"].values() if v]
    assert int8_snr and max(int8_snr) < 60  # int8 activations show in every layer
