"""torch → ONNX: checker, dynamic batch, parity with PyTorch, external data."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgenn.core import BadInputError, ToleranceExceededError
from edgenn.exporters.onnx import OnnxExportConfig, check_parity, export_onnx, load_onnx_artifact


def test_export_matches_pytorch_for_any_batch(cnn_artifacts, trained_cnn, digits):
    onnx_artifact = cnn_artifacts[1]
    assert onnx_artifact.format == "onnx" and onnx_artifact.lineage == ("train", "export:onnx")
    proto = onnx.load(str(onnx_artifact.path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert onnx_artifact.inputs[0].shape[0] == "batch"
    session = ort.InferenceSession(str(onnx_artifact.path), providers=["CPUExecutionProvider"])
    for n in (1, 7, 360):
        batch = digits.x_test[:n]
        got = session.run(None, {"input": batch})[0]
        want = trained_cnn(torch.from_numpy(batch)).detach().numpy()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_parity_failure_names_the_output(cnn_artifacts, digits):
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    with pytest.raises(ToleranceExceededError, match="output 'logits' ONNX vs PyTorch"):
        check_parity(other, cnn_artifacts[1].path, [digits.x_val[:16]], 1e-4, 1e-3)


def test_external_data_travels_with_the_model_and_counts(tmp_path, trained_cnn, digits):
    config = OnnxExportConfig(external_data_threshold=0)
    artifact = export_onnx(trained_cnn, digits.x_val[:4], tmp_path / "big.onnx", config,
                           parity_batches=[digits.x_val[:32]])
    assert artifact.extra_files, "external data file expected"
    data_file = artifact.extra_files[0]
    assert data_file.exists() and data_file.parent == tmp_path
    assert artifact.size_bytes() == (tmp_path / "big.onnx").stat().st_size + \
        data_file.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.onnx", data_file.name])
    loaded = load_onnx_artifact(tmp_path / "big.onnx")
    assert loaded.extra_files == (data_file,)


@pytest.mark.parametrize("opset", [13, 999])
def test_an_opset_the_exporter_cannot_write_is_rejected(opset):
    with pytest.raises(BadInputError, match=f"opset must be 17 … [0-9]+ .*got {opset}"):
        OnnxExportConfig(opset=opset)


def test_the_asked_opset_is_the_one_written(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    x = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    artifact = export_onnx(model, x, tmp_path / "m.onnx", OnnxExportConfig(opset=20))
    written = onnx.load(str(artifact.path)).opset_import
    assert artifact.metadata["opset"] == 20
    assert [o.version for o in written if o.domain in ("", "ai.onnx")] == [20]


@pytest.mark.parametrize("content, message", [
    (b"this is not onnx", "not a valid ONNX model"),
    (None, "model file not found"),
])
def test_load_onnx_artifact_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        load_onnx_artifact(path)


def test_export_command_honours_opset(tmp_path):
    from edgenn.cli import main

    out = tmp_path / "exp"
    assert main(["export", "--epochs", "1", "--opset", "17", "--out", str(out), "-q"]) == 0
    proto = onnx.load(str(out / "model" / "model.onnx"))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17
