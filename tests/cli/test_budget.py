"""`edgenn run --max-accuracy-drop` end to end: the fallback repairs a sensitive layer and
the report names it; a budget no variant meets exits 3 after writing the report."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main

# A user's model (file.py:factory): the first layer carries ±500 weights on pixel 0, which
# is 0 in every digits image. Training never moves them (their gradient is 0 × …), the
# float model never sees them, but int8 scales the layer to ±500 and every ordinary weight
# rounds to zero.
SENSITIVE_MODEL = '''
import torch
from torch import nn


def build(input_shape, num_classes):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 48),
                          nn.ReLU(), nn.Linear(48, num_classes))
    with torch.no_grad():
        model[1].weight[:, 0] = torch.where(torch.arange(48) % 2 == 0, 500.0, -500.0)
    return model
'''


@pytest.fixture()
def sensitive_model(tmp_path):
    path = tmp_path / "sensitive.py"
    path.write_text(SENSITIVE_MODEL)
    return f"{path}:build"


def _run(model, out, variants, budget):
    return main(["run", "--model", model, "--targets", "cpu", "--variants", variants,
                 "--max-accuracy-drop", str(budget), "--epochs", "12", "--runs", "5",
                 "--warmup", "1", "--out", str(out), "--quiet", "--no-isolate"])


@pytest.mark.slow
def test_fallback_keeps_the_sensitive_layer_in_float(sensitive_model, tmp_path):
    out = tmp_path / "ok"
    assert _run(sensitive_model, out, "int8-static", 0.5) == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    row = next(r for r in rows if r["variant"] == "int8-static")
    assert row["extra"]["budget"]["met"] is True
    kept = row["extra"]["budget"]["kept_in_float"]
    assert kept and "kept in float" in row["extra"]["note"] and kept[0] in row["extra"]["note"]


@pytest.mark.slow
def test_a_budget_nothing_meets_exits_3_after_writing_the_report(sensitive_model, tmp_path,
                                                                 capsys):
    out = tmp_path / "broken"
    assert _run(sensitive_model, out, "int8-dynamic", 0.5) == 3
    assert "no variant meets the accuracy budget of 0.5 pp" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert any(r["variant"] == "int8-dynamic" for r in report["rows"])
    assert (out / "report.html").exists()
