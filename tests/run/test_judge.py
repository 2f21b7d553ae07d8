"""Verdicts on measured rows: the budget on every row (every target), figures relative to
the same target's fp32 row, noise-aware latency, the recommended variant per target."""

from __future__ import annotations

import pytest

from edgenn.core.results import Measurement, Report, latency_separated
from edgenn.report.table import COLUMNS, columns_for, notes, render_markdown, row_cells
from edgenn.run.judge import judge_budget, latency_notes, recommend, relative_to_baseline


def _row(target, variant, accuracy=0.98, p50=1.0, spread=0.02, size=1000, agree=None):
    return Measurement(target, variant, accuracy=accuracy, top1_agreement=agree,
                       size_bytes=size,
                       latency_ms={"p50": p50, "p50_ci95_low": p50 * (1 - spread),
                                   "p50_ci95_high": p50 * (1 + spread)})


def test_latency_separated_needs_intervals_apart():
    a, b = _row("cpu", "a", p50=1.0).latency_ms, _row("cpu", "b", p50=1.1).latency_ms
    assert latency_separated(a, b) and latency_separated(b, a)
    wide = _row("cpu", "c", p50=1.1, spread=0.2).latency_ms
    assert not latency_separated(a, wide)
    assert not latency_separated({"p50": 1.0}, {"p50": 9.0})  # no intervals, no verdict


def test_every_row_of_every_target_is_judged_against_the_budget():
    # the case: a pruned variant losing 5.57 pp must not stay "ok" under 0.5 pp
    rows = [_row("cpu", "fp32", 0.98), _row("cpu", "pruned", 0.9243),
            _row("tflite", "int8-dynamic", 0.97), _row("snn-fast", "fp32", 0.978),
            Measurement("gpu", "–", status="skipped", reason="no GPU")]
    rows[1].extra["budget"] = {"met": True, "drop_pp": 0.1, "max_drop_pp": 0.5,
                               "split": "validation", "kept_in_float": []}
    verdict = judge_budget(rows, 0.98, max_drop_pp=0.5, tolerance_pp=1.0)
    assert verdict["met"] is False
    assert verdict["rows_over"] == ["cpu-pruned", "tflite-int8-dynamic"]
    assert "cpu-pruned −5.57 pp" in verdict["message"]
    pruned = rows[1].extra["budget"]
    assert pruned["met"] is False and pruned["split"] == "test"
    assert pruned["validation"]["drop_pp"] == 0.1  # the compression pass's record is kept
    assert row_cells(rows[1])[2] == "over budget −5.6 pp"
    assert rows[3].extra["budget"]["met"] is True and row_cells(rows[3])[2] == "ok"
    assert "budget" not in rows[4].extra  # a skipped row is not judged
    assert notes(Report(rows=rows))[0][:2] == ("cpu-pruned", "warning")


def test_without_a_budget_losses_beyond_the_tolerance_are_warnings_only():
    rows = [_row("cpu", "fp32", 0.95), _row("cpu", "int8-static", 0.90)]
    assert judge_budget(rows, 0.955, max_drop_pp=None, tolerance_pp=1.0) is None
    assert "warning" not in rows[0].extra and rows[1].extra["accuracy_drop_pp"] == 5.5
    assert row_cells(rows[1])[2] == "ok ⚠ −5.5 pp" and "budget" not in rows[1].extra


def test_unlabelled_rows_are_judged_by_agreement():
    rows = [_row("cpu", "fp32", None, agree=1.0), _row("cpu", "int8-static", None, agree=0.9)]
    verdict = judge_budget(rows, None, max_drop_pp=2.0, tolerance_pp=1.0)
    assert verdict["rows_over"] == ["cpu-int8-static"]
    assert "top-1 agreement" in rows[1].extra["warning"]


def test_relative_columns_are_against_the_fp32_row_of_the_same_target():
    rows = [_row("cpu", "fp32", 0.98, p50=2.0, size=4000),
            _row("cpu", "int8-static", 0.975, p50=1.0, size=1000),
            _row("cpu", "fp16", 0.98, p50=1.98, size=2000, spread=0.05),
            _row("tflite", "fp32", 0.97, p50=4.0, size=4000),
            _row("tflite", "int8-static", 0.97, p50=1.0, size=1000),
            _row("snn-fast", "T64", 0.97, p50=9.0)]
    relative_to_baseline(rows)
    int8 = rows[1].extra["relative"]
    assert int8 == {"baseline": "fp32", "accuracy_pp": pytest.approx(-0.5), "speedup": 2.0,
                    "speedup_significant": True, "size_ratio": 0.25}
    assert rows[4].extra["relative"]["speedup"] == 4.0  # tflite against tflite fp32
    fp16 = rows[2].extra["relative"]
    assert fp16["speedup_significant"] is False
    cells = dict(zip(COLUMNS, row_cells(rows[2]), strict=True))
    assert cells["speed-up"] == "≈1.01×" and cells["size ×"] == "0.50×"
    assert dict(zip(COLUMNS, row_cells(rows[1]), strict=True))["speed-up"] == "2.00×"
    assert "relative" not in rows[5].extra  # no fp32 row on that target


def test_notes_quote_the_table_and_only_differences_beyond_noise():
    rows = [_row("cpu", "fp32", p50=0.039), _row("cpu", "int8-static", p50=0.070),
            _row("cpu", "fp16", p50=0.040, spread=0.1)]
    latency_notes(rows)
    assert "1.79× slower than cpu fp32" in rows[1].extra["note"]
    assert "0.070 ms vs 0.039 ms" in rows[1].extra["note"]
    assert "note" not in rows[2].extra  # 3 % slower but within noise


def test_recommendation_is_the_fastest_within_the_budget_ties_broken_by_accuracy():
    rows = [_row("cpu", "fp32", 0.98, p50=2.0), _row("cpu", "int8-static", 0.975, p50=1.0),
            _row("cpu", "pruned-int8", 0.90, p50=0.5),
            _row("cpu", "int8-dynamic", 0.98, p50=1.01, spread=0.05),
            _row("tflite", "fp32", 0.98, p50=3.0)]
    verdict = judge_budget(rows, 0.98, max_drop_pp=1.0, tolerance_pp=1.0)
    picks = recommend(rows, verdict)
    # pruned-int8 is fastest but over budget; int8-static and int8-dynamic tie within
    # noise, and int8-dynamic is more accurate
    assert picks["cpu"]["variant"] == "int8-dynamic"
    assert "within noise" in picks["cpu"]["reason"]
    assert picks["tflite"]["variant"] == "fp32"
    report = Report(rows=rows, extra={"recommended": picks, "budget": verdict})
    text = render_markdown(report)
    assert "## Recommended per target" in text and "- cpu: int8-dynamic" in text
    assert "Accuracy budget not met" in text


def test_the_table_fits_the_width_and_wide_keeps_every_column():
    rows = [_row("ort-mobile", "pruned-int8", 0.98, p50=123.456, size=123456789)]
    rows[0].extra.update(energy_uj=1.234, relative={"speedup": 2.5,
                                                    "speedup_significant": True})
    report = Report(rows=rows)
    assert columns_for(report, None, wide=True) == list(range(len(COLUMNS)))
    keep = columns_for(report, 100)
    assert len(keep) < len(COLUMNS) and COLUMNS.index("p50 ms") in keep
    from rich.console import Console

    from edgenn.report.table import rich_table

    console = Console(width=100, record=True, file=open("/dev/null", "w"))
    console.print(rich_table(report, 100))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any("pruned-int8" in line and "123.456" in line for line in lines)  # one line


def test_the_pytorch_reference_is_not_recommended():
    rows = [_row("pytorch", "fp32", p50=0.2), _row("cpu", "fp32", p50=0.1)]
    assert list(recommend(rows, None)) == ["cpu"]
