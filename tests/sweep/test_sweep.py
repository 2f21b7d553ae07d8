"""Sweeps that really build and measure: sequentially without Ray (the fallback), on a real
local Ray with a worker killed mid-point, Ctrl-C, and resuming without repeated work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edgenn.cli import main
from edgenn.sweep import execute, load_sweep
from edgenn.sweep.points import POINTS, RESULT


def _results(out):
    return {p.parent.name: json.loads(p.read_text())
            for p in sorted((out / POINTS).glob(f"*/{RESULT}"))}


def _mtimes(out):
    return {p: p.stat().st_mtime_ns for p in (out / POINTS).glob(f"*/{RESULT}")}


@pytest.mark.slow
def test_without_ray_the_plan_runs_here_and_a_rerun_does_nothing_again(tmp_path, write_sweep,
                                                                       capsys):
    sweep = write_sweep(["{ width = 4 }", "{ width = 8 }",
                                             "{ width = 0 }"])
    out = tmp_path / "out"
    blocker = tmp_path / "no-ray" / "ray"  # an import of ray fails, as where it is absent
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    done = subprocess.run([sys.executable, "-m", "edgenn.cli", "sweep", str(sweep), "--out",
                           str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert 'Ray is not installed: the points run here, one after another' in done.stderr
    assert 'pip install "edgenn[sweep]"' in done.stderr
    summary = json.loads((out / "sweep.json").read_text())
    assert (summary["backend"], summary["points"], summary["ran"]) == ("sequential", 3, 3)
    failed = [r for r in summary["rows"] if r["status"] == "failed"]
    assert len(failed) == 1 and "width must be at least 1, got 0" in failed[0]["reason"]
    assert failed[0]["values"] == {"model.options": {"width": 0}}
    measured = [r for r in summary["rows"] if r["status"] == "ok"]
    assert {(r["target"], r["variant"]) for r in measured} == {("cpu", "fp32"),
                                                                ("cpu", "int8-dynamic")}
    assert len(measured) == 4 and summary["front"]["cpu"]
    assert summary["rows"][summary["recommended"]["cpu"]]["drop_pp"] <= 5.0
    assert "## Recommended per target" in (out / "sweep.md").read_text()

    before = _mtimes(out)
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(out), "--sequential", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["ran"], again["skipped"], again["failed"]) == (0, 3, 1)
    assert _mtimes(out) == before  # nothing was built or written again


@pytest.mark.slow
def test_ctrl_c_keeps_finished_points_only_and_the_rerun_runs_the_rest(tmp_path, write_sweep):
    marker = tmp_path / "interrupted"
    sweep = write_sweep(["{ width = 4 }",
                                             f'{{ width = 6, interrupt_marker = "{marker}" }}'])
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "--sequential", "-q"]) == 130
    assert marker.exists()
    finished = _results(out)
    assert [r["values"]["model.options"]["width"] for r in finished.values()] == [4]
    assert sorted(p.name for p in (out / POINTS).iterdir()) == list(finished)  # no partial
    before = _mtimes(out)

    outcome = execute(load_sweep(sweep), out, use_ray=False)
    assert len(outcome.ran) == 1 and outcome.skipped == list(finished)
    assert [r["status"] for r in outcome.results] == ["ok", "ok"]
    assert all(_mtimes(out)[p] == t for p, t in before.items())


@pytest.mark.slow
def test_on_ray_a_killed_worker_is_retried_and_nothing_is_lost(tmp_path, write_sweep,
                                                              driver_pid):
    pytest.importorskip("ray")
    marker = tmp_path / "killed"
    sweep = write_sweep([
        f'{{ width = 4, kill_marker = "{marker}", driver_pid = {driver_pid} }}',
        "{ width = 8 }"])
    out = tmp_path / "out"
    outcome = execute(load_sweep(sweep), out, use_ray=True)
    assert outcome.backend == "ray"
    killed_pid = int(marker.read_text())  # a Ray worker died in the middle of a point
    assert killed_pid != driver_pid
    assert [r["status"] for r in outcome.results] == ["ok", "ok"], outcome.results
    assert outcome.results[0]["pid"] != killed_pid  # the retry ran in another worker
    for result in outcome.results:
        for row in result["report"]["rows"]:
            # timed in its own task holding the node's timing slot, pinned to its cores
            slot = row["extra"]["timing_slot"]
            assert slot["pid"] != result["pid"]
            assert len(slot["cores"]) == min(2, len(os.sched_getaffinity(0)))

    again = execute(load_sweep(sweep), out, use_ray=True)
    assert again.ran == [] and again.skipped == [r["key"] for r in outcome.results]
