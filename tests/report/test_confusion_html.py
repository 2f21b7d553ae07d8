"""Confusion matrices in report.html: one per measured row that carries one, in table
order, each with its own counts; the report-level reference matrix when no row has one;
shades only, then a list of the top confusions, as the class count grows."""

from __future__ import annotations

import re

import numpy as np

from edgenn.core.results import Report
from edgenn.report.confusion_html import confusion_section
from edgenn.report.html import render_html
from edgenn.report.plot_data import confusion_views


def _figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'<figure class="cm" data-label="([^"]+)">(.*?)</figure>', page))


def test_one_matrix_per_measured_row(verdict_report):
    page = render_html(verdict_report, [])  # the figures are tested elsewhere
    figures = _figures(page)
    measured = [r.label for r in verdict_report.rows if r.status == "ok"]
    assert list(figures) == measured  # skipped and failed rows have none
    assert "Confusion matrix per variant" in page
    # Each matrix is its own row's: cpu-int8-static (third measured row) confused 2 → 3.
    cpu_int8 = figures["cpu-int8-static"]
    assert 'title="true 2, predicted 3: 2 (5.4% of class 2)"' in cpu_int8
    assert "predicted 3: 2 " not in figures["cpu-fp32"]
    assert "352 samples · accuracy 0.9943 · 2 misclassified" in cpu_int8
    assert f'style="background:{"#1f77b4"}"' in cpu_int8  # the target's swatch


def test_reference_matrix_when_no_row_has_one(make_row):
    report = Report(rows=[make_row("cpu", "fp32", 0.9, 0.1, 10)],
                    extra={"confusion_matrix": [[5, 1], [0, 6]], "class_names": ["a", "b"]})
    views = confusion_views(report)
    assert [(v.label, v.class_names) for v in views] == [("reference", ["a", "b"])]
    section = confusion_section(report)
    assert "Reference model: confusion matrix" in section
    assert 'title="true a, predicted b: 1 (16.7% of class a)"' in section
    # A row's own matrix wins over the report-level one; malformed ones are skipped.
    report.rows[0].extra["confusion_matrix"] = [[4, 0], [1, 5]]
    report.rows.append(make_row("tflite", "fp32", 0.9, 0.1, 10, confusion_matrix=[1, 2]))
    assert [v.label for v in confusion_views(report)] == ["cpu-fp32"]
    assert confusion_section(Report()) == ""


def test_many_classes_shade_then_list(make_row):
    rng = np.random.default_rng(0)
    thirty = (np.eye(30) * 20 + rng.integers(0, 2, (30, 30))).astype(int).tolist()
    report = Report(rows=[make_row("cpu", "fp32", 0.9, 0.1, 10, confusion_matrix=thirty)])
    section = confusion_section(report)
    assert "cm-dense" in section and section.count("<td") == 900
    assert re.search(r"<td [^>]*>\d", section) is None  # too many classes for numbers
    big = np.eye(100, dtype=int) * 9
    big[7, 3], big[50, 51] = 4, 2
    report.rows[0].extra["confusion_matrix"] = big.tolist()
    section = confusion_section(report)
    assert "<td" not in section
    assert "<li>7 → 3: 4</li><li>50 → 51: 2</li></ol>" in section


def test_many_variants_of_many_classes_stay_a_small_page(make_row):
    # 17 rows × 50 classes (the default run's row count at the largest matrix size).
    rng = np.random.default_rng(0)
    rows = []
    for index in range(17):
        matrix = np.eye(50, dtype=int) * 30 + (rng.random((50, 50)) < 0.05)
        rows.append(make_row("cpu", f"v{index}", 0.9, 0.1, 10,
                             confusion_matrix=matrix.astype(int).tolist()))
    section = confusion_section(Report(rows=rows))
    assert section.count('<figure class="cm"') == 17
    assert len(section.encode()) < 1_500_000
