"""Confusion matrices of report.html as HTML tables: one small multiple per measured row.

HTML rather than an image: the cells stay sharp at any width, a phone gets one matrix per
line, each cell's count and share are on hover, and twenty matrices cost kilobytes, not a
figure each. Rows are true classes, columns predictions; a cell is shaded by its share of
the true class — blue on the diagonal (right), red off it (confused), so that a variant's
new mistakes stand out against the reference next to it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from edgenn.core.results import Report
from edgenn.report.palette import target_color
from edgenn.report.plot_data import ConfusionView, confusion_views

NUMBERS_UP_TO = 20  # classes: counts printed in the cells; more, and only shades
CELLS_UP_TO = 50  # classes: a matrix; more, and the most frequent confusions as a list
TOP_CONFUSIONS = 10
_RIGHT, _WRONG = (47, 111, 222), (186, 37, 37)


def confusion_section(report: Report, extra: Mapping[str, Any] | None = None) -> str:
    """The page's confusion-matrix card ("" when there is no matrix to show)."""
    views = confusion_views(report, extra)
    if not views:
        return ""
    per_row = views[0].label != "reference"
    title = "Confusion matrix per variant" if per_row else "Reference model: confusion matrix"
    explain = ("Rows: true class; columns: predicted class. Blue cells are right, red ones "
               "confused, shaded by their share of the true class; hover a cell for its "
               "count." + (" One matrix per measured row, in table order." if per_row else
                           " Predictions of the fp32 reference on the test split."))
    figures = "\n".join(_figure(view) for view in views)
    return (f'<section class="card" id="confusion"><h2>{_e(title)}</h2>'
            f'<p class="legend">{_e(explain)}</p>{_selector(views)}'
            f'<div class="cm-grid">\n{figures}\n</div></section>')


def _selector(views: list[ConfusionView]) -> str:
    """A menu to show one matrix, or all side by side (html_style.SCRIPT wires it; without
    the script every matrix stays shown)."""
    if len(views) < 2:
        return ""
    options = "".join(f'<option value="{_e(v.label)}">{_e(v.label)}</option>' for v in views)
    return ('<p class="cm-pick"><label for="cm-select">Show </label><select id="cm-select">'
            f'<option value="">every variant</option>{options}</select></p>')


def _figure(view: ConfusionView) -> str:
    matrix = view.matrix
    total = float(matrix.sum())
    right = float(np.trace(matrix))
    accuracy = f"accuracy {right / total:.4f}" if total else "no samples"
    errors = int(total - right)
    swatch = (f'<span class="swatch" style="background:{target_color(view.target)}"></span>'
              if view.target else "")
    caption = (f"{swatch}<strong>{_e(view.label)}</strong> <span class=\"reason\">"
               f"{int(total)} samples · {accuracy} · {errors} misclassified</span>")
    size = matrix.shape[0]
    body = _matrix_table(view) if size <= CELLS_UP_TO else _top_confusions(view)
    return (f'<figure class="cm" data-label="{_e(view.label)}">'
            f'<figcaption>{caption}</figcaption><div class="cm-scroll">{body}</div></figure>')


def _matrix_table(view: ConfusionView) -> str:
    matrix, names = view.matrix, view.class_names
    size = matrix.shape[0]
    scale = "cm-small" if size <= 12 else "cm-medium" if size <= NUMBERS_UP_TO else "cm-dense"
    totals = matrix.sum(axis=1)
    header = "".join(f'<th scope="col" title="predicted {_e(n)}">{_e(n)}</th>' for n in names)
    lines = [f'<table class="cm-table {scale}"><thead><tr><th class="cm-corner" '
             f'title="true ↓ / predicted →">true\\pred</th>{header}</tr></thead><tbody>']
    for i, name in enumerate(names):
        cells = []
        for j in range(size):
            value = matrix[i, j]
            share = value / totals[i] if totals[i] else 0.0
            cells.append(_cell(value, share, i == j, size, names[i], names[j]))
        lines.append(f'<tr><th scope="row">{_e(name)}</th>{"".join(cells)}</tr>')
    lines.append("</tbody></table>")
    return "".join(lines)


def _cell(value: float, share: float, diagonal: bool, size: int, true: str,
          predicted: str) -> str:
    if not value:  # most cells: kept bare, so that many variants stay a small page
        return "<td></td>"
    # Off-diagonal shares are small; tripled so that a 10 % confusion is clearly red.
    alpha = min(1.0, share if diagonal else 3 * share)
    red, green, blue = _RIGHT if diagonal else _WRONG
    style = f"background:rgba({red},{green},{blue},{alpha:.2f})"
    if alpha > 0.55:
        style += ";color:#fff"
    if size > NUMBERS_UP_TO:  # shades only: no number, no per-cell hover text
        return f'<td style="{style}"></td>'
    title = f"true {true}, predicted {predicted}: {value:g} ({share:.1%} of class {true})"
    return f'<td style="{style}" title="{_e(title)}">{value:g}</td>'


def _top_confusions(view: ConfusionView) -> str:
    """For many classes: the most frequent (true → predicted) confusions, as a list."""
    matrix = view.matrix.copy()
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None)[::-1][:TOP_CONFUSIONS]
    items = []
    for flat in order:
        i, j = np.unravel_index(flat, matrix.shape)
        if matrix[i, j] <= 0:
            break
        items.append(f"<li>{_e(view.class_names[i])} → {_e(view.class_names[j])}: "
                     f"{matrix[i, j]:g}</li>")
    listed = "".join(items) or "<li>no confusions</li>"
    return (f'<p class="reason">{matrix.shape[0]} classes: too many for a readable matrix; '
            f"the most frequent confusions (true → predicted):</p><ol>{listed}</ol>")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
