"""report.html's verdicts: the change against the same target's fp32 row (Δ accuracy,
speed-up with "≈" inside the noise, size ratio), energy, the over-budget badge, the
recommended variant per target and the budget banner above the table — shown when the
report carries them, left out (never an empty column) when it does not."""

from __future__ import annotations

import re

from edgenn.report.html import render_html
from edgenn.report.html_table import columns_for


def _cells(page: str, parse_page) -> dict[tuple[str, str], dict[str, str]]:
    """{(row label, column name): cell text} of the comparison table."""
    rows = re.findall(r'<tr class="[^"]*" data-target="([^"]+)" data-variant="([^"]+)"'
                      r"[^>]*>(.*?)</tr>", page)
    cells = {}
    for target, variant, inner in rows:
        for label, title, content in re.findall(
                r'<td class="[^"]*" data-label="([^"]+)"(?: title="([^"]*)")?><span>(.*?)'
                r"</span></td>", inner):
            text = re.sub(r"<[^>]+>", "", content).strip()
            cells[(f"{target}-{variant}", label)] = {"text": text, "title": title,
                                                     "html": content}
    return cells


def test_relative_columns_energy_and_noise(verdict_report, parse_page):
    page = render_html(verdict_report, [])  # the figures are tested elsewhere
    cells = _cells(page, parse_page)
    names = [c.name for c in columns_for(verdict_report)]
    assert names.index("Δ acc pp") == names.index("accuracy") + 1
    assert {"speed-up", "size ×", "energy µJ"} <= set(names)
    assert cells[("cpu-int8-static", "Δ acc pp")]["text"] == "−0.28"
    assert cells[("cpu-fp32", "Δ acc pp")]["text"] == "+0.00"  # never "−0.00"
    assert cells[("cpu-int8-static", "speed-up")]["text"] == "1.33×"
    assert cells[("cpu-fp32", "speed-up")]["text"] == "1.00×"
    # Intervals overlap: not a real difference, and the cell says so.
    assert cells[("cpu-fp16", "speed-up")]["text"] == "≈0.53×"
    assert "within the noise" in cells[("cpu-fp16", "speed-up")]["title"]
    assert cells[("cpu-int8-static", "size ×")]["text"] == "0.29×"
    assert cells[("cpu-int8-static", "energy µJ")]["text"] == "2.5"
    assert cells[("cpu-int8-static", "energy µJ")]["title"] == "45 nm: 4.6 pJ per MAC (fp32)"
    assert cells[("gpu-fp32", "speed-up")]["text"] == "–"  # skipped rows have none


def test_over_budget_rows_are_badged(verdict_report, parse_page):
    page = render_html(verdict_report, [])
    cells = _cells(page, parse_page)
    over = {r.label for r in verdict_report.rows
            if r.extra.get("budget", {}).get("met") is False}
    assert over == {"cpu-int8-static", "tflite-int8-static", "snn-fast-fp32",
                    "snn-brian2-fp32"}
    for row in verdict_report.rows:
        status = cells[(row.label, "status")]["html"]
        assert ("over budget" in status) == (row.label in over), row.label
    assert 'title="loses 0.28 pp, budget 0.2 pp (on the test split)"' in page
    classes = {(r["data-target"], r["data-variant"]): r["class"]
               for r in parse_page(page).body_rows}
    assert "over-budget" in classes[("cpu", "int8-static")]
    assert "over-budget" not in classes[("cpu", "fp32")]


def test_recommendations_and_budget_come_first(verdict_report):
    page = render_html(verdict_report, [])
    verdict, table = page.index('id="verdict"'), page.index('id="comparison"')
    assert verdict < table
    top = page[verdict:table]
    assert "Recommended per target" in top
    assert re.search(r'<li data-target="cpu">.*?<strong>cpu</strong>: <span class="rec-variant">'
                     r"int8-static</span> <span class=\"reason\">fastest within the 0.2 pp "
                     r"budget</span></li>", top)
    assert "Accuracy budget (0.2 pp) not met:" in top and "4 rows lose more than 0.2 pp" in top
    assert "Over budget: cpu-int8-static, tflite-int8-static, snn-fast-fp32" in top
    # The recommended row is marked in the table too, on its own target only.
    assert page.count('class="badge rec"') == 2


def test_budget_met_banner(verdict_report):
    verdict_report.extra["budget"] = {"max_drop_pp": 5.0, "met": True, "rows_over": [],
                                      "message": ""}
    page = render_html(verdict_report, [])
    assert "Accuracy budget met: every row judged loses at most 5.0 pp" in page


def test_absent_fields_leave_no_trace(sample_report):
    names = [c.name for c in columns_for(sample_report)]
    assert not {"Δ acc pp", "speed-up", "size ×", "energy µJ"} & set(names)
    page = render_html(sample_report, [])
    assert 'id="verdict"' not in page and "over budget" not in page
    assert "Recommended per target" not in page
    # Half-filled or malformed fields are tolerated, never a crash.
    sample_report.rows[1].extra.update(relative={"speedup": 2.0}, budget="?", energy_uj="x")
    sample_report.extra.update(recommended={"cpu": "int8"}, budget={"met": False})
    page = render_html(sample_report, [])
    assert "2.00×" in page and "the accuracy budget was not met" in page


def test_accuracy_warning_without_a_budget_is_badged(sample_report, parse_page):
    sample_report.rows[2].extra.update(accuracy_drop_pp=1.11, warning="loses 1.11 pp")
    cells = _cells(render_html(sample_report, []), parse_page)
    status = cells[("cpu-int8-static", "status")]["html"]
    assert '<span class="badge warn" title="loses 1.11 pp">⚠ −1.1 pp</span>' in status
    assert "badge warn" not in cells[("cpu-fp32", "status")]["html"]
