"""Sweep files: expansion into points, their keys, validation; the summary's front and
recommendation; the dry-run split. Nothing here builds a model."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError
from edgenn.sweep import load_sweep, parse_sweep
from edgenn.sweep.dryrun import dry_run
from edgenn.sweep.spec import EXAMPLE
from edgenn.sweep.summary import pareto_front, recommended

GRID = {"targets": {"run": ["cpu"]},
        "space": {"compression": {"prune_sparsity": [0.25, 0.5, 0.75],
                                  "calibration_method": ["minmax", "entropy"]}}}


def test_a_grid_is_every_combination_with_stable_distinct_keys():
    points = parse_sweep(GRID).points()
    assert len(points) == 6
    assert len({p.key for p in points}) == 6
    assert points[0].values == {"compression.prune_sparsity": 0.25,
                                "compression.calibration_method": "minmax"}
    assert [p.key for p in parse_sweep(GRID).points()] == [p.key for p in points]


def test_a_key_is_the_resolved_setting_not_its_spelling():
    """A default written out, or an int for a float, is the same point; another value or
    another data file's content is not."""
    plain = parse_sweep({"space": {"compression": {"calibration_samples": [64]}}}).points()[0]
    spelled = parse_sweep({"compression": {"calibration_method": "minmax"},
                           "space": {"compression": {"calibration_samples": [64]}}}).points()[0]
    assert plain.key == spelled.key
    other = parse_sweep({"space": {"compression": {"calibration_samples": [65]}}}).points()[0]
    assert other.key != plain.key


def test_a_data_file_enters_the_key_by_its_content(tmp_path):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((4, 3), np.float32), y=np.arange(4))
    sweep = {"data": {"source": str(data)}, "space": {"train": {"epochs": [1]}}}
    before = parse_sweep(sweep).points()[0].key
    np.savez(data, x=np.ones((4, 3), np.float32), y=np.arange(4))
    assert parse_sweep(sweep).points()[0].key != before


def test_random_search_is_seeded_and_stays_within_its_distributions():
    raw = {"sweep": {"method": "random", "samples": 20, "seed": 3},
           "space": {"compression": {"prune_sparsity": {"uniform": [0.2, 0.6]},
                                     "calibration_samples": {"int": [16, 64]},
                                     "calibration_method": ["minmax", "entropy"]}}}
    points = parse_sweep(raw).points()
    assert [p.key for p in points] == [p.key for p in parse_sweep(raw).points()]
    assert len(points) == 20
    assert all(0.2 <= p.values["compression.prune_sparsity"] <= 0.6 for p in points)
    assert all(16 <= p.values["compression.calibration_samples"] <= 64 for p in points)
    other = parse_sweep({**raw, "sweep": {**raw["sweep"], "seed": 4}}).points()
    assert [p.key for p in other] != [p.key for p in points]


def test_every_problem_is_named_at_once():
    raw = {"sweep": {"max_retries": -1},
           "space": {"compression": {"calibration_method": ["minmax", "median"],
                                     "prune_sparsity": {"uniform": [0.1, 0.9]},
                                     "colour": ["red"]},
                     "nowhere": {"x": [1]}}}
    with pytest.raises(BadInputError) as caught:
        parse_sweep(raw, "s.toml")
    message = str(caught.value)
    assert message.startswith("s.toml: ")
    assert "'sweep.max_retries' = -1 must be an integer ≥ 0" in message
    assert "'compression.calibration_method' = 'median' is not allowed" in message
    assert "'space.compression.prune_sparsity' is a distribution (uniform); a grid needs" \
        in message
    assert "unknown key 'space.compression.colour'" in message
    assert "[space.nowhere]: not a recipe section" in message


def test_an_unknown_search_method_is_named():
    with pytest.raises(BadInputError, match=r"'sweep.method' = 'bayes' is not allowed "
                                            r"\(allowed: grid, random\)"):
        parse_sweep({"sweep": {"method": "bayes"}, "space": {"train": {"epochs": [1]}}})


def test_an_empty_space_and_a_missing_file_are_bad_input(tmp_path):
    with pytest.raises(BadInputError, match=r"\[space\] is empty"):
        parse_sweep({"model": {"name": "cnn"}})
    with pytest.raises(BadInputError, match="sweep file not found"):
        load_sweep(tmp_path / "nope.toml")


def test_the_example_written_by_init_is_a_valid_sweep(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(EXAMPLE)
    assert len(load_sweep(path).points()) == 18


def _row(target, accuracy, p50, size, drop):
    return {"target": target, "status": "ok", "accuracy": accuracy, "p50_ms": p50,
            "size_bytes": size, "drop_pp": drop}


def test_front_and_recommendation_per_target():
    rows = [_row("cpu", 0.99, 0.020, 100, 0.0),   # most accurate
            _row("cpu", 0.98, 0.010, 50, 1.0),    # faster and smaller
            _row("cpu", 0.97, 0.012, 60, 2.0),    # dominated by the row above
            _row("cpu", 0.90, 0.005, 40, 9.0),    # fastest, outside a 1.5 pp budget
            _row("tflite", 0.90, 0.010, 40, 9.0),
            {"target": "–", "status": "failed", "reason": "boom"}]
    assert pareto_front(rows) == {"cpu": [0, 1, 3], "tflite": [4]}
    assert recommended(rows, 1.5) == {"cpu": 1, "tflite": None}
    assert recommended(rows, 10.0) == {"cpu": 3, "tflite": 4}


def test_a_dry_run_splits_builds_and_timed_measurements_over_nodes(tmp_path):
    raw = {"targets": {"run": ["cpu", "tflite"]},
           "compression": {"variants": ["int8-static", "pruned"]},
           "space": {"compression": {"prune_sparsity": [0.1 * i for i in range(5)],
                                     "calibration_samples": [16, 32, 64, 128]},
                     "latency": {"threads": [1, 2, 4]}}}
    plan = dry_run(parse_sweep(raw), tmp_path / "out", cluster=(3, 16))
    assert plan["swept"]["latency.threads"] == 3
    assert plan["points"] == plan["to_run"] == 60
    assert plan["build_slots"] == 48 and plan["build_waves"] == 2
    assert [n["points"] for n in plan["nodes"]] == [20, 20, 20]
    assert [n["timed_measurements"] for n in plan["nodes"]] == [20, 20, 20]
    assert plan["rows_per_point_at_most"] == 6
