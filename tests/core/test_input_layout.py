"""Inputs that are not "a batch of samples on axis 0": a streaming model's state whose batch
is on axis 1 ([2, B, 16]) and a scalar sample rate (int64, shape []), as models from the
wild ship them (silero-vad's `state` and `sr`). The data are written in the model's
layout; every runner must give what ONNX Runtime gives when fed by hand, sample by sample.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper, numpy_helper

from edgenn.cli import main
from edgenn.core import Artifact, BadInputError, RunOptions, TensorSpec, samples
from edgenn.core.artifact import batch_axis_for
from edgenn.core.registry import create_target
from edgenn.core.target import ModelInput, model_feed
from edgenn.exporters.onnx import load_onnx_artifact
from edgenn.frontend.data import load_dataset, read_samples
from edgenn.frontend.inputs import check_fits, fit_to_model, with_data_layout

RATE = 16000
ROWS = 60


def _streaming_model(path):
    """x [B, 64], state [2, B, 16], sr [] int64 → y [B, 2], stateN [2, B, 16]:
    stateN = tanh(state + x·W), y = (mean of stateN over its first axis)·(sr / 16000)·V."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(64, 16)).astype(np.float32), "W"),
               numpy_helper.from_array(rng.normal(size=(16, 2)).astype(np.float32), "V"),
               numpy_helper.from_array(np.array(1 / RATE, np.float32), "per_rate")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["drive"]),
             helper.make_node("Add", ["state", "drive"], ["summed"]),
             helper.make_node("Tanh", ["summed"], ["stateN"]),
             helper.make_node("ReduceMean", ["stateN"], ["pooled"], axes=[0], keepdims=0),
             helper.make_node("Cast", ["sr"], ["rate"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["rate", "per_rate"], ["gain"]),
             helper.make_node("Mul", ["pooled", "gain"], ["scaled"]),
             helper.make_node("MatMul", ["scaled", "V"], ["y"])]
    graph = helper.make_graph(
        nodes, "streaming",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 64]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "B", 16]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 2]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "B", 16])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _model_layout_data(rows: int = ROWS) -> dict[str, np.ndarray]:
    """Arrays as the model takes them: the state's samples on axis 1, the rate given once."""
    rng = np.random.default_rng(1)
    return {"x": rng.normal(size=(rows, 64)).astype(np.float32),
            "state": rng.normal(size=(2, rows, 16)).astype(np.float32),
            "sr": np.array(RATE, np.int64)}


def _by_hand(model, data) -> np.ndarray:
    """ONNX Runtime fed one sample at a time, each input cut by hand."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.concatenate([
        session.run(["y"], {"x": data["x"][i:i + 1], "state": data["state"][:, i:i + 1],
                            "sr": data["sr"]})[0] for i in range(len(data["x"]))])


@pytest.fixture(scope="module")
def streaming(tmp_path_factory):
    """(model path, arrays in the model's layout, outputs fed by hand, the .npz with
    labels = the model's own decisions)."""
    root = tmp_path_factory.mktemp("streaming")
    model = _streaming_model(root / "stream.onnx")
    data = _model_layout_data()
    expected = _by_hand(model, data)
    labels = expected.argmax(1)
    assert 10 <= labels.sum() <= ROWS - 10  # both classes, enough for the split
    npz = root / "d.npz"
    np.savez(npz, **{f"x.{name}": a for name, a in data.items()}, y=labels)
    return model, data, expected, npz


def test_layouts_are_read_from_the_models_shapes(streaming):
    model, *_ = streaming
    specs = {spec.name: spec for spec in load_onnx_artifact(model).inputs}
    assert [specs[n].batch_axis for n in ("x", "state", "sr")] == [0, 1, None]
    assert specs["state"].describe_shape() == "2×(batch)×16"
    assert specs["sr"].describe_shape() == "a scalar, one value for the whole run"
    assert batch_axis_for(("seq", "batch", 8)) == 1  # the named one among several
    assert batch_axis_for(("?", "?")) == 0 and batch_axis_for((1, 3, 8, 8)) == 0
    assert batch_axis_for((1, 1, 64, "image_width")) == 0  # a batch fixed at 1: not the width
    assert batch_axis_for((2, "?", 128)) == 1 and batch_axis_for(("T", "N", 80)) == 1


def test_layouts_round_trip_through_the_artifacts_dict(streaming):
    model, *_ = streaming
    artifact = load_onnx_artifact(model)
    again = Artifact.from_dict(json.loads(json.dumps(artifact.to_dict())))
    assert again.inputs == artifact.inputs
    derived = again.derive(model, "compile:cpu")
    assert [s.batch_axis for s in derived.inputs] == [0, 1, None]
    old = {"name": "input", "shape": ["batch", 1, 8, 8], "dtype": "float32"}
    assert TensorSpec.from_dict(old).batch_axis == 0  # written before layouts existed


def test_data_in_the_models_layout_are_read_samples_first(streaming):
    model, data, _, npz = streaming
    x, y = read_samples(npz, load_onnx_artifact(model).inputs)
    assert samples.count(x) == ROWS and len(y) == ROWS
    assert x["state"].shape == (ROWS, 2, 16) and x["sr"].shape == (ROWS,)
    np.testing.assert_array_equal(x["state"][7], data["state"][:, 7])
    assert set(x["sr"].tolist()) == {RATE}
    split = load_dataset(npz, inputs=load_onnx_artifact(model).inputs)
    assert samples.count(split.x_test) + samples.count(split.x_train) + \
        samples.count(split.x_val) == ROWS


@pytest.mark.parametrize("target", ["cpu", "ort-mobile"])
def test_runners_feed_each_input_in_its_layout(streaming, tmp_path, target):
    model, data, expected, npz = streaming
    artifact = load_onnx_artifact(model)
    x, _ = read_samples(npz, artifact.inputs)
    runtime = create_target(target)
    compiled = runtime.compile(artifact, tmp_path)
    runner = runtime.load(Artifact.from_dict(compiled.to_dict()), RunOptions(threads=1))
    np.testing.assert_allclose(runner.run(x), expected, rtol=1e-5, atol=1e-5)
    one = samples.take(x, slice(3, 4))
    np.testing.assert_allclose(runner.run(one), expected[3:4], rtol=1e-5, atol=1e-5)


def test_the_gpu_runner_binds_every_input_in_its_layout(streaming):
    """The GpuRunner's feeding on ONNX Runtime's CPU provider (binding needs a GPU)."""
    from edgenn.targets.gpu import CPU, GpuRunner

    model, _, expected, npz = streaming
    artifact = load_onnx_artifact(model)
    x, _ = read_samples(npz, artifact.inputs)
    runner = GpuRunner(model, [CPU], threads=1, specs=artifact.inputs)
    assert [i.batch_axis for i in runner.inputs] == [0, 1, None]
    runner._run_once = lambda chunk: runner.session.run(
        ["y"], model_feed(chunk, runner.inputs))[0]
    np.testing.assert_allclose(runner.run(x), expected, rtol=1e-5, atol=1e-5)


def test_bench_measures_the_streaming_model(streaming, tmp_path):
    model, *_, npz = streaming
    out = tmp_path / "out"
    assert main(["bench", str(model), "--data", str(npz), "--targets", "cpu,ort-mobile",
                 "--runs", "3", "--warmup", "1", "--batch", "4", "--no-isolate",
                 "--out", str(out), "-q"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    for row in rows:
        assert row["status"] == "ok", row["reason"]
        assert row["samples"] == ROWS and row["accuracy"] == 1.0  # labels: its own decisions


def test_run_measures_the_streaming_model_against_its_hand_fed_outputs(streaming, tmp_path):
    model, data, expected, npz = streaming
    out = tmp_path / "out"
    assert main(["run", str(model), "--data", str(npz), "--targets", "cpu",
                 "--variants", "int8-static", "--runs", "2", "--warmup", "1",
                 "--no-isolate", "--out", str(out), "-q"]) == 0
    rows = {(r["target"], r["variant"]): r
            for r in json.loads((out / "report.json").read_text())["rows"]}
    assert rows[("cpu", "fp32")]["status"] == "ok" and rows[("cpu", "fp32")]["accuracy"] == 1.0
    assert rows[("cpu", "int8-static")]["status"] == "ok", rows[("cpu", "int8-static")]
    # the reference (ONNX Runtime on the test split) is what feeding by hand gives
    test_x, _ = samples.load(out / "data" / "test.npz")
    rows_of = [int(np.flatnonzero((data["x"] == row).all(1))[0]) for row in test_x["x"]]
    reference = np.load(out / "data" / "reference.npy")
    np.testing.assert_allclose(reference, expected[rows_of], rtol=1e-5, atol=1e-5)


def test_static_int8_calibrates_on_samples_first_data(streaming, tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_static

    model, data, expected, npz = streaming
    artifact = load_onnx_artifact(model)
    x, _ = read_samples(npz, artifact.inputs)
    quantized = quantize_static(artifact, tmp_path / "stream.int8.onnx", x)
    assert [s.batch_axis for s in quantized.inputs] == [0, 1, None]
    runner = create_target("cpu").load(quantized, RunOptions(threads=1))
    got = runner.run(x)
    assert np.mean(got.argmax(1) == expected.argmax(1)) > 0.9


@pytest.mark.parametrize("bad, message", [
    ({"sr": np.array([RATE] * (ROWS - 1) + [8000])},
     "input 'sr' takes a scalar, one value for the whole run, the data give 2 different "
     "values across samples"),
    ({"state": np.zeros((3, ROWS, 16), np.float32)},
     "input 'state' expects 2×(batch)×16, the data give 3×60×16"),
    ({"state": np.zeros((ROWS, 2, 16), np.float32)},
     "input 'state' expects 2×(batch)×16, the data give 60×2×16"),
    ({"state": np.zeros((2, ROWS - 1, 16), np.float32)},
     "inputs hold different numbers of samples on their batch axes (x: 60, state: 59)"),
])
def test_bad_data_is_one_line_with_the_whole_expected_shape(streaming, tmp_path, capsys, bad,
                                                            message):
    model, data, *_ = streaming
    npz = tmp_path / "bad.npz"
    np.savez(npz, **{f"x.{name}": a for name, a in {**data, **bad}.items()})
    with pytest.raises(BadInputError, match="^" + str(npz).replace(".", r"\.")) as caught:
        read_samples(npz, load_onnx_artifact(model).inputs)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert main(["bench", str(model), "--data", str(npz), "--no-isolate",
                 "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_data_file_may_declare_a_layout(streaming, tmp_path):
    """`batch_axis.<input>`: here the state written samples-first, declared 0, and the rate
    declared constant: the declaration travels with the artifact to every runner."""
    model, data, expected, _ = streaming
    npz = tmp_path / "declared.npz"
    np.savez(npz, **{"x.x": data["x"], "x.state": np.moveaxis(data["state"], 1, 0),
                     "x.sr": np.full(ROWS, RATE), "batch_axis.state": 0,
                     "batch_axis.sr": -1})
    artifact = with_data_layout(load_onnx_artifact(model), npz)
    assert [s.batch_axis for s in artifact.inputs] == [0, 0, None]
    x, _ = read_samples(npz, artifact.inputs)
    assert x["state"].shape == (ROWS, 2, 16)
    np.savez(npz, **{"x.x": data["x"], "x.state": data["state"], "x.sr": data["sr"],
                     "batch_axis.sr": 3})
    with pytest.raises(BadInputError, match="batch_axis.sr must be one integer, an axis of "
                                            "input 'sr'"):
        with_data_layout(load_onnx_artifact(model), npz)


def test_a_constant_given_per_sample_or_alone(streaming):
    model, data, *_ = streaming
    inputs = load_onnx_artifact(model).inputs
    per_sample = fit_to_model({**data, "sr": np.full(ROWS, RATE)}, inputs, "d")
    assert per_sample["sr"].shape == (ROWS,)
    alone = fit_to_model({"sr": np.array(RATE)}, [inputs[2]], "d")
    assert alone["sr"].shape == (1,)


def test_samples_first_data_are_checked_with_the_whole_shape():
    with pytest.raises(BadInputError, match=r"samples of shape 3×130 do not fit the model "
                                            r"input of shape 2×\(batch\)×16"):
        check_fits(np.zeros((5, 3, 130)), (2, "B", 16), "d", batch_axis=1)
    check_fits(np.zeros((5, 2, 16)), (2, "B", 16), "d", batch_axis=1)
    check_fits(np.zeros((5,)), (), "d", batch_axis=None)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_model_layout_and_back_is_the_identity(data):
    array = data.draw(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4),
                                 elements=st.floats(-1, 1, width=32)))
    axis = data.draw(st.integers(0, array.ndim - 1))
    canonical = samples.from_layout(array, axis)
    assert canonical.shape[0] == array.shape[axis]
    np.testing.assert_array_equal(samples.to_layout(canonical, axis), array)
    fed = model_feed({"a": canonical}, [ModelInput("a", np.dtype(np.float32), axis)])["a"]
    np.testing.assert_array_equal(fed, array)
    once = samples.from_layout(array, None, rows=3)
    np.testing.assert_array_equal(samples.to_layout(once, None), array)


def _streamed_by_hand(model, data) -> np.ndarray:
    """ONNX Runtime fed one sample at a time, in order, each given the state the previous
    one gave (the first its own state from the data)."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    state, outputs = data["state"][:, :1], []
    for i in range(len(data["x"])):
        y, state = session.run(["y", "stateN"], {"x": data["x"][i:i + 1], "state": state,
                                                 "sr": data["sr"]})
        outputs.append(y)
    return np.concatenate(outputs)


@pytest.fixture(scope="module")
def carried(streaming, tmp_path_factory):
    """(the .npz that carries stateN into state, labelled by the stream's own decisions,
    the outputs of the stream fed by hand)."""
    model, data, *_ = streaming
    expected = _streamed_by_hand(model, data)
    npz = tmp_path_factory.mktemp("carried") / "stream.npz"
    np.savez(npz, **{f"x.{name}": a for name, a in data.items()}, y=expected.argmax(1),
             **{"carry.state": "stateN"})
    return npz, expected


@pytest.mark.parametrize("target", ["cpu", "ort-mobile"])
def test_a_carried_state_streams_from_sample_to_sample(streaming, carried, tmp_path, target):
    model, *_ = streaming
    npz, expected = carried
    artifact = with_data_layout(load_onnx_artifact(model), npz)
    assert [s.carried_from for s in artifact.inputs] == [None, "stateN", None]
    x, _ = read_samples(npz, artifact.inputs)
    runtime = create_target(target)
    compiled = runtime.compile(artifact, tmp_path)
    runner = runtime.load(Artifact.from_dict(compiled.to_dict()), RunOptions(threads=1))
    first = runner.run(samples.take(x, slice(0, 25)))  # the stream goes on across calls
    rest = runner.run(samples.take(x, slice(25, None)))
    np.testing.assert_allclose(np.concatenate([first, rest]), expected, rtol=1e-4, atol=1e-4)


def test_bench_measures_a_stream_as_it_is_used(streaming, carried, tmp_path):
    model, *_ = streaming
    npz, expected = carried
    assert 0 < expected.argmax(1).sum() < ROWS
    out = tmp_path / "out"
    assert main(["bench", str(model), "--data", str(npz), "--targets", "cpu",
                 "--runs", "2", "--warmup", "1", "--batch", "4", "--no-isolate",
                 "--out", str(out), "-q"]) == 0
    [row] = json.loads((out / "report.json").read_text())["rows"]
    assert row["status"] == "ok" and row["accuracy"] == 1.0, row


def test_a_carry_names_an_output_that_fits(streaming, tmp_path):
    model, data, *_ = streaming
    npz = tmp_path / "bad.npz"
    for output, message in [("hidden", "carry.state names output 'hidden', which the model "
                                       "does not have (its outputs: y, stateN)"),
                            ("y", "carry.state: output 'y' (B×2) cannot feed input 'state' "
                                  "(2×(batch)×16)")]:
        np.savez(npz, **{f"x.{name}": a for name, a in data.items()},
                 **{"carry.state": output})
        with pytest.raises(BadInputError) as caught:
            with_data_layout(load_onnx_artifact(model), npz)
        assert message in str(caught.value), caught.value


def test_the_gpu_runner_streams_too(streaming, carried):
    """On ONNX Runtime's CPU provider: a stream runs through session.run, no binding."""
    from edgenn.targets.gpu import CPU, GpuRunner

    model, *_ = streaming
    npz, expected = carried
    artifact = with_data_layout(load_onnx_artifact(model), npz)
    x, _ = read_samples(npz, artifact.inputs)
    runner = GpuRunner(model, [CPU], threads=1, specs=artifact.inputs)
    np.testing.assert_allclose(runner.run(x), expected, rtol=1e-4, atol=1e-4)


def test_a_batch_fixed_at_one_beside_a_symbolic_width_and_a_time_first_output(tmp_path):
    """[1, 4, W] in (OCR-style: the width symbolic, the batch fixed at 1), [W, 1, 4] out
    (time first): samples stay on axis 0 in, and come back on axis 0 out."""
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])], "ocr",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["W", 1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "ocr.onnx"))
    artifact = load_onnx_artifact(tmp_path / "ocr.onnx")
    assert artifact.inputs[0].batch_axis == 0
    assert artifact.inputs[0].describe_shape() == "(batch of 1)×4×W"
    x = np.random.default_rng(0).random((5, 4, 6), dtype=np.float32)
    runner = create_target("cpu").load(artifact, RunOptions(threads=1))
    np.testing.assert_array_equal(runner.run(x), np.transpose(x, (0, 2, 1)))
