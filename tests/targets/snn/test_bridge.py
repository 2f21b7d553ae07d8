"""The int8 ↔ spiking bridge: static int8 and the spiking thresholds read one calibration
table, so a population's threshold λ is 255 × the int8 scale of the same tensor."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgenn.core import Artifact, RunOptions
from edgenn.core.calibration import cache_supported, ranges_dir_for, read_ranges
from edgenn.targets.snn.coding import prepare_drive
from edgenn.targets.snn.fast import simulate_fast

pytestmark = pytest.mark.skipif(not cache_supported(),
                                reason="this onnxruntime has no calibration cache")


def _activation_scales(path) -> dict[str, float]:
    """tensor → scale of the QuantizeLinear that quantizes it, in a QDQ model."""
    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return {node.input[0]: float(constants[node.input[1]])
            for node in graph.node if node.op_type == "QuantizeLinear"
            and node.input[1] in constants and constants[node.input[1]].size == 1}


def test_int8_and_the_spiking_thresholds_share_one_calibration(snn, tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_static
    from edgenn.targets.snn.target import FastSnnTarget

    with np.load(snn.calibration) as archive:
        x = archive["x"].astype(np.float32)
    ranges_dir = ranges_dir_for(snn.calibration)
    source = Artifact(snn.onnx, "onnx", metadata={"calibration_data": str(snn.calibration),
                                                  "variant": "fp32"})
    int8 = quantize_static(source, tmp_path / "int8.onnx", x, ranges_dir=ranges_dir)
    table = int8.metadata["quantization"]["calibration_table"]
    compiled = FastSnnTarget(timesteps=64).compile(source, tmp_path / "snn")
    thresholds = compiled.metadata["thresholds"]
    assert thresholds["source"] == "calibration table" and thresholds["table"] == table
    assert thresholds["percentile_for"] == [] and thresholds["method"] == "minmax"
    assert [p.name for p in ranges_dir.iterdir()] == [table]  # one table, two consumers

    ranges = read_ranges(ranges_dir / table)
    runner = FastSnnTarget(timesteps=64).load(compiled, RunOptions())
    scales = runner.network.metadata["scales"]
    int8_scales = _activation_scales(int8.path)
    hidden = runner.network.populations[:-1]
    assert len(hidden) >= 3
    for population, scale in zip(runner.network.populations, scales, strict=True):
        assert scale == pytest.approx(ranges[population.name][1], rel=1e-6)
    for population, scale in zip(hidden, scales[:-1], strict=True):
        # uint8 after a ReLU: zero point 0, scale = λ / 255: the same full scale
        assert 255 * int8_scales[population.name] == pytest.approx(scale, rel=1e-6)

    result = simulate_fast(runner.network, prepare_drive(runner.network, snn.x, 64))
    accuracy = float(np.mean(result.scores().argmax(1) == snn.y))
    assert accuracy >= snn.ann_accuracy - 0.01, (accuracy, snn.ann_accuracy)


def test_percentile_thresholds_stay_available(snn, tmp_path):
    from edgenn.targets.snn.target import FastSnnTarget

    source = Artifact(snn.onnx, "onnx", metadata={"calibration_data": str(snn.calibration),
                                                  "variant": "fp32"})
    compiled = FastSnnTarget(thresholds="percentile").compile(source, tmp_path)
    assert compiled.metadata["thresholds"] == {"source": "percentile", "percentile": 99.9}
    network = FastSnnTarget().load(compiled, RunOptions()).network
    assert network.metadata["scales"] == pytest.approx(snn.network.metadata["scales"])


def test_an_unknown_threshold_source_is_refused():
    from edgenn.core import BadInputError
    from edgenn.targets.snn.target import FastSnnTarget

    with pytest.raises(BadInputError, match="thresholds 'max' is not one of"):
        FastSnnTarget(thresholds="max")


def test_the_converter_follows_the_settings_of_the_chosen_int8(snn, tmp_path):
    """library-default (no pre-processing) chosen: the spiking thresholds read its table."""
    from edgenn.quantize.onnx_int8 import LIBRARY_DEFAULT, quantize_static
    from edgenn.run.plan import Plan
    from edgenn.targets.snn.target import FastSnnTarget

    with np.load(snn.calibration) as archive:
        x = archive["x"].astype(np.float32)[:256]
    calibration = tmp_path / "data" / "calibration.npz"
    calibration.parent.mkdir()
    np.savez(calibration, x=x)
    ranges_dir = ranges_dir_for(calibration)
    fp32 = Artifact(snn.onnx, "onnx", metadata={"variant": "fp32"})
    int8 = quantize_static(fp32, tmp_path / "int8.onnx", x, LIBRARY_DEFAULT,
                           ranges_dir=ranges_dir)
    plan = Plan(artifacts=[fp32, int8],
                calibration=Artifact(calibration, "data", metadata={"method": "minmax"}))
    assert plan.calibration_settings(fp32)["preprocess"] is False
    [source, _] = plan.for_targets()
    compiled = FastSnnTarget().compile(source, tmp_path / "snn")
    assert compiled.metadata["thresholds"]["table"] == \
        int8.metadata["quantization"]["calibration_table"]
    assert len(list(ranges_dir.iterdir())) == 1


def test_operators_are_checked_before_any_calibration(tmp_path):
    import torch

    from edgenn.core import UnsupportedOperatorError
    from edgenn.exporters.onnx import export_onnx
    from edgenn.targets.snn.target import FastSnnTarget

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Sigmoid(),
                                torch.nn.Linear(3, 2))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    onnx_file = export_onnx(model, x[:2], tmp_path / "sigmoid.onnx").path
    np.savez(tmp_path / "calibration.npz", x=x)
    source = Artifact(onnx_file, "onnx",
                      metadata={"calibration_data": str(tmp_path / "calibration.npz")})
    with pytest.raises(UnsupportedOperatorError, match="Sigmoid"):
        FastSnnTarget().compile(source, tmp_path / "snn")
    assert not ranges_dir_for(tmp_path / "calibration.npz").exists()


def test_a_failing_calibration_falls_back_to_the_percentile_and_says_so(snn, tmp_path,
                                                                         monkeypatch):
    import edgenn.targets.snn.target as target_module
    from edgenn.targets.snn.target import FastSnnTarget

    def broken(*args, **kwargs):
        raise RuntimeError("symbolic shape inference failed\nmore lines")

    monkeypatch.setattr(target_module, "measure_ranges", broken)
    source = Artifact(snn.onnx, "onnx", metadata={"calibration_data": str(snn.calibration),
                                                  "variant": "fp32"})
    thresholds = FastSnnTarget().compile(source, tmp_path).metadata["thresholds"]
    assert thresholds["source"] == "percentile"
    assert thresholds["instead_of_calibration"] == (
        "calibration failed: RuntimeError: symbolic shape inference failed")
