"""report.html: the comparison table and every figure in one self-contained file.

Images are embedded as base64 PNG data URIs and the CSS is inline; a Content-Security-
Policy forbids any other source, so the page opens the same offline, from an e-mail or
a CI artifact. A small inline script records, after load, how many images the browser
decoded (`data-images-decoded` on <body>), which the headless-browser test reads.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgenn.core import write_text_atomic
from edgenn.core.results import Measurement, Report
from edgenn.report.plots import Plot, pareto_rows, report_plots
from edgenn.report.table import COLUMNS, notes, row_cells, settings_line

HTML_NAME = "report.html"

# Counts decoded images once everything has loaded; the browser test asserts on it.
_SCRIPT = """\
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-decoded", String(decoded.length));
});"""

_CSS = """\
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #2f6fde;
        --ok: #199473; --skip: #b44d12; --fail: #ba2525; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: #f5f7fa; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 0 0 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px;
        padding: 16px 18px; margin-bottom: 18px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
     background: #fafbfc; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
td.status { white-space: normal; max-width: 320px; text-align: left; }
tr:hover td { background: #f0f4fa; }
tr.front td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
.star { color: var(--accent); font-weight: 700; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.skipped { background: var(--skip); }
.badge.failed { background: var(--fail); }
.reason { display: block; color: var(--muted); font-size: 12px; }
tr.skipped td, tr.failed td { color: var(--muted); }
.legend { color: var(--muted); font-size: 12px; margin: 10px 0 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
        gap: 18px; align-items: start; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 8px; }
ul.notes { margin: 0; padding-left: 18px; }
footer { color: var(--muted); font-size: 12px; }
@media print { body { background: #fff; } .card { break-inside: avoid; } }"""


def write_html(report: Report, out_dir: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `out_dir/report.html` atomically and return its path.

    `extra` carries what is not in the report itself, e.g. {"confusion_matrix":
    [[...]], "class_names": [...]} of the reference model (rows = true class).
    """
    page = render_html(report, report_plots(report, extra))
    return write_text_atomic(Path(out_dir) / HTML_NAME, page)


def render_html(report: Report, plots: list[Plot]) -> str:
    """The whole page as a string (no file access)."""
    script = f"\n{_SCRIPT}\n"  # the CSP hash covers the exact text between the tags
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
              f"script-src 'sha256-{digest}'")
    title = _title(report)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(_subtitle(report))}</p>',
        _table_section(report),
        _notes_section(report),
        _figures_section(plots),
        _footer(report),
        "</main>",
        f"<script>{script}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _title(report: Report) -> str:
    model, data = report.settings.get("model"), report.settings.get("data")
    if model and data:
        return f"edgenn report: {Path(str(model)).name} on {Path(str(data)).name}"
    return "edgenn report"


def _subtitle(report: Report) -> str:
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no rows"
    pieces = [f"{len(report.rows)} rows ({summary})", settings_line(report),
              str(report.environment.get("created", ""))]
    return " · ".join(p for p in pieces if p)


def _table_section(report: Report) -> str:
    front = {id(row) for row, on in pareto_rows(report) if on}
    header = "".join(f'<th class="{_align(i)}">{_e(c)}</th>' for i, c in enumerate(COLUMNS))
    body = "\n".join(_table_row(row, id(row) in front) for row in report.rows)
    if not report.rows:
        body = f'<tr><td class="text" colspan="{len(COLUMNS)}">no rows measured</td></tr>'
    legend = ("<span class=\"star\">★</span> on the accuracy–latency Pareto front. Latency: "
              "<code>run()</code> alone after warm-up, ms per batch (95 % confidence interval "
              "of p50 on hover); accuracy: top-1 on the test split; agree: top-1 match rate "
              "with the PyTorch fp32 reference; size: every file the artifact needs; peak MB: "
              "peak resident memory of the process that measured the row.")
    return (f'<section class="card" id="comparison"><h2>Comparison</h2><div class="scroll">'
            f'<table id="comparison-table"><thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n'
            f'</tbody></table></div><p class="legend">{legend}</p></section>')


def _table_row(row: Measurement, on_front: bool) -> str:
    cells = row_cells(row)
    rendered = []
    for index, text in enumerate(cells):
        content = _e(text)
        attributes = f' class="{_align(index)}"'
        if index == 0 and on_front:
            content = f'<span class="star" title="on the Pareto front">★</span> {content}'
        elif index == 2:
            attributes = ' class="status"'
            content = f'<span class="badge {_e(row.status)}">{_e(row.status)}</span>'
            if row.reason:
                content += f'<span class="reason">{_e(row.reason)}</span>'
        elif COLUMNS[index] == "p50 ms" and "p50_ci95_low" in row.latency_ms:
            low, high = row.latency_ms["p50_ci95_low"], row.latency_ms.get("p50_ci95_high")
            if low is not None and high is not None:
                attributes += f' title="95 % CI {low:.3f} – {high:.3f} ms"'
        rendered.append(f"<td{attributes}>{content}</td>")
    classes = " ".join(c for c in (_e(row.status), "front" if on_front else "") if c)
    return (f'<tr class="{classes}" data-target="{_e(row.target)}" '
            f'data-variant="{_e(row.variant)}">{"".join(rendered)}</tr>')


def _notes_section(report: Report) -> str:
    below = notes(report)
    if not below:
        return ""
    items = "".join(f"<li><strong>{_e(label)}</strong> ({_e(kind)}): {_e(text)}</li>"
                    for label, kind, text in below)
    return (f'<section class="card" id="notes"><h2>Notes</h2><ul class="notes">{items}</ul>'
            "</section>")


def _figures_section(plots: list[Plot]) -> str:
    if not plots:
        return ""
    figures = []
    for plot in plots:
        data = base64.b64encode(plot.png).decode("ascii")
        figures.append(
            f'<section class="card" id="plot-{_e(plot.key)}"><h2>{_e(plot.title)}</h2>'
            f'<figure><img alt="{_e(plot.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(plot.caption)}</figcaption></figure></section>")
    return '<div class="grid">\n' + "\n".join(figures) + "\n</div>"


def _footer(report: Report) -> str:
    env: Mapping[str, Any] = report.environment
    if not env:
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    cpu = f" ({env['processor']})" if env.get("processor") else ""
    text = (f"Python {env.get('python')} on {env.get('platform')}, {env.get('cpu_count')} "
            f"CPUs{cpu}. {versions}.")
    return f'<footer class="card" id="environment"><h2>Environment</h2>{_e(text)}</footer>'


def _align(index: int) -> str:
    return "text" if COLUMNS[index] in ("target", "variant", "status") else "num"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
