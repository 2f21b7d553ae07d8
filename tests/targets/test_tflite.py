"""Mobile target, TFLite side: litert-torch export, ai-edge-quantizer passes, the runner,
the tflite-runtime fallback, bad input and unconvertible operators.

The trained digits CNN and its three .tflite files are built once per session (about
10 s); every test reads them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from edgenn.core import (
    Artifact,
    BadInputError,
    RunOptions,
    TargetUnavailableError,
    UnsupportedOperatorError,
)
from edgenn.core.registry import create_target
from edgenn.exporters.tflite import (
    TfliteExportConfig,
    export_available,
    export_tflite,
    load_tflite_artifact,
    unsupported_operators,
)
from edgenn.quantize.tflite import (
    RangeEstimator,
    TfliteStaticQuantConfig,
    quantize_tflite_dynamic,
    quantize_tflite_static,
)
from edgenn.targets.tflite import TfliteRunner, TfliteTarget

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("ai_edge_litert")

REPO = Path(__file__).resolve().parents[2]
FALLBACK_ENV = "EDGENN_TFLITE_RUNTIME_PYTHON"


@pytest.fixture(scope="session")
def digits():
    from edgenn.frontend.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def trained(digits):
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    model = build_model("cnn", digits.sample_shape, digits.num_classes)
    train(model, digits, TrainConfig(epochs=15))
    model.eval()
    with torch.no_grad():
        reference = model(torch.from_numpy(digits.x_test)).numpy()
    return model, reference


@pytest.fixture(scope="session")
def models(trained, digits, tmp_path_factory):
    """fp32, int8 (static) and dynamic .tflite artifacts of the trained CNN."""
    model, _ = trained
    folder = tmp_path_factory.mktemp("tflite")
    source = Artifact(path=folder / "checkpoint.pt", format="torch",
                      lineage=("train",), metadata={"variant": "fp32"})
    fp32 = export_tflite(model, digits.x_train[:4], folder / "model.tflite",
                         parity_batches=[digits.x_val[:32]], source=source)
    int8 = quantize_tflite_static(fp32, folder / "model.int8-static.tflite", digits.x_train)
    dynamic = quantize_tflite_dynamic(fp32, folder / "model.int8-dynamic.tflite")
    return {"fp32": fp32, "int8": int8, "dynamic": dynamic}


def _outputs(artifact: Artifact, x: np.ndarray, **options) -> np.ndarray:
    return TfliteTarget(**options).load(artifact, RunOptions(threads=2)).run(x)


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


# --- export ----------------------------------------------------------------------------


def test_export_records_lineage_specs_and_batch(models):
    fp32 = models["fp32"]
    assert fp32.format == "tflite" and fp32.variant == "fp32"
    assert fp32.lineage == ("train", "export:tflite")
    assert fp32.metadata["batch_size"] == 1
    assert fp32.inputs[0].shape == (1, 1, 8, 8) and fp32.inputs[0].dtype == "float32"
    assert fp32.outputs[0].shape == (1, 10)
    assert fp32.path.is_file()
    assert not list(fp32.path.parent.glob("*.partial"))


def test_fp32_agrees_with_pytorch(models, trained, digits):
    _, reference = trained
    logits = _outputs(models["fp32"], digits.x_test)
    agreement = float((logits.argmax(1) == reference.argmax(1)).mean())
    assert agreement >= 0.995
    assert np.max(np.abs(logits - reference)) < 1e-3
    assert _accuracy(reference, digits.y_test) > 0.95  # the model really learned


def test_export_available_names_what_is_missing(monkeypatch):
    import importlib.util

    assert export_available() is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "litert_torch" else real(name, *a))
    assert export_available() == 'litert-torch not installed (pip install "edgenn[mobile]")'


def test_export_config_rejects_bad_values():
    with pytest.raises(BadInputError, match="batch_size must be ≥ 1, got 0"):
        TfliteExportConfig(batch_size=0)
    with pytest.raises(BadInputError, match="tolerances must be ≥ 0"):
        TfliteExportConfig(atol=-1.0)


# --- quantization ----------------------------------------------------------------------


def test_int8_is_full_integer_and_loses_at_most_1pp(models, trained, digits):
    int8 = models["int8"]
    assert int8.variant == "int8-static"
    assert int8.lineage[-2:] == ("export:tflite", "quantize:tflite-int8")
    assert int8.inputs[0].dtype == "int8" and int8.outputs[0].dtype == "int8"
    runner = TfliteTarget().load(int8, RunOptions())
    assert runner.input_scale and runner.output_scale  # the runner applies them
    logits = runner.run(digits.x_test)
    assert logits.dtype == np.float32
    _, reference = trained
    assert _accuracy(reference, digits.y_test) - _accuracy(logits, digits.y_test) <= 0.01
    # dequantized logits stay on the reference's scale (no clipped calibration ranges)
    assert np.max(np.abs(logits - reference)) < 1.0


def test_int8_is_at_most_0_3_of_fp32_size(models):
    # weights at a quarter of the bytes; the graph and quantization parameters add ~1 %
    assert models["int8"].size_bytes() <= 0.31 * models["fp32"].size_bytes()


def test_dynamic_keeps_float_io_and_agrees(models, trained, digits):
    dynamic = models["dynamic"]
    assert dynamic.variant == "int8-dynamic" and dynamic.inputs[0].dtype == "float32"
    assert dynamic.size_bytes() < 0.5 * models["fp32"].size_bytes()
    _, reference = trained
    logits = _outputs(dynamic, digits.x_test)
    assert float((logits.argmax(1) == reference.argmax(1)).mean()) >= 0.99


def test_quantizers_reject_wrong_sources_and_data(models, digits, tmp_path):
    with pytest.raises(BadInputError, match="takes the fp32 model, got variant 'int8-static'"):
        quantize_tflite_dynamic(models["int8"], tmp_path / "x.tflite")
    with pytest.raises(BadInputError, match="does not fit the model input"):
        quantize_tflite_static(models["fp32"], tmp_path / "x.tflite",
                               np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(BadInputError, match="range_estimator 'max' is not one of"):
        TfliteStaticQuantConfig(range_estimator="max")
    assert not (tmp_path / "x.tflite").exists()


def test_min_max_calibration_beats_moving_average_on_batch_1(models, trained, digits,
                                                               tmp_path):
    """Why min-max is the default: moving averages of one-sample extremes clip logits."""
    _, reference = trained
    config = TfliteStaticQuantConfig(range_estimator=RangeEstimator.MOVING_AVERAGE)
    averaged = quantize_tflite_static(models["fp32"], tmp_path / "avg.tflite",
                                      digits.x_train, config)
    error_avg = np.max(np.abs(_outputs(averaged, digits.x_test) - reference))
    error_minmax = np.max(np.abs(_outputs(models["int8"], digits.x_test) - reference))
    assert error_minmax < error_avg


# --- runner ----------------------------------------------------------------------------


def test_runner_takes_any_batch_size(models, digits):
    for variant in ("fp32", "int8"):
        runner = TfliteTarget().load(models[variant], RunOptions(threads=1))
        whole = runner.run(digits.x_test[:9])
        parts = np.concatenate([runner.run(digits.x_test[:1]), runner.run(digits.x_test[1:9])])
        np.testing.assert_array_equal(whole, parts)
        assert runner.run(digits.x_test[:0]).shape == (0, 10)


def test_runner_without_xnnpack_matches(models, digits):
    with_xnnpack = _outputs(models["fp32"], digits.x_test[:50])
    builtin = _outputs(models["fp32"], digits.x_test[:50], xnnpack=False)
    np.testing.assert_allclose(builtin, with_xnnpack, atol=1e-4)


def test_runner_rejects_wrong_sample_shape(models):
    runner = TfliteTarget().load(models["fp32"], RunOptions())
    with pytest.raises(BadInputError, match=r"does not fit the model's samples \(1, 8, 8\)"):
        runner.run(np.zeros((2, 1, 4, 4), np.float32))


def test_target_registered_selects_and_compiles(models, tmp_path):
    target = create_target("tflite")
    assert target.available() is None
    onnx = Artifact(path=tmp_path / "m.onnx", format="onnx")
    assert target.select([onnx, *models.values()]) == list(models.values())
    compiled = target.compile(models["int8"], tmp_path / "compiled")
    assert compiled.path == tmp_path / "compiled" / "model.int8-static.tflite"
    assert compiled.path.read_bytes() == models["int8"].path.read_bytes()
    assert compiled.lineage[-1] == "compile:tflite" and compiled.variant == "int8-static"
    with pytest.raises(BadInputError, match="tflite target takes a .tflite, got onnx"):
        target.compile(onnx, tmp_path)
    with pytest.raises(BadInputError, match="runtime 'tf' is not one of"):
        TfliteTarget(runtime="tf")


def test_missing_runtime_names_the_install_command():
    try:
        import tflite_runtime.interpreter  # noqa: F401
    except Exception:  # noqa: BLE001 - absent, or broken under NumPy 2: both unusable
        pass
    else:
        pytest.skip("tflite-runtime imports in this environment")
    reason = TfliteTarget(runtime="tflite-runtime").available()
    assert reason is not None and 'pip install "edgenn[mobile]"' in reason
    with pytest.raises(TargetUnavailableError, match="no TFLite interpreter"):
        TfliteRunner(Path("x.tflite"), runtime="tflite-runtime")


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_tflite_is_one_clear_line(models, tmp_path, damage):
    data = models["fp32"].path.read_bytes()
    broken = tmp_path / f"{damage}.tflite"
    broken.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"not a model" * 50,
                        "empty": b""}[damage])
    for attempt in (lambda: load_tflite_artifact(broken),
                    lambda: TfliteTarget().compile(Artifact(broken, "tflite"), tmp_path / "c")):
        with pytest.raises(BadInputError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith(f"{broken}: not a valid .tflite model")
        assert "\n" not in message and caught.value.exit_code == 2
    assert not (tmp_path / "c" / broken.name).exists()


def test_load_tflite_artifact_reads_variant(models):
    assert load_tflite_artifact(models["int8"].path).variant == "int8-static"
    assert load_tflite_artifact(models["fp32"].path).variant == "fp32"
    with pytest.raises(BadInputError, match="model file not found"):
        load_tflite_artifact(models["fp32"].path.with_name("nope.tflite"))


def test_int8_model_without_quantization_parameters(models, tmp_path):
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(models["int8"].path))
    subgraph = model.subgraphs[0]
    subgraph.tensors[subgraph.inputs[0]].quantization = None
    stripped = tmp_path / "stripped.tflite"
    flatbuffer_utils.write_model(model, str(stripped))
    with pytest.raises(BadInputError) as caught:
        TfliteTarget().load(Artifact(stripped, "tflite"), RunOptions())
    assert str(caught.value) == (
        "stripped.tflite: the int8 input has no per-tensor quantization parameters "
        "(scale, zero point), so float data cannot be fed to it or read from it")


# --- unsupported operators -------------------------------------------------------------


class _Unconvertible(torch.nn.Module):
    """cumprod, erfinv and histc have no litert-torch lowering (checked with 0.10)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return (torch.cumprod(flat, 1)[:, :4] + torch.special.erfinv(flat * 0.5)[:, :4]
                + torch.histc(x, bins=4))


def test_unsupported_operators_all_named(tmp_path):
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    with pytest.raises(UnsupportedOperatorError) as caught:
        export_tflite(_Unconvertible(), x, tmp_path / "bad.tflite")
    assert caught.value.operators == ["aten.cumprod.default", "aten.erfinv.default",
                                      "aten.histc.default"]
    assert str(caught.value) == (
        "litert-torch: unsupported operator(s): aten.cumprod.default, aten.erfinv.default, "
        "aten.histc.default (no TFLite lowering)")
    assert not (tmp_path / "bad.tflite").exists()


def test_supported_model_has_no_unsupported_operators(trained, digits):
    assert unsupported_operators(trained[0], digits.x_train[:1]) == []


# --- the tflite-runtime fallback --------------------------------------------------------

_FALLBACK_SCRIPT = """
import json, sys
import numpy as np
from edgenn.core import TargetUnavailableError
from edgenn.targets.tflite import TfliteRunner
paths, x_path, out_path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
xnnpack = sys.argv[4] == "1"
x = np.load(x_path)
results = {"numpy": np.array(np.__version__)}
for name, path in paths.items():
    try:
        runner = TfliteRunner(path, threads=1, runtime="tflite-runtime", xnnpack=xnnpack)
    except TargetUnavailableError as error:
        results[name + ".refused"] = np.array(str(error))
        continue
    results[name + ".runtime"] = np.array(runner.runtime)
    results[name] = runner.run(x)
np.savez(out_path, **results)
"""


@pytest.fixture(scope="session")
def fallback_python() -> Path:
    """The second environment's python; a skip locally, a failure in CI, when missing."""
    configured = os.environ.get(FALLBACK_ENV)
    candidate = Path(configured) if configured else REPO / ".venv-tflite-runtime/bin/python"
    if not candidate.exists():
        message = (f"no tflite-runtime environment at {candidate} (set {FALLBACK_ENV} or "
                   "run `bash scripts/tflite_runtime_env.sh`)")
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return candidate


def _run_under_tflite_runtime(python: Path, models, x: np.ndarray, folder: Path,
                              xnnpack: bool):
    """Outputs of every .tflite under tflite-runtime (NumPy 1), in the second environment."""
    np.save(folder / "x.npy", x)
    paths = {variant: str(artifact.path) for variant, artifact in models.items()}
    done = subprocess.run(
        [str(python), "-c", _FALLBACK_SCRIPT, json.dumps(paths), str(folder / "x.npy"),
         str(folder / "out.npz"), "1" if xnnpack else "0"], capture_output=True, text=True,
        timeout=120, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(folder / "out.npz") as archive:
        results = {key: archive[key] for key in archive.files}
    assert str(results["numpy"]).startswith("1.")
    return results


def test_same_tflite_identical_under_tflite_runtime(fallback_python, models, digits,
                                                    tmp_path):
    """Reference kernels (no XNNPACK): the fp32 and int8 files give bit-identical outputs
    under tflite-runtime 2.14 and ai-edge-litert."""
    x = digits.x_test[:64]
    fallback = _run_under_tflite_runtime(fallback_python, models, x, tmp_path, xnnpack=False)
    for variant in ("fp32", "int8"):
        assert str(fallback[f"{variant}.runtime"]).startswith("tflite-runtime 2.14")
        litert = TfliteRunner(models[variant].path, threads=1, runtime="ai-edge-litert",
                              xnnpack=False)
        np.testing.assert_array_equal(fallback[variant], litert.run(x),
                                      err_msg=f"{variant} differs")


def test_xnnpack_under_tflite_runtime(fallback_python, models, digits, tmp_path):
    """With XNNPACK (the default), fp32 is identical; int8 may differ by one output
    quantization step (the two XNNPACK versions round requantization differently)."""
    x = digits.x_test[:64]
    fallback = _run_under_tflite_runtime(fallback_python, models, x, tmp_path, xnnpack=True)
    litert = {v: TfliteRunner(models[v].path, threads=1, runtime="ai-edge-litert")
              for v in ("fp32", "int8")}
    np.testing.assert_array_equal(fallback["fp32"], litert["fp32"].run(x))
    int8 = litert["int8"].run(x)
    assert np.max(np.abs(fallback["int8"] - int8)) <= litert["int8"].output_scale * 1.001
    assert np.array_equal(fallback["int8"].argmax(1), int8.argmax(1))


def test_dynamic_range_model_refused_by_tflite_runtime(fallback_python, models, digits,
                                                       tmp_path):
    fallback = _run_under_tflite_runtime(fallback_python, {"dynamic": models["dynamic"]},
                                         digits.x_test[:4], tmp_path, xnnpack=True)
    assert "dynamic" not in fallback
    assert str(fallback["dynamic.refused"]).startswith(
        "model.int8-dynamic.tflite: a dynamic-range int8 model (float input, per-channel int8 "
        "weights) runs wrong under tflite-runtime 2.14")
