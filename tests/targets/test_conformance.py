"""Conformance: every registered target compiles, loads and runs the digits CNN.

The test list is generated from the target registry, and a test fails when a registered
target has no conformance case here. An unavailable target must say why and how to
install what it needs; its case checks that message instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from edgenn.core import RunOptions
from edgenn.core.registry import TARGETS, create_target
from edgenn.run.harness import agreement


@dataclass(frozen=True)
class Case:
    min_agreement: float = 0.995  # top-1 match with the PyTorch fp32 reference
    max_abs_error: float | None = 1e-4  # None: outputs are not logits (spike counts)
    options: dict[str, Any] = field(default_factory=dict)
    samples: int = 360
    fixture: str = "cnn_artifacts"  # the fixture that yields the pipeline's artifacts


CONFORMANCE: dict[str, Case] = {
    "pytorch": Case(max_abs_error=1e-5),
    "cpu": Case(),
    "gpu": Case(max_abs_error=1e-3),  # TF32/cuDNN kernels differ a little from CPU
    "tflite": Case(fixture="cnn_mobile_artifacts"),
    "ort-mobile": Case(),
    # Spiking outputs are spike counts: top-1 agreement only. brian2 on a subset: it is
    # the slow reference simulator (tests/targets/snn/test_digits.py compares the split).
    "snn-fast": Case(min_agreement=0.97, max_abs_error=None, options={"timesteps": 64},
                     fixture="cnn_snn_artifacts"),
    "snn-brian2": Case(min_agreement=0.95, max_abs_error=None, options={"timesteps": 32},
                       samples=60, fixture="cnn_snn_artifacts"),
}


def test_every_registered_target_has_a_conformance_case():
    missing = [name for name in TARGETS.names() if name not in CONFORMANCE]
    assert not missing, f"registered targets without a conformance case: {missing}"


@pytest.mark.parametrize("name", TARGETS.names())
def test_target_conforms(name, request, tmp_path, digits, reference_logits):
    case = CONFORMANCE.get(name)
    if case is None:
        pytest.fail(f"no conformance case for registered target {name!r}")
    target = create_target(name, **case.options)
    assert target.name == name and target.accepts and target.description
    reason = target.available()
    if reason is not None:
        assert "install" in reason.lower() or "driver" in reason.lower(), reason
        pytest.skip(f"{name} unavailable here: {reason}")
    artifacts = request.getfixturevalue(case.fixture)
    selected = target.select(artifacts)
    assert selected, f"{name} selected nothing from {[a.format for a in artifacts]}"
    x = digits.x_test[: case.samples]
    reference = reference_logits[: case.samples]
    for artifact in selected:
        compiled = target.compile(artifact, tmp_path)
        assert compiled.path.exists()
        runner = target.load(compiled, RunOptions(threads=1))
        outputs = np.asarray(runner.run(x))
        assert outputs.shape[0] == len(x)
        single = np.asarray(runner.run(x[:1]))
        assert single.shape[0] == 1
        comparable = getattr(runner, "comparable_outputs", True)
        stats = agreement(outputs, reference, comparable)
        assert stats["top1_agreement"] >= case.min_agreement, (artifact.variant, stats)
        if case.max_abs_error is not None and comparable and artifact.variant == "fp32":
            assert stats["max_abs_error"] <= case.max_abs_error, (artifact.variant, stats)
