"""The comparison as a table: the cells of each row, the terminal (rich) and markdown
views, and the reasons and notes printed under them. Every other view builds on these."""

from __future__ import annotations

from edgenn.core.results import Measurement, Report
from edgenn.report import spiking

COLUMNS = ("target", "variant", "status", "accuracy", "Δ acc pp", "agree", "max err", "p50 ms",
           "speed-up", "p90 ms", "p99 ms", "size", "size ×", "peak MB", "energy µJ")
STATUS_WIDTH = 20  # the terminal's status column; longer reasons are listed under the table
# Dropped first when the terminal is narrow (`--wide` keeps every column).
DROP_ORDER = ("p99 ms", "p90 ms", "max err", "size ×", "peak MB", "agree", "energy µJ", "Δ acc pp")
LEGEND = {
    "accuracy": "top-1 on the test split",
    "Δ acc pp": "accuracy change against the fp32 row of the same target, percentage points",
    "agree": "top-1 match rate with the fp32 reference",
    "max err": "largest absolute difference from the reference outputs",
    "p50 ms": "median latency of run() alone after warm-up (95 % interval in report.json)",
    "speed-up": "fp32 p50 of the same target ÷ this p50; ≈ when the 95 % intervals overlap "
                "(not a real difference)",
    "size": "every file the artifact needs",
    "size ×": "size ÷ size of the fp32 row of the same target",
    "peak MB": "peak resident memory of the process that measured the row",
    "energy µJ": "estimated energy per inference (45 nm; operation counts, see report.json)",
}


def row_cells(row: Measurement) -> list[str]:
    """The table cells of one row, as text, one per `COLUMNS` (every view builds on them)."""
    lat = row.latency_ms
    relative = row.extra.get("relative") or {}
    return [
        row.target,
        row.variant,
        _status(row),
        _fmt(row.accuracy, "{:.4f}"),
        _fmt(relative.get("accuracy_pp"), "{:+.2f}"),
        _fmt(row.top1_agreement, "{:.2%}"),
        _fmt(row.max_abs_error, "{:.2g}"),
        _fmt(lat.get("p50"), "{:.3f}"),
        speedup_text(relative),
        _fmt(lat.get("p90"), "{:.3f}"),
        _fmt(lat.get("p99"), "{:.3f}"),
        human_bytes(row.size_bytes),
        _fmt(relative.get("size_ratio"), "{:.2f}×"),
        _fmt(row.peak_rss_mb, "{:.0f}"),
        _fmt(row.extra.get("energy_uj"), "{:.3g}"),
    ]


def speedup_text(relative: dict) -> str:
    """"2.10×" when the difference is beyond noise, "≈1.03×" when it is not."""
    value = relative.get("speedup")
    if value is None:
        return "–"
    if relative.get("speedup_significant") or abs(value - 1.0) < 5e-5:
        return f"{value:.2f}×"
    return f"≈{value:.2f}×"


def columns_for(report: Report, width: int | None, wide: bool = False) -> list[int]:
    """Indexes of the `COLUMNS` that fit in `width` characters (all with `wide`)."""
    keep = list(range(len(COLUMNS)))
    if wide or width is None:
        return keep
    cells = [row_cells(r) for r in report.rows]

    def needed(indexes: list[int]) -> int:  # rich: one border and two spaces per column
        return 1 + sum(3 + max([len(COLUMNS[i]), *(_shown(i, c[i]) for c in cells)])
                       for i in indexes)

    for name in DROP_ORDER:
        if needed(keep) <= width:
            break
        keep.remove(COLUMNS.index(name))
    return keep


def _shown(index: int, cell: str) -> int:
    return min(len(cell), STATUS_WIDTH) if COLUMNS[index] == "status" else len(cell)


def _status(row: Measurement) -> str:
    if row.status != "ok":
        return f"{row.status}: {short_reason(row.reason)}"
    drop = row.extra.get("accuracy_drop_pp")
    if drop is None:
        return "ok"
    budget = row.extra.get("budget")
    if isinstance(budget, dict) and budget.get("met") is False:
        return f"over budget −{drop:.1f} pp"
    return f"ok ⚠ −{drop:.1f} pp"


UNCOMPRESSED = ("fp32", "–")  # variants that are the model as given, not a compression


def no_variant_headline(report: Report) -> str | None:
    """When the run asked for compressed variants and none of them could be built and
    measured, one line that says so, with each variant's reason; None otherwise."""
    compressed = [r for r in report.rows if r.variant not in UNCOMPRESSED]
    if not compressed or any(r.status == "ok" for r in compressed):
        return None
    why = {}
    for row in compressed:
        why.setdefault(row.variant, short_reason(row.reason or row.status, 60))
    return ("No compressed variant could be built: "
            + "; ".join(f"{variant} — {reason}" for variant, reason in why.items())
            + " (whole reasons below)")


def recommended_lines(report: Report) -> list[str]:
    """"cpu: int8-static — why" for every target with a recommended variant."""
    chosen = report.extra.get("recommended") or {}
    return [f"{target}: {pick['variant']} — {pick['reason']}"
            for target, pick in chosen.items()]


def notes(report: Report) -> list[tuple[str, str, str]]:
    """(row label, kind, text) for every warning and note under the table; warnings first."""
    found = [(r.label, "warning", str(r.extra["warning"]))
             for r in report.rows if r.extra.get("warning")]
    return found + [(r.label, "note", str(r.extra["note"]))
                    for r in report.rows if r.extra.get("note")]


def short_reason(reason: str, limit: int = 32) -> str:
    """The first clause of a reason, for table cells; the whole reason is listed below."""
    first = reason.split(";")[0].split(" (")[0].strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


def reasons(report: Report) -> list[tuple[str, str]]:
    """(row label, full reason) for every row that is not ok."""
    return [(f"{r.target} {r.variant}".replace(" –", ""), r.reason)
            for r in report.rows if r.status != "ok" and r.reason]


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def settings_line(report: Report) -> str:
    s = report.settings
    parts = [f"{k}={s[k]}" for k in ("model", "data", "batch_size", "threads", "warmup",
                                     "runs") if k in s]
    return ", ".join(parts)


def render_markdown(report: Report) -> str:
    env = report.environment
    lines = ["# edgenn report", ""]
    if report.settings:
        lines += [f"Settings: {settings_line(report)}", ""]
    headline = no_variant_headline(report)
    if headline:
        lines += [f"**{headline}**", ""]
    picks = recommended_lines(report)
    if picks:
        lines += ["## Recommended per target", ""] + [f"- {p}" for p in picks] + [""]
    budget = report.extra.get("budget")
    if budget:
        lines += [("Accuracy budget met by every row" if budget.get("met") else
                   f"**Accuracy budget not met**: {budget.get('message', '')}")
                  + f" (max drop {budget.get('max_drop_pp')} pp, test split).", ""]
    lines += [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in report.rows:
        cells = [c.replace("|", "\\|") for c in row_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Columns: " + "; ".join(f"**{name}** {text}"
                                          for name, text in LEGEND.items()) + "."]
    not_ok = reasons(report)
    if not_ok:
        lines += ["", "## Skipped and failed rows", ""] + [f"- **{label}**: {why}"
                                                          for label, why in not_ok]
    below = notes(report)
    if below:
        lines += ["", "## Notes", ""] + [f"- **{label}** ({kind}): {text}"
                                         for label, kind, text in below]
    lines += spiking.markdown_lines(report)
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
        lines += ["", f"Environment: Python {env.get('python')} on {env.get('platform')}, "
                      f"{env.get('cpu_count')} CPUs; {versions}."]
    return "\n".join(lines) + "\n"


def rich_table(report: Report, width: int | None = None, wide: bool = False):
    """The terminal table; columns are dropped (DROP_ORDER) until it fits `width`."""
    from rich.markup import escape
    from rich.table import Table

    keep = columns_for(report, width, wide)
    table = Table(title="edgenn report", caption=settings_line(report) or None)
    for index in keep:
        column = COLUMNS[index]
        # one line per row: a long status is cut (its whole reason is listed below)
        table.add_column(column, justify="left" if column in ("target", "variant", "status")
                         else "right", overflow="ellipsis", no_wrap=True,
                         max_width=STATUS_WIDTH if column == "status" else None)
    for row in report.rows:
        cells = row_cells(row)
        style = {"ok": "yellow" if row.extra.get("warning") else None,
                 "skipped": "yellow", "failed": "red"}.get(row.status)
        table.add_row(*(escape(cells[i]) for i in keep), style=style)
    return table
