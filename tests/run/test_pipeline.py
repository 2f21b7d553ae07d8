"""The pipeline's mobile step: `.tflite` from the same — possibly pruned — module."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main


@pytest.mark.slow
def test_run_exports_tflite_from_the_pruned_module_too(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--targets", "tflite", "--variants", "int8-static,pruned,pruned-int8",
                 "--epochs", "4", "--runs", "3", "--warmup", "1", "--no-isolate", "--out",
                 str(out), "-q"]) == 0
    rows = {r["variant"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    # one naming scheme across targets, and --variants governs the tflite rows too
    assert set(rows) == {"fp32", "int8-static", "pruned", "pruned-int8"}
    assert all(row["status"] == "ok" for row in rows.values()), rows
    assert rows["pruned"]["lineage"][:3] == ["train", "prune:structured", "export:tflite"]
    assert {"prune:structured", "quantize:tflite-int8"} <= set(rows["pruned-int8"]["lineage"])
    assert rows["pruned-int8"]["size_bytes"] < 0.5 * rows["pruned"]["size_bytes"]
    assert rows["pruned"]["size_bytes"] < rows["fp32"]["size_bytes"]


USER_MODEL = '''
import torch.nn as nn


class OnlyHere(nn.Module):
    """A class that exists only in this file, imported by edgenn under a private name."""

    def __init__(self, shape, classes):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(shape[0], 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8 * shape[1] * shape[2], classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def build(input_shape, num_classes):
    return OnlyHere(input_shape, num_classes)
'''


@pytest.mark.slow
def test_a_user_model_runs_every_variant_and_the_pruned_module_travels(tmp_path):
    """Pruning, fine-tuning, the pruned ONNX, the pruned .tflite and the reference all work
    for a class defined only in the user's file (nothing is pickled by class)."""
    source = tmp_path / "mine.py"
    source.write_text(USER_MODEL)
    out = tmp_path / "run"
    assert main(["run", "--model", f"{source}:build", "--targets", "pytorch,cpu,tflite",
                 "--epochs", "3", "--runs", "3", "--warmup", "1", "--no-isolate",
                 "--out", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {(r["target"], r["variant"]): r for r in report["rows"]}
    for key in [("pytorch", "fp32"), ("cpu", "int8-static"), ("cpu", "pruned"),
                ("cpu", "pruned-int8"), ("tflite", "pruned"), ("tflite", "pruned-int8")]:
        assert rows[key]["status"] == "ok", (key, rows[key]["reason"])
    manifest = json.loads((out / "manifest.json").read_text())
    files = {a["path"]: a for a in manifest["artifacts"]}
    assert files["model/model.pruned.pt2"]["format"] == "torch"
    assert files["data/calibration.npz"]["sha256"]  # the one calibration set, hashed




def test_int8_and_the_spiking_rows_share_the_build_calibration_table(tmp_path):
    """One table per model in data/ranges (in the manifest); the int8 row quantized with it
    and the spiking row took its thresholds from it; the report shows the spiking
    accuracy over (weight bits × timesteps) with the ANN rows beside it."""
    from edgenn.core.calibration import cache_supported

    if not cache_supported():
        pytest.skip("this onnxruntime has no calibration cache")
    out = tmp_path / "build"
    assert main(["run", "--model", "cnn", "--targets", "cpu,snn-fast", "--variants",
                 "int8-static", "--epochs", "3", "--runs", "3", "--warmup", "0",
                 "--no-isolate", "--quiet", "--target-option", "snn-fast.timesteps=16",
                 "--target-option", "snn-fast.evaluation_timesteps=16",
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {(r["target"], r["variant"]): r for r in report["rows"]}
    spiking = rows[("snn-fast", "fp32")]["extra"]
    thresholds = spiking["thresholds"]
    assert thresholds["source"] == "calibration table" and thresholds["method"] == "minmax"
    int8_row = rows[("cpu", "int8-static")]["extra"]
    assert int8_row["quantization"]["calibration_table"] == thresholds["table"]
    manifest = json.loads((out / "manifest.json").read_text())
    int8 = next(a for a in manifest["artifacts"] if a["path"] == "model/model.int8-static.onnx")
    assert int8["sha256"]  # the quantized model is in the manifest, and so are the tables
    calibration = next(a for a in manifest["artifacts"] if a["path"] == "data/calibration.npz")
    tables = [f["path"] for f in calibration["files"][1:]]
    assert f"data/ranges/{thresholds['table']}" in tables
    assert all((out / path).is_file() for path in tables)

    table = spiking["bits_by_timesteps"]
    assert table["timesteps"] == [8, 16]
    assert [r["weight_bits"] for r in table["rows"]] == [None, 8, 4]
    assert table["rows"][0]["accuracy"][-1] == pytest.approx(rows[("snn-fast", "fp32")]
                                                             ["accuracy"])
    markdown = (out / "report.md").read_text()
    assert "## Spiking accuracy: weight bits × timesteps (fp32)" in markdown
    int8_accuracy = f"{rows[('cpu', 'int8-static')]['accuracy']:.3f} (int8-static)"
    assert "| 8-bit | " in markdown and int8_accuracy in markdown
    assert "Spiking accuracy: weight bits × timesteps" in (out / "report.html").read_text()
