"""The spiking rows' accuracy over (weight bits × timesteps): T read as an activation
bit-width, beside the ANN rows that share the calibration.

A rate over T timesteps takes T + 1 levels of each population's full scale λ (≈ log2 T
bits); the spiking thresholds and static int8 read one calibration table, so int8's 256
levels span the same λ. The ANN column puts the ONNX Runtime rows of the same model
beside the table: fp32 beside full-precision weights, static int8 (8-bit weights and
8-bit activations) beside 8-bit weights.

From `row.extra["bits_by_timesteps"]` (targets/snn/hardware.py `accuracy_by_bits`); one
table per model variant, from the spiking row that simulated the most timesteps.
"""

from __future__ import annotations

import html
import math
from typing import Any

from edgenn.core.results import Measurement, Report

ANN_TARGET = "cpu"
_INT8 = {"fp32": "int8-static", "pruned": "pruned-int8"}


def bits_tables(report: Report) -> list[tuple[Measurement, dict[str, Any]]]:
    """(row, table) per variant: the row whose table reaches the largest T."""
    chosen: dict[str, tuple[Measurement, dict[str, Any]]] = {}
    for row in report.rows:
        table = row.extra.get("bits_by_timesteps")
        if row.status != "ok" or not isinstance(table, dict) or not table.get("rows"):
            continue
        best = chosen.get(row.variant)
        if best is None or max(table["timesteps"]) > max(best[1]["timesteps"]):
            chosen[row.variant] = (row, table)
    return list(chosen.values())


def header(table: dict[str, Any], joint: str = " ") -> list[str]:
    return ["weights", *(f"T={t}{joint}(≈{int(math.log2(t))} b)" if t > 1 else f"T={t}"
                         for t in table["timesteps"]), "ANN (ORT)"]


def body(report: Report, row: Measurement, table: dict[str, Any],
         short: bool = False) -> list[list[str]]:
    """The table's rows as text cells: weights, accuracy at each T, the ANN reference."""
    lines = []
    for entry in table["rows"]:
        bits = entry["weight_bits"]
        label = "full" if bits is None else f"{bits}-bit"
        if bits == table.get("this_row"):
            label += " (this row)"
        lines.append([label, *(f"{a:.3f}" for a in entry["accuracy"]),
                      _ann(report, row.variant, bits, short)])
    return lines


def caption(row: Measurement, table: dict[str, Any]) -> str:
    return (f"{row.target} {row.variant}: accuracy after T timesteps ({table.get('coding')} "
            f"coding, {table.get('samples')} test samples); a rate over T steps resolves "
            "≈ log2 T bits of the same full scale that int8 divides into 256 levels (one "
            "calibration). ANN (ORT): the cpu rows of the same model — fp32 beside full "
            "weights, static int8 beside 8-bit.")


def _ann(report: Report, variant: str, bits: int | None, short: bool = False) -> str:
    wanted = variant if bits is None else _INT8.get(variant) if bits == 8 else None
    for row in report.rows:
        if row.target == ANN_TARGET and row.variant == wanted and row.accuracy is not None:
            return f"{row.accuracy:.3f}" if short else f"{row.accuracy:.3f} ({wanted})"
    return "–"


def markdown_lines(report: Report) -> list[str]:
    lines: list[str] = []
    for row, table in bits_tables(report):
        head = header(table)
        lines += ["", f"## Spiking accuracy: weight bits × timesteps ({row.variant})", "",
                  caption(row, table), "",
                  "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body(report, row, table)]
    return lines


def html_section(report: Report) -> str:
    tables = bits_tables(report)
    if not tables:
        return ""
    parts = ['<section class="card"><h2>Spiking accuracy: weight bits × timesteps</h2>']
    for row, table in tables:
        parts.append(f'<p class="legend">{html.escape(caption(row, table))}</p>')
        # class "cards": under 640 px each row is a card, each cell beside its label
        parts.append('<table class="cards"><thead><tr>' + "".join(
            f"<th>{html.escape(h)}</th>" for h in header(table)) + "</tr></thead><tbody>")
        for cells in body(report, row, table):
            parts.append("<tr>" + "".join(
                f'<td data-label="{html.escape(h)}">{html.escape(c)}</td>'
                for h, c in zip(header(table), cells, strict=True)) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "\n".join(parts)


def rich_tables(report: Report) -> list[Any]:
    """The terminal's version: one small rich table per variant."""
    from rich.markup import escape
    from rich.table import Table

    out = []
    for row, table in bits_tables(report):
        int8 = _INT8.get(row.variant, "int8")
        view = Table(title=f"spiking accuracy: weight bits × timesteps ({row.variant}, "
                           f"{row.target})",
                     caption=f"T steps resolve ≈ log2 T bits of the full scale int8 splits "
                             f"into 256; ANN: cpu {row.variant} / cpu {int8}")
        for index, name in enumerate(header(table, joint="\n")):
            view.add_column(escape(name), justify="left" if index == 0 else "right")
        for cells in body(report, row, table, short=True):
            view.add_row(*(escape(c) for c in cells))
        out.append(view)
    return out
