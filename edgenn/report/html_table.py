"""The comparison table of report.html, and the verdicts shown above it: the recommended
variant per target and the accuracy budget.

The page has room the terminal has not, so its columns are its own: every measured figure,
plus — when the report carries them — the change against the fp32 row of the same target
(Δ accuracy, speed-up, size ratio) and the energy estimate. An optional column that no row
fills is left out. Every cell carries `data-label` (its column's name): on a phone the
rows become cards, each cell printed beside its label, so no column is ever cut off.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgenn.core.results import Measurement, Report
from edgenn.report.palette import target_color
from edgenn.report.plot_data import pareto_rows
from edgenn.report.table import human_bytes, no_variant_headline

MINUS = "−"  # U+2212, as in the terminal table


@dataclass(frozen=True)
class Column:
    """One column: its header, whether it holds text (left-aligned), whether it is left
    out when no row has a value, and the cell of a row as (text, hover title)."""

    name: str
    cell: Callable[[Measurement], tuple[str, str]]
    text: bool = False
    optional: bool = False


def _number(value: Any, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def _relative(row: Measurement) -> Mapping[str, Any]:
    relative = row.extra.get("relative")
    return relative if isinstance(relative, Mapping) else {}


def _delta_pp(row: Measurement) -> tuple[str, str]:
    relative = _relative(row)
    value = relative.get("accuracy_pp")
    if value is None:
        return "–", ""
    text = f"{round(value, 2) + 0.0:+.2f}".replace("-", MINUS)  # + 0.0: no "−0.00"
    return text, f"accuracy change against {relative.get('baseline', 'fp32')} of this target"


def _speedup(row: Measurement) -> tuple[str, str]:
    relative = _relative(row)
    value = relative.get("speedup")
    if value is None:
        return "–", ""
    baseline = relative.get("baseline", "fp32")
    if relative.get("speedup_significant", True) or abs(value - 1.0) < 5e-5:  # the fp32 row
        return f"{value:.2f}×", f"p50 of {baseline} / p50 of this row (a real difference)"
    return (f"≈{value:.2f}×", f"p50 of {baseline} / p50 of this row: within the noise (the "
            "confidence intervals overlap), not a real difference")


def _size_ratio(row: Measurement) -> tuple[str, str]:
    relative = _relative(row)
    value = relative.get("size_ratio")
    if value is None:
        return "–", ""
    return f"{value:.2f}×", f"size / size of {relative.get('baseline', 'fp32')}"


def _energy(row: Measurement) -> tuple[str, str]:
    value = row.extra.get("energy_uj")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–", ""
    return f"{value:.3g}", str(row.extra.get("energy_basis") or "")


def _p50(row: Measurement) -> tuple[str, str]:
    lat = row.latency_ms
    low, high = lat.get("p50_ci95_low"), lat.get("p50_ci95_high")
    title = f"95 % CI {low:.3f} – {high:.3f} ms" if low is not None and high is not None else ""
    return _number(lat.get("p50"), "{:.3f}"), title


def _plain(get: Callable[[Measurement], Any], pattern: str
           ) -> Callable[[Measurement], tuple[str, str]]:
    return lambda row: (_number(get(row), pattern), "")


COLUMNS: tuple[Column, ...] = (
    Column("target", lambda r: (r.target, ""), text=True),
    Column("variant", lambda r: (r.variant, ""), text=True),
    Column("status", lambda r: (r.status, r.reason), text=True),
    Column("accuracy", _plain(lambda r: r.accuracy, "{:.4f}")),
    Column("Δ acc pp", _delta_pp, optional=True),
    Column("agree", _plain(lambda r: r.top1_agreement, "{:.2%}")),
    Column("max err", _plain(lambda r: r.max_abs_error, "{:.2g}")),
    Column("p50 ms", _p50),
    Column("speed-up", _speedup, optional=True),
    Column("p90 ms", _plain(lambda r: r.latency_ms.get("p90"), "{:.3f}")),
    Column("p99 ms", _plain(lambda r: r.latency_ms.get("p99"), "{:.3f}")),
    Column("size", lambda r: (human_bytes(r.size_bytes), "")),
    Column("size ×", _size_ratio, optional=True),
    Column("energy µJ", _energy, optional=True),
    Column("peak MB", _plain(lambda r: r.peak_rss_mb, "{:.0f}")),
)

LEGEND = ("<span class=\"star\">★</span> on the accuracy–latency Pareto front. Latency: "
          "<code>run()</code> alone after warm-up, ms per batch (95 % confidence interval of "
          "p50 on hover); accuracy: top-1 on the test split; agree: top-1 match rate with the "
          "PyTorch fp32 reference; size: every file the artifact needs; peak MB: peak resident "
          "memory of the process that measured the row. Δ acc pp, speed-up and size × compare "
          "a row with the fp32 row of the same target; “≈” marks a speed-up within the noise "
          "(confidence intervals overlap). energy µJ: estimate per inference (its basis on "
          "hover). The colour beside a target is its colour in every figure.")


def columns_for(report: Report) -> list[Column]:
    """The columns this report fills: every core column, optional ones some row fills."""
    return [c for c in COLUMNS if not c.optional
            or any(c.cell(row)[0] != "–" for row in report.rows)]


def table_section(report: Report) -> str:
    """The comparison card: the table (cards on a phone) and its legend."""
    columns = columns_for(report)
    front = {id(row) for row, on in pareto_rows(report) if on}
    recommended = _recommended_variants(report)
    header = "".join(f'<th class="{"text" if c.text else "num"}" scope="col">{_e(c.name)}</th>'
                     for c in columns)
    body = "\n".join(_device_heading(row, len(columns)) if isinstance(row, str) else
                     _row(row, columns, id(row) in front,
                          recommended.get(row.target) == row.variant)
                     for row in _grouped_by_device(report))
    if not report.rows:
        body = f'<tr><td class="text" colspan="{len(columns)}">no rows measured</td></tr>'
    return (f'<section class="card" id="comparison"><h2>Comparison</h2><div class="scroll">'
            f'<table id="comparison-table"><thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n'
            f'</tbody></table></div><p class="legend">{LEGEND}</p></section>')


def _grouped_by_device(report: Report) -> list[Measurement | str]:
    """This machine's rows, then each device's rows (`--device`) under a line that says
    what the device is (its row's `extra["device"]`)."""
    groups: dict[str | None, list[Measurement]] = {}
    for row in report.rows:
        device = row.extra.get("device")
        name = str(device.get("name")) if isinstance(device, Mapping) else None
        groups.setdefault(name, []).append(row)
    ordered: list[Measurement | str] = list(groups.pop(None, []))
    for name, rows in groups.items():
        facts = max((r.extra["device"] for r in rows), key=len)  # a failed row knows less
        described = " · ".join(str(facts[k]) for k in ("arch", "system", "cpu") if facts.get(k))
        cores = f" · {facts['cores']} cores" if facts.get("cores") else ""
        ordered += [f"measured on device {name}" + (f" ({described}{cores})"
                                                    if described else ""), *rows]
    return ordered


def _device_heading(text: str, width: int) -> str:
    return (f'<tr class="device-group"><th class="text" colspan="{width}" scope="rowgroup">'
            f'{_e(text)}</th></tr>')


def _row(row: Measurement, columns: list[Column], on_front: bool, recommended: bool) -> str:
    rendered = []
    for column in columns:
        text, title = column.cell(row)
        content = _e(text)
        classes = ["text" if column.text else "num"]
        if column.name == "target":
            swatch = f'<span class="swatch" style="background:{target_color(row.target)}"></span>'
            star = ('<span class="star" title="on the Pareto front">★</span> '
                    if on_front else "")
            content = f"{star}{swatch}{content}"
        elif column.name == "status":
            classes.append("status")
            content = _status(row, recommended)
            title = ""
        elif column.name == "speed-up" and text.startswith("≈"):
            classes.append("noise")
        attributes = f' class="{" ".join(classes)}" data-label="{_e(column.name)}"'
        if title:
            attributes += f' title="{_e(title)}"'
        rendered.append(f"<td{attributes}><span>{content}</span></td>")  # one flex item
    over = _over_budget(row)
    classes = " ".join(c for c in (_e(row.status), "front" if on_front else "",
                                   "over-budget" if over else "") if c)
    return (f'<tr class="{classes}" data-target="{_e(row.target)}" '
            f'data-variant="{_e(row.variant)}" style="--target-color:'
            f'{target_color(row.target)}">{"".join(rendered)}</tr>')


def _status(row: Measurement, recommended: bool) -> str:
    content = f'<span class="badge {_e(row.status)}">{_e(row.status)}</span>'
    if recommended:
        content += (' <span class="badge rec" title="recommended for this target: the '
                    'fastest variant within the budget">recommended</span>')
    budget = row.extra.get("budget")
    drop = row.extra.get("accuracy_drop_pp")
    if isinstance(drop, (int, float)) and not _over_budget(row):  # as the terminal's "⚠"
        warning = str(row.extra.get("warning") or "loses accuracy against the reference")
        content += (f' <span class="badge warn" title="{_e(warning)}">⚠ {MINUS}{drop:.1f} pp'
                    "</span>")
    if _over_budget(row):
        drop, limit = budget.get("drop_pp"), budget.get("max_drop_pp")
        detail = (f"loses {drop:.2f} pp, budget {limit} pp"
                  if isinstance(drop, (int, float)) and limit is not None
                  else "breaks the accuracy budget")
        split = budget.get("split")
        detail += f" (on the {split} split)" if split else ""
        content += f' <span class="badge over" title="{_e(detail)}">over budget</span>'
    if row.reason:
        content += f'<span class="reason">{_e(row.reason)}</span>'
    return content


def _over_budget(row: Measurement) -> bool:
    budget = row.extra.get("budget")
    return isinstance(budget, Mapping) and budget.get("met") is False


def _recommended_variants(report: Report) -> dict[str, str]:
    recommended = report.extra.get("recommended")
    if not isinstance(recommended, Mapping):
        return {}
    return {str(target): str(choice.get("variant")) for target, choice in recommended.items()
            if isinstance(choice, Mapping) and choice.get("variant")}


def verdict_section(report: Report) -> str:
    """The answer first: the accuracy budget's verdict and the recommended variant per
    target ("" when the report has neither)."""
    headline = no_variant_headline(report)
    parts = [f'<p class="banner over" id="no-variant"><strong>{_e(headline)}</strong></p>'
             if headline else "",
             _budget_banner(report.extra.get("budget")), _recommended_list(report)]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return f'<section class="card" id="verdict">{"".join(parts)}</section>'


def _budget_banner(budget: Any) -> str:
    if not isinstance(budget, Mapping) or "met" not in budget:
        return ""
    limit = budget.get("max_drop_pp")
    limit_text = f"{limit} pp" if limit is not None else "none"
    if budget.get("met"):
        return (f'<p class="banner ok" id="budget">Accuracy budget met: every row judged '
                f"loses at most {_e(limit_text)} against its reference.</p>")
    over = [str(label) for label in budget.get("rows_over") or []]
    message = str(budget.get("message") or "the accuracy budget was not met").rstrip(".")
    listed = (f' <span class="rows-over">Over budget: {_e(", ".join(over))}.</span>'
              if over else "")
    return (f'<p class="banner over" id="budget"><strong>Accuracy budget '
            f"({_e(limit_text)}) not met:</strong> {_e(message)}.{listed}</p>")


def _recommended_list(report: Report) -> str:
    recommended = report.extra.get("recommended")
    if not isinstance(recommended, Mapping) or not recommended:
        return ""
    items = []
    for target, choice in recommended.items():
        if not isinstance(choice, Mapping):
            continue
        swatch = f'<span class="swatch" style="background:{target_color(str(target))}"></span>'
        variant = choice.get("variant") or "none"
        reason = choice.get("reason") or ""
        items.append(f'<li data-target="{_e(target)}">{swatch}<strong>{_e(target)}</strong>: '
                     f'<span class="rec-variant">{_e(variant)}</span>'
                     + (f' <span class="reason">{_e(reason)}</span>' if reason else "")
                     + "</li>")
    if not items:
        return ""
    return (f'<h2>Recommended per target</h2><ul class="recommended" id="recommended">'
            f'{"".join(items)}</ul>')


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
