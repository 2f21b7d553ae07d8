"""The comparison as a table: the cells of each row, the terminal (rich) and markdown
views, and the reasons and notes printed under them. Every other view builds on these."""

from __future__ import annotations

from edgenn.core.results import Measurement, Report

COLUMNS = ("target", "variant", "status", "accuracy", "agree", "max err", "p50 ms",
           "p90 ms", "p99 ms", "size", "peak MB")


def row_cells(row: Measurement) -> list[str]:
    """The table cells of one row, as text (shared by the terminal and markdown views)."""
    lat = row.latency_ms
    return [
        row.target,
        row.variant,
        _status(row),
        _fmt(row.accuracy, "{:.4f}"),
        _fmt(row.top1_agreement, "{:.2%}"),
        _fmt(row.max_abs_error, "{:.2g}"),
        _fmt(lat.get("p50"), "{:.3f}"),
        _fmt(lat.get("p90"), "{:.3f}"),
        _fmt(lat.get("p99"), "{:.3f}"),
        human_bytes(row.size_bytes),
        _fmt(row.peak_rss_mb, "{:.0f}"),
    ]


def _status(row: Measurement) -> str:
    if row.status != "ok":
        return f"{row.status}: {short_reason(row.reason)}"
    drop = row.extra.get("accuracy_drop_pp")
    return "ok" if drop is None else f"ok ⚠ −{drop:.1f} pp"


def notes(report: Report) -> list[tuple[str, str, str]]:
    """(row label, kind, text) for every warning and note under the table; warnings first."""
    found = [(r.label, "warning", str(r.extra["warning"]))
             for r in report.rows if r.extra.get("warning")]
    return found + [(r.label, "note", str(r.extra["note"]))
                    for r in report.rows if r.extra.get("note")]


def short_reason(reason: str, limit: int = 48) -> str:
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
    lines += [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in report.rows:
        cells = [c.replace("|", "\\|") for c in row_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Latency: `run()` alone after warm-up, in milliseconds (p50 with a 95 % confidence "
        "interval in report.json); accuracy is top-1 on the test split; agree is the top-1 "
        "match rate with the fp32 reference (PyTorch, or ONNX Runtime for an ONNX source); "
        "size counts every file the artifact "
        "needs; mem is the peak resident memory of the process that measured the row.",
    ]
    not_ok = reasons(report)
    if not_ok:
        lines += ["", "## Skipped and failed rows", ""] + [f"- **{label}**: {why}"
                                                          for label, why in not_ok]
    below = notes(report)
    if below:
        lines += ["", "## Notes", ""] + [f"- **{label}** ({kind}): {text}"
                                         for label, kind, text in below]
    if env:
        versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
        lines += ["", f"Environment: Python {env.get('python')} on {env.get('platform')}, "
                      f"{env.get('cpu_count')} CPUs; {versions}."]
    return "\n".join(lines) + "\n"


def rich_table(report: Report):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="edgenn report", caption=settings_line(report) or None)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("target", "variant", "status")
                         else "right", overflow="fold")
    for row in report.rows:
        cells = [escape(cell) for cell in row_cells(row)]
        style = {"ok": "yellow" if row.extra.get("warning") else None,
                 "skipped": "yellow", "failed": "red"}.get(row.status)
        table.add_row(*cells, style=style)
    return table
