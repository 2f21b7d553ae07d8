"""The spiking (weight bits × timesteps) table in report.md, report.html and the terminal:
one table per variant (the row that reached the largest T), the ANN rows beside it."""

from __future__ import annotations

import io

from edgenn.core.results import Measurement, Report
from edgenn.report.spiking import bits_tables, html_section, markdown_lines, rich_tables


def _table(steps, rows):
    return {"timesteps": steps, "coding": "constant", "samples": 360, "this_row": None,
            "rows": [{"weight_bits": b, "accuracy": a} for b, a in rows]}


def _report() -> Report:
    long = _table([8, 16, 32, 64, 128], [(None, [0.94, 0.989, 0.992, 0.992, 0.992]),
                                         (8, [0.947, 0.986, 0.992, 0.992, 0.989]),
                                         (4, [0.897, 0.981, 0.983, 0.986, 0.986])])
    short = _table([8, 16], [(None, [0.5, 0.6])])
    return Report(rows=[
        Measurement("cpu", "fp32", accuracy=0.9917),
        Measurement("cpu", "int8-static", accuracy=0.9889),
        Measurement("snn-brian2", "fp32", accuracy=0.6, extra={"bits_by_timesteps": short}),
        Measurement("snn-fast", "fp32", accuracy=0.992, extra={"bits_by_timesteps": long}),
        Measurement("snn-fast", "pruned", status="failed", reason="x",
                    extra={"bits_by_timesteps": short}),
    ])


def test_one_table_per_variant_from_the_row_with_the_most_timesteps():
    [(row, table)] = bits_tables(_report())
    assert (row.target, row.variant) == ("snn-fast", "fp32") and table["timesteps"][-1] == 128


def test_markdown_puts_the_ann_rows_beside_full_and_eight_bit_weights():
    text = "\n".join(markdown_lines(_report()))
    assert "| weights | T=8 (≈3 b) | T=16 (≈4 b) | T=32 (≈5 b) | T=64 (≈6 b) | " \
           "T=128 (≈7 b) | ANN (ORT) |" in text
    assert "| full (this row) | 0.940 | 0.989 | 0.992 | 0.992 | 0.992 | 0.992 (fp32) |" in text
    assert "| 8-bit | 0.947 | 0.986 | 0.992 | 0.992 | 0.989 | 0.989 (int8-static) |" in text
    assert "| 4-bit | 0.897 | 0.981 | 0.983 | 0.986 | 0.986 | – |" in text
    assert markdown_lines(Report(rows=[Measurement("cpu", "fp32", accuracy=0.9)])) == []


def test_html_cells_carry_their_column_for_the_phone_layout():
    section = html_section(_report())
    assert section.count("<tr>") == 4  # header + three weight widths
    assert '<td data-label="T=128 (≈7 b)">0.992</td>' in section
    assert html_section(Report(rows=[])) == ""


def test_the_terminal_table_fits_100_columns_with_every_figure():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100)
    for table in rich_tables(_report()):
        console.print(table)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text
    for figure in ("0.940", "0.989", "0.897", "0.986", "0.992", "T=128"):
        assert figure in text
