"""ONNX files made elsewhere on the ONNX Runtime targets (cpu, ort-mobile; gpu where it
needs no GPU): external data that survives compilation, a fixed batch dimension run in
chunks, symbolic non-batch dimensions, and `edgenn bench` end to end.

The models are tiny and built here: by the TorchScript exporter (`dynamo=False`, which
fixes the batch at 1 without `dynamic_axes`), by edgenn's dynamo export, and with
onnx.helper.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edgenn.core import Artifact, RunOptions
from edgenn.core.registry import create_target
from edgenn.exporters.onnx import OnnxExportConfig, export_onnx, load_onnx_artifact
from edgenn.targets.gpu import GpuTarget, copy_with_external_data

ORT_TARGETS = ["cpu", "ort-mobile"]


def _tiny_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()


def _samples(n: int) -> np.ndarray:
    return np.random.default_rng(n).random((n, 1, 8, 8), dtype=np.float32)


def _torch_outputs(x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return _tiny_cnn()(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def user_models(tmp_path_factory):
    """Folders as users bring them: {kind: path of the model inside its own folder}."""
    root = tmp_path_factory.mktemp("user-models")
    models = {}
    fixed = root / "fixed" / "model.onnx"  # TorchScript exporter, batch fixed at 1
    fixed.parent.mkdir()
    torch.onnx.export(_tiny_cnn(), (torch.zeros(1, 1, 8, 8),), str(fixed), dynamo=False,
                      input_names=["x"], output_names=["logits"])
    models["fixed-batch"] = fixed
    external = root / "torchscript-external" / "model.onnx"  # fixed batch, external data
    external.parent.mkdir()
    onnx.save_model(onnx.load(str(fixed)), str(external), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    models["torchscript-external"] = external
    dynamo = root / "dynamo-external" / "model.onnx"  # dynamic batch, external data
    export_onnx(_tiny_cnn(), _samples(2), dynamo, OnnxExportConfig(external_data_threshold=0))
    models["dynamo-external"] = dynamo
    nested = root / "nested-external" / "model.onnx"  # data in a subfolder of the model's
    (nested.parent / "weights").mkdir(parents=True)
    onnx.save_model(onnx.load(str(fixed)), str(nested), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights/model.data",
                    size_threshold=0)
    models["nested-external"] = nested
    return models


def _bring(user_models, kind: str, tmp_path: Path) -> Path:
    """A private copy of a user's model folder (tests delete it)."""
    source = user_models[kind]
    copy = tmp_path / "user" / kind
    shutil.copytree(source.parent, copy)
    return copy / source.name


def _available(name: str):
    target = create_target(name)
    reason = target.available()
    if reason is not None:
        pytest.skip(f"{name} unavailable here: {reason}")
    return target


@pytest.mark.parametrize("name", ORT_TARGETS)
@pytest.mark.parametrize("kind", ["torchscript-external", "dynamo-external", "nested-external"])
def test_external_data_model_keeps_its_weights_when_compiled(user_models, tmp_path, name,
                                                             kind):
    target = _available(name)
    model = _bring(user_models, kind, tmp_path)
    artifact = load_onnx_artifact(model)
    assert artifact.extra_files and all(p.is_file() for p in artifact.extra_files)
    workdir = tmp_path / "compiled"
    compiled = target.compile(artifact, workdir)
    # Everything the compiled model needs, and nothing else (no staging left behind).
    assert sorted(p.name for p in workdir.iterdir()) == sorted(p.name for p in compiled.files())
    assert compiled.size_bytes() == sum(p.stat().st_size for p in workdir.iterdir())
    if name == "cpu":
        data = compiled.path.with_name(f"{compiled.path.name}.data")
        assert compiled.extra_files == (data,) and data.stat().st_size > 10_000
    shutil.rmtree(model.parent)  # the compiled model must not lean on the user's files
    runner = target.load(compiled, RunOptions(threads=1))
    x = _samples(17)
    np.testing.assert_allclose(runner.run(x), _torch_outputs(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ORT_TARGETS)
@pytest.mark.parametrize("samples", [16, 17])
def test_fixed_batch_model_runs_any_batch(user_models, tmp_path, name, samples):
    target = _available(name)
    artifact = load_onnx_artifact(user_models["fixed-batch"])
    assert artifact.inputs[0].shape == (1, 1, 8, 8)
    runner = target.load(target.compile(artifact, tmp_path), RunOptions(threads=1))
    assert runner.batch_size == 1
    x = _samples(samples)
    together = runner.run(x)
    alone = np.concatenate([runner.run(x[i:i + 1]) for i in range(samples)])
    assert together.shape == (samples, 10)
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_allclose(together, _torch_outputs(x), atol=1e-5, rtol=1e-5)


def _pooling_model(path: Path, batch: int | str) -> Path:
    """(batch, 3, h, w) → mean over h and w: symbolic spatial dims, any size runs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, "height", "width"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
                               helper.make_node("Flatten", ["pooled"], ["y"])],
                              "pool", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.parametrize("name", ORT_TARGETS)
@pytest.mark.parametrize("batch", ["batch", 1])
def test_symbolic_dims_and_other_dtypes_are_accepted(tmp_path, name, batch):
    target = _available(name)
    artifact = load_onnx_artifact(_pooling_model(tmp_path / "pool.onnx", batch))
    assert artifact.inputs[0].shape == (batch, 3, "height", "width")
    runner = target.load(target.compile(artifact, tmp_path / "compiled"), RunOptions())
    seen = []
    run_once = runner._run_once

    def recording(chunk):
        seen.append((chunk.shape, chunk.dtype))
        return run_once(chunk)

    runner._run_once = recording
    x = np.random.default_rng(0).random((5, 3, 6, 7))  # float64: the runner casts it
    np.testing.assert_allclose(runner.run(x), x.mean(axis=(2, 3)), rtol=1e-5)
    if batch == 1:
        assert [shape for shape, _ in seen] == [(1, 3, 6, 7)] * 5  # cast per chunk
    else:  # one run of all five (ONNX Runtime refuses 5 rows where the batch is fixed)
        assert runner.batch_size is None


def _matmul_model(path: Path, batch: int) -> tuple[Path, np.ndarray]:
    weights = np.random.default_rng(1).random((3, 2)).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm", [x], [y],
                              initializer=[numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path, weights


@pytest.mark.parametrize("name", ORT_TARGETS)
def test_fixed_batch_above_one_pads_the_last_chunk(tmp_path, name):
    target = _available(name)
    path, weights = _matmul_model(tmp_path / "mm.onnx", 4)
    compiled = target.compile(load_onnx_artifact(path), tmp_path / "compiled")
    runner = target.load(compiled, RunOptions(threads=1))
    assert runner.batch_size == 4
    x = np.random.default_rng(2).random((10, 3)).astype(np.float32)
    np.testing.assert_allclose(runner.run(x), x @ weights, rtol=1e-5)
    np.testing.assert_allclose(runner.run(x[:4]), x[:4] @ weights, rtol=1e-5)


def test_a_users_model_runs_whatever_its_variant(tmp_path):
    """`select`'s variant choices are for the pipeline's own variants: a model the user
    brings (fp16 here) runs on the targets asked for."""
    imported = Artifact(tmp_path / "model.onnx", "onnx", lineage=("import:onnx",),
                        metadata={"variant": "fp16"})
    built = imported.derive(tmp_path / "model.fp16.onnx", "quantize:fp16")
    dynamic = imported.derive(tmp_path / "model.dyn.onnx", "quantize:int8-dynamic",
                              variant="int8-dynamic")
    assert create_target("cpu").select([imported, built]) == [imported]
    assert create_target("ort-mobile").select([imported, built, dynamic]) == [imported]
    user_dynamic = Artifact(tmp_path / "q.onnx", "onnx", lineage=("import:onnx",),
                            metadata={"variant": "int8-dynamic"})
    assert GpuTarget().select([user_dynamic, dynamic]) == [user_dynamic]


def test_gpu_copies_external_data_where_the_model_names_it(user_models, tmp_path):
    model = _bring(user_models, "nested-external", tmp_path)
    artifact = load_onnx_artifact(model)
    workdir = tmp_path / "gpu"
    workdir.mkdir()
    out = workdir / "model.gpu.onnx"
    extra = copy_with_external_data(artifact, out)
    assert extra == [workdir / "weights" / "model.data"]
    assert sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")) == \
        ["model.gpu.onnx", "weights", "weights/model.data"]
    shutil.rmtree(model.parent)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = _samples(1)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], _torch_outputs(x), atol=1e-5)


@pytest.fixture(scope="module")
def fp16_user_model(user_models, tmp_path_factory):
    from edgenn.quantize.fp16 import convert_fp16

    folder = tmp_path_factory.mktemp("fp16-user")
    return convert_fp16(load_onnx_artifact(user_models["fixed-batch"]),
                        folder / "model.onnx").path


@pytest.mark.parametrize("kind, variant", [("dynamo-external", "fp32"),
                                           ("torchscript-external", "fp32"),
                                           ("fixed-batch", "fp32"), ("fp16", "fp16")])
def test_bench_measures_models_from_elsewhere(user_models, fp16_user_model, tmp_path, kind,
                                              variant):
    from edgenn.cli import main

    model = fp16_user_model if kind == "fp16" else _bring(user_models, kind, tmp_path)
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((17, 1, 8, 8), dtype=np.float32),
             y=rng.integers(0, 10, 17).astype(np.int64))
    names = [n for n in ORT_TARGETS if create_target(n).available() is None]
    out = tmp_path / "out"
    assert main(["bench", str(model), "--data", str(data), "--targets", ",".join(names),
                 "--runs", "3", "--warmup", "1", "--batch", "16", "--no-isolate",
                 "--out", str(out), "-q"]) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [row["target"] for row in rows] == names
    for row in rows:
        assert row["status"] == "ok", row["reason"]
        assert row["variant"] == variant and row["samples"] == 17
        compiled = out / "compiled" / row["target"]
        assert row["size_bytes"] == sum(p.stat().st_size for p in compiled.iterdir())
    if "external" in kind:
        assert (out / "compiled" / "cpu" / "model.cpu.onnx.data").is_file()


def test_gpu_runner_chunks_a_fixed_batch(user_models):
    """The GpuRunner's batch handling, on ONNX Runtime's CPU provider: the device binding
    itself needs a GPU (tests/targets/test_gpu.py)."""
    from edgenn.targets.gpu import CPU, GpuRunner

    runner = GpuRunner(user_models["fixed-batch"], [CPU], threads=1)
    assert runner.batch_size == 1
    runner._run_once = lambda chunk: runner.session.run(None, {"x": chunk})[0]
    x = _samples(17)
    np.testing.assert_allclose(runner.run(x), _torch_outputs(x), atol=1e-5, rtol=1e-5)
    assert runner.device_bound_batch(x).shape == (1, 1, 8, 8)
    dynamic = GpuRunner(user_models["dynamo-external"], [CPU], threads=1)
    assert dynamic.batch_size is None and dynamic.device_bound_batch(x).shape == x.shape
