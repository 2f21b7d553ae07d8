"""Core types: JSON round trips, derivation, atomic writes, error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgenn.core import (
    Artifact,
    TensorSpec,
    ToleranceExceededError,
    UnsupportedOperatorError,
    atomic_path,
    write_text_atomic,
)
from edgenn.core.results import Measurement, Report


def _artifact(tmp_path: Path) -> Artifact:
    (tmp_path / "m.onnx").write_bytes(b"x" * 10)
    (tmp_path / "m.onnx.data").write_bytes(b"y" * 5)
    return Artifact(tmp_path / "m.onnx", "onnx",
                    inputs=(TensorSpec("input", ("batch", 1, 8, 8)),),
                    outputs=(TensorSpec("logits", ("batch", 10)),),
                    lineage=("export:onnx",), extra_files=(tmp_path / "m.onnx.data",),
                    metadata={"variant": "fp32", "opset": 18})


def test_artifact_json_round_trip(tmp_path):
    artifact = _artifact(tmp_path)
    again = Artifact.from_dict(json.loads(json.dumps(artifact.to_dict())))
    assert again == artifact


def test_artifact_size_counts_external_data(tmp_path):
    assert _artifact(tmp_path).size_bytes() == 15


def test_derive_extends_lineage_and_leaves_source_alone(tmp_path):
    source = _artifact(tmp_path)
    child = source.derive(tmp_path / "m.int8.onnx", "quantize:int8-static", variant="int8-static")
    assert child.lineage == ("export:onnx", "quantize:int8-static")
    assert child.variant == "int8-static" and source.variant == "fp32"
    assert child.inputs == source.inputs and child.extra_files == ()
    with pytest.raises(AttributeError):
        child.format = "tflite"  # frozen


def test_report_json_round_trip():
    row = Measurement(target="cpu", variant="fp32", accuracy=0.98, top1_agreement=1.0,
                      latency_ms={"p50": 0.1, "p90": 0.2}, latency_samples_ms=[0.1, 0.2],
                      size_bytes=123, extra={"providers": ["CPUExecutionProvider"]})
    skipped = Measurement(target="gpu", variant="–", status="skipped", reason="no GPU")
    report = Report(rows=[row, skipped], settings={"runs": 2}, environment={"python": "3.11"})
    again = Report.from_json(report.to_json())
    assert again == report
    assert again.row("cpu").accuracy == 0.98


def test_report_json_turns_numpy_and_nan_into_json():
    row = Measurement(target="cpu", variant="fp32", accuracy=np.float32(0.5),
                      extra={"curve": np.arange(3), "snr": float("nan")})
    data = json.loads(Report(rows=[row]).to_json())
    assert data["rows"][0]["extra"] == {"curve": [0, 1, 2], "snr": None}


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write_text_atomic(target, "whole")
    assert target.read_text() == "whole" and len(list(tmp_path.iterdir())) == 1


def test_error_messages_name_everything():
    error = UnsupportedOperatorError("snn", ["MaxPool /pool", "Softmax /sm"])
    assert str(error) == "snn: unsupported operator(s): MaxPool /pool, Softmax /sm"
    assert error.operators == ["MaxPool /pool", "Softmax /sm"]
    tolerance = ToleranceExceededError("logits", 0.5, 1e-4, "ONNX vs PyTorch")
    assert "output 'logits'" in str(tolerance) and "0.5" in str(tolerance)


def test_to_plain_gives_plain_json_data():
    import json
    from dataclasses import dataclass
    from enum import Enum
    from pathlib import Path

    from edgenn.core import to_plain

    class Colour(str, Enum):
        RED = "red"

    @dataclass(frozen=True)
    class Settings:
        colour: Colour = Colour.RED
        sizes: tuple = (1, np.int64(2))
        where: Path = Path("/tmp/x")
        gain: float = float("nan")

    plain = to_plain({"s": Settings(), "a": np.arange(2)})
    assert plain == {"s": {"colour": "red", "sizes": [1, 2], "where": "/tmp/x", "gain": None},
                     "a": [0, 1]}
    assert type(plain["s"]["colour"]) is str  # not the enum member (torch.load refuses those)
    json.dumps(plain)
