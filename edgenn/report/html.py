"""report.html: the comparison table and every figure in one self-contained file.

Images are embedded as base64 PNG data URIs and the CSS is inline; a Content-Security-
Policy forbids any other source, so the page opens the same offline, from an e-mail or
a CI artifact. A small inline script records, after load, what the browser decoded and
laid out (`data-*` on <body>, see html_style.py), which the headless-browser tests read.

Page order: the verdict first (accuracy budget, recommended variant per target), then the
comparison table (html_table.py), notes, figures (plots.py) and confusion matrices
(confusion_html.py). Targets have one colour everywhere (palette.py).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgenn.core import write_text_atomic
from edgenn.core.results import Report
from edgenn.report import spiking
from edgenn.report.confusion_html import confusion_section
from edgenn.report.html_style import CSS, SCRIPT
from edgenn.report.html_table import table_section, verdict_section
from edgenn.report.layers import layers_section
from edgenn.report.palette import target_color
from edgenn.report.plots import Plot, report_plots
from edgenn.report.table import notes, settings_line

HTML_NAME = "report.html"


def write_html(report: Report, out_dir: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `out_dir/report.html` atomically and return its path.

    `extra` carries what is not in the report itself, e.g. {"confusion_matrix":
    [[...]], "class_names": [...]} of the reference model (rows = true class).
    """
    page = render_html(report, report_plots(report), extra)
    return write_text_atomic(Path(out_dir) / HTML_NAME, page)


def render_html(report: Report, plots: list[Plot],
                extra: Mapping[str, Any] | None = None) -> str:
    """The whole page as a string (no file access); `extra` as for `write_html`."""
    script = f"\n{SCRIPT}\n"  # the CSP hash covers the exact text between the tags
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
        f"<style>\n{CSS}\n</style>",
        "</head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(_subtitle(report))}</p>',
        verdict_section(report),
        table_section(report),
        _notes_section(report),
        spiking.html_section(report),
        _figures_section(plots, {row.target for row in report.rows}),
        confusion_section(report, extra),
        layers_section(report),
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


def _notes_section(report: Report) -> str:
    below = notes(report)
    if not below:
        return ""
    items = "".join(f"<li><strong>{_e(label)}</strong> ({_e(kind)}): {_e(text)}</li>"
                    for label, kind, text in below)
    return (f'<section class="card" id="notes"><h2>Notes</h2><ul class="notes">{items}</ul>'
            "</section>")


def _figures_section(plots: list[Plot], targets: set[str]) -> str:
    if not plots:
        return ""
    figures = []
    for plot in plots:
        data = base64.b64encode(plot.png).decode("ascii")
        figures.append(
            f'<section class="card" id="plot-{_e(plot.key)}"><h2>{_e(plot.title)}</h2>'
            f'<figure><img alt="{_e(plot.title)}" src="data:image/png;base64,{data}">'
            f"{_colour_key(plot, targets)}"
            f"<figcaption>{_e(plot.caption)}</figcaption></figure></section>")
    return '<div class="grid">\n' + "\n".join(figures) + "\n</div>"


def _colour_key(plot: Plot, targets: set[str]) -> str:
    """The figure's target colours again as page text: readable where the image has
    shrunk to a phone's width."""
    shown = [entry for entry in plot.legend if entry in targets]
    if not shown:
        return ""
    items = "".join(f'<li><span class="swatch" style="background:{target_color(t)}"></span>'
                    f"{_e(t)}</li>" for t in shown)
    return f'<ul class="colour-key" aria-label="target colours">{items}</ul>'


def _footer(report: Report) -> str:
    env: Mapping[str, Any] = report.environment
    if not env:
        return ""
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    cpu = f" ({env['processor']})" if env.get("processor") else ""
    text = (f"Python {env.get('python')} on {env.get('platform')}, {env.get('cpu_count')} "
            f"CPUs{cpu}. {versions}.")
    return f'<footer class="card" id="environment"><h2>Environment</h2>{_e(text)}</footer>'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
