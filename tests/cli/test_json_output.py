"""`--json` on every command that writes something: stdout is one JSON document and
nothing else, whatever the toolchains print (onnxruntime's entropy calibrator, exporters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "edgenn.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, trained_cnn, digits):
    from edgenn.frontend.checkpoint import ModelConfig, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    return save_checkpoint(path, trained_cnn, ModelConfig("cnn", digits.sample_shape,
                                                          digits.num_classes))


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["quantize", "--model", "{onnx}", "--data", "digits", "--method", "entropy"],
    ["quantize", "--model", "{onnx}", "--mode", "dynamic"],
    ["prune", "--checkpoint", "{checkpoint}", "--data", "digits", "--fine-tune-epochs", "1"],
    ["export", "--checkpoint", "{checkpoint}", "--data", "digits"],
    ["compile", "{onnx}", "--target", "cpu"],
], ids=["quantize-entropy", "quantize-dynamic", "prune", "export", "compile"])
def test_json_stdout_is_the_document_alone(command, cnn_artifacts, checkpoint, tmp_path):
    onnx = next(a for a in cnn_artifacts if a.format == "onnx")
    argv = [a.format(onnx=onnx.path, checkpoint=checkpoint) for a in command]
    done = run_cli(*argv, "--json", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # raises on anything before or after the JSON
    written = Path(document["artifact"]["path"]).resolve()
    assert written.is_relative_to((tmp_path / "out").resolve()) and written.exists()
    assert document["size_bytes"] > 0 and len(document["sha256"]) == 64
