"""The pipeline's mobile step: `.tflite` from the same — possibly pruned — module."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main


@pytest.mark.slow
def test_run_exports_tflite_from_the_pruned_module_too(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--targets", "tflite", "--variants", "pruned", "--epochs", "4",
                 "--runs", "3", "--warmup", "1", "--no-isolate", "--out", str(out),
                 "-q"]) == 0
    rows = {r["variant"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert set(rows) == {"fp32", "int8", "dynamic", "pruned", "pruned-int8"}
    assert all(row["status"] == "ok" for row in rows.values()), rows
    assert rows["pruned"]["lineage"][:3] == ["train", "prune:structured", "export:tflite"]
    assert {"prune:structured", "quantize:tflite-int8"} <= set(rows["pruned-int8"]["lineage"])
    assert rows["pruned-int8"]["size_bytes"] < 0.5 * rows["pruned"]["size_bytes"]
    assert rows["pruned"]["size_bytes"] < rows["fp32"]["size_bytes"]
