"""Operation counts of ONNX and .tflite files, and the energy estimate of every row."""

from __future__ import annotations

import pytest

from edgenn.core.energy import EnergyModel, ann_energy_uj, precision_of
from edgenn.core.results import Measurement
from edgenn.run.energy import annotate_energy, op_counts


def test_onnx_counts_match_a_hand_count(tmp_path):
    torch = pytest.importorskip("torch")
    from edgenn.exporters.onnx import export_onnx

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10))
    artifact = export_onnx(model, torch.zeros(2, 1, 8, 8).numpy(), tmp_path / "m.onnx")
    counts = op_counts(artifact.path)
    # conv: 4×8×8 outputs × (1×3×3) taps; linear: 10 outputs × 256 inputs
    assert counts["macs"] == 4 * 8 * 8 * 9 + 10 * 256
    assert counts["weights"] == 4 * 9 + 4 + 256 * 10 + 10
    assert counts["activations"] >= 4 * 64 + 10


def test_tflite_counts_agree_with_the_onnx_counts(cnn_mobile_artifacts, cnn_artifacts):
    onnx = next(a for a in cnn_artifacts if a.format == "onnx" and a.variant == "fp32")
    tflite = [a for a in cnn_mobile_artifacts if a.format == "tflite"]
    assert len(tflite) == 3
    assert {op_counts(a.path)["macs"] for a in tflite} == {op_counts(onnx.path)["macs"]}


def test_energy_per_row_uses_the_precision_of_the_variant():
    counts = {"macs": 1e6, "weights": 1e4, "activations": 1e3}
    rows = [Measurement("cpu", "fp32", extra={"op_counts": counts}),
            Measurement("cpu", "int8-static", extra={"op_counts": counts}),
            Measurement("tflite", "fp16", extra={"op_counts": counts}),
            Measurement("snn-fast", "fp32", extra={"energy": {"snn_uj": 2.5}}),
            Measurement("cpu", "pruned", status="failed", extra={"op_counts": counts})]
    annotate_energy(rows)
    model = EnergyModel()
    assert rows[0].extra["energy_uj"] == pytest.approx(
        (1e6 * 4.6 + (1e4 + 2e3) * 4 * model.sram_pj_per_byte) * 1e-6)
    assert rows[1].extra["energy_uj"] < rows[2].extra["energy_uj"] < rows[0].extra["energy_uj"]
    assert rows[3].extra["energy_uj"] == 2.5 and "synaptic" in rows[3].extra["energy_basis"]
    assert "energy_uj" not in rows[4].extra
    assert "M MACs at int8" in rows[1].extra["energy_basis"]


def test_precision_of_variants():
    assert [precision_of(v) for v in ("fp32", "int8-static", "int8-dynamic", "pruned-int8",
                                      "fp16", "pruned")] == \
        ["fp32", "int8", "int8", "int8", "fp16", "fp32"]
    assert ann_energy_uj({"macs": 0, "weights": 0, "activations": 0}, "int8") == 0
