"""The build's calibration table: measured once by ONNX Runtime's calibrator, found again
by every consumer, keyed by the model, the samples and the method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgenn.core import BadInputError
from edgenn.core.calibration import (
    CONTENT_HASH,
    Calibration,
    cache_supported,
    measure_ranges,
    read_ranges,
    table_intact,
    table_path,
)

pytestmark = pytest.mark.skipif(not cache_supported(),
                                reason="this onnxruntime has no calibration cache")


def _mlp(path, seed: int = 0):
    """input (·, 6) → MatMul → 'hidden' → Relu → 'act' → MatMul → 'out'."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=(5, 3)).astype(
        np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w1"], ["hidden"], name="mm1"),
         helper.make_node("Relu", ["hidden"], ["act"], name="relu"),
         helper.make_node("MatMul", ["act", "w2"], ["out"], name="mm2")],
        "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return w1, w2


def test_minmax_table_holds_the_observed_range_of_every_activation(tmp_path):
    w1, w2 = _mlp(tmp_path / "mlp.onnx")
    x = np.random.default_rng(1).normal(size=(100, 6)).astype(np.float32)
    table = measure_ranges(tmp_path / "mlp.onnx", x, Calibration(preprocess=False),
                           tmp_path / "ranges")
    ranges = read_ranges(table)
    act = np.maximum(x @ w1, 0)
    assert ranges["act"] == pytest.approx((0.0, float(act.max())), rel=1e-6)
    assert ranges["input"] == pytest.approx((float(x.min()), float(x.max())), rel=1e-6)
    assert ranges["out"] == pytest.approx(((act @ w2).min(), (act @ w2).max()), rel=1e-5)
    # ONNX Runtime's own cache format: it names the method it was made with
    assert json.loads(table.read_text())["calibration_method"]["value"].endswith("MinMax")


def test_a_second_consumer_finds_the_table_instead_of_measuring_again(tmp_path):
    _mlp(tmp_path / "mlp.onnx")
    x = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    first = measure_ranges(tmp_path / "mlp.onnx", x, Calibration(), tmp_path / "ranges")
    stamp = first.stat().st_mtime_ns
    again = measure_ranges(tmp_path / "mlp.onnx", x, Calibration(), tmp_path / "ranges")
    assert again == first and again.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "ranges").iterdir()] == [first.name]  # no scratch


def test_the_key_changes_with_the_model_the_samples_and_the_method(tmp_path):
    _mlp(tmp_path / "a.onnx", seed=0)
    x = np.ones((8, 6), np.float32)
    base = table_path(tmp_path, tmp_path / "a.onnx", x, Calibration())
    assert base == table_path(tmp_path, tmp_path / "a.onnx", x.copy(), Calibration())
    assert base != table_path(tmp_path, tmp_path / "a.onnx", 2 * x, Calibration())
    assert base != table_path(tmp_path, tmp_path / "a.onnx", x, Calibration("entropy"))
    assert base != table_path(tmp_path, tmp_path / "a.onnx", x, Calibration(preprocess=False))
    _mlp(tmp_path / "a.onnx", seed=1)  # retrained: the same name, other weights
    assert base != table_path(tmp_path, tmp_path / "a.onnx", x, Calibration())


def test_a_file_that_is_not_a_table_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "ranges.json"
    bad.write_text('{"data": {"act": {"lowest": 0}}}')
    with pytest.raises(BadInputError, match="not a calibration table"):
        read_ranges(bad)


def test_weights_in_an_external_data_file_are_part_of_the_key(tmp_path):
    import onnx

    _mlp(tmp_path / "mlp.onnx")
    model = onnx.load(str(tmp_path / "mlp.onnx"))
    onnx.save(model, str(tmp_path / "big.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="big.onnx.data", size_threshold=0)
    x = np.ones((4, 6), np.float32)
    before = table_path(tmp_path, tmp_path / "big.onnx", x, Calibration())
    data = tmp_path / "big.onnx.data"
    data.write_bytes(data.read_bytes()[::-1])  # other weights, the same graph file
    assert table_path(tmp_path, tmp_path / "big.onnx", x, Calibration()) != before


MEASURE = """
import sys
import numpy as np
from edgenn.core.calibration import Calibration, measure_ranges
model, data, directory = sys.argv[1:]
print(measure_ranges(model, np.load(data), Calibration(), directory))
"""


def test_a_table_is_the_same_bytes_in_every_process_even_on_a_busy_machine(tmp_path, cpu_hog):
    """ORT's calibrator orders tensors by a set (string hashing differs per process) and
    runs a thread pool: the table is written sorted, from one thread, and is the same
    file from any process, however loaded the machine."""
    import os
    import subprocess
    import sys

    _mlp(tmp_path / "mlp.onnx")
    np.save(tmp_path / "x.npy", np.random.default_rng(1).normal(size=(300, 6)).astype(np.float32))
    tables = []
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(tmp_path / "mlp.onnx"), str(tmp_path / "x.npy"),
             str(tmp_path / f"ranges-{seed}")],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        tables.append(Path(result.stdout.strip().splitlines()[-1]))
    assert tables[0].name == tables[1].name
    assert tables[0].read_bytes() == tables[1].read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "edited", "hash removed"])
def test_a_damaged_table_is_measured_again_never_used(tmp_path, damage):
    _mlp(tmp_path / "mlp.onnx")
    x = np.random.default_rng(1).normal(size=(64, 6)).astype(np.float32)
    table = measure_ranges(tmp_path / "mlp.onnx", x, Calibration(), tmp_path / "ranges")
    good = table.read_bytes()
    if damage == "truncated":
        table.write_bytes(good[: len(good) // 2])
    else:
        content = json.loads(good)
        if damage == "edited":  # valid JSON, wrong range: only the hash can tell
            content["data"]["act"]["highest"]["data"] = [1000.0]
        else:
            content.pop(CONTENT_HASH)
        table.write_text(json.dumps(content))
    assert not table_intact(table)
    again = measure_ranges(tmp_path / "mlp.onnx", x, Calibration(), tmp_path / "ranges")
    assert again == table and again.read_bytes() == good
    assert [p.name for p in (tmp_path / "ranges").iterdir()] == [table.name]


def test_a_damaged_table_in_a_build_is_rebuilt_and_int8_matches_a_clean_build(
        tmp_path, cnn_artifacts, digits):
    """A build's static int8 reads the table; damaged (a range edited), it is measured
    again, and the int8 model is byte for byte that of a clean build."""
    from edgenn.quantize.onnx_int8 import StaticConfig, quantize_static

    onnx_artifact, x = cnn_artifacts[1], digits.x_train[:128]
    ranges = tmp_path / "ranges"
    clean = quantize_static(onnx_artifact, tmp_path / "clean.onnx", x, StaticConfig(),
                            ranges_dir=ranges)
    (table,) = ranges.glob("*.json")
    good = table.read_bytes()
    content = json.loads(good)
    for entry in content["data"].values():
        entry["highest"]["data"] = [10 * v for v in np.ravel(entry["highest"]["data"])]
    table.write_text(json.dumps(content))
    again = quantize_static(onnx_artifact, tmp_path / "again.onnx", x, StaticConfig(),
                            ranges_dir=ranges)
    assert table.read_bytes() == good
    assert again.path.read_bytes() == clean.path.read_bytes()
