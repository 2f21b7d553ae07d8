"""A finished sweep point is reused only while its files match the hashes its result.json
recorded: a point whose result or build was damaged runs again, with a warning, and comes
out as a clean run's."""

from __future__ import annotations

import json
import logging

import pytest

from edgenn.sweep import execute, load_sweep
from edgenn.sweep.points import POINTS, RESULT


def _measured(result):
    """What a rerun reproduces exactly (latency is a measurement, not a result)."""
    rows = result["report"]["rows"]
    return result["status"], result["values"], [
        (r["target"], r["variant"], r["status"], r.get("accuracy"), r.get("size_bytes"))
        for r in rows]


def _damage_result(point):
    path = point / RESULT
    result = json.loads(path.read_text())
    result["report"]["rows"][0]["accuracy"] = 0.123  # still valid JSON, a wrong number
    path.write_text(json.dumps(result, indent=1))


def _damage_build(point):
    victim = max((p for p in point.rglob("*.onnx")), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_result, _damage_build],
                         ids=["result.json", "a model file"])
def test_a_damaged_point_runs_again_and_equals_a_clean_run(tmp_path, write_sweep, caplog,
                                                          damage):
    sweep = load_sweep(write_sweep(["{ width = 4 }"]))
    out = tmp_path / "out"
    clean = execute(sweep, out, use_ray=False)
    (key,) = clean.ran
    assert execute(sweep, out, use_ray=False).skipped == [key]  # intact: reused

    damage(out / POINTS / key)
    with caplog.at_level(logging.WARNING, logger="edgenn.sweep"):
        again = execute(sweep, out, use_ray=False)
    assert again.ran == [key] and again.skipped == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"sweep point {key} is damaged" in w for w in warnings), warnings
    assert _measured(again.results[0]) == _measured(clean.results[0])
    assert execute(sweep, out, use_ray=False).skipped == [key]  # rebuilt whole: reused


def test_a_point_recorded_before_hashes_is_still_reused(tmp_path, write_sweep):
    sweep = load_sweep(write_sweep(["{ width = 0 }"]))  # fails at once: a failed result
    out = tmp_path / "out"
    (key,) = execute(sweep, out, use_ray=False).ran
    path = out / POINTS / key / RESULT
    result = json.loads(path.read_text())
    del result["content_sha256"], result["files_sha256"]
    path.write_text(json.dumps(result))
    assert execute(sweep, out, use_ray=False).skipped == [key]
