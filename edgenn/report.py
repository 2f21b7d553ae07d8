"""Reports: the terminal table, report.json, report.md and manifest.json.

`report.json` is `Report.to_dict()` (schema in the README, "Report schema"); the other
files are views of it.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from edgenn.core import Artifact, jsonable, sha256_of, write_text_atomic
from edgenn.results import Measurement, Report

VERSIONED_PACKAGES = ("edgenn", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "numpy",
                      "onnxscript", "brian2", "nir", "litert-torch", "ai-edge-litert",
                      "ai-edge-quantizer", "tflite-runtime", "torch-pruning")


def environment() -> dict[str, Any]:
    """Python, platform and the versions of every toolchain that is installed."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": _cpu_count(),
        "versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def write_manifest(path: Path, artifacts: Sequence[Artifact], env: dict[str, Any]) -> Path:
    """manifest.json: each artifact's files, format, lineage, bytes and sha256."""
    import json

    root = path.parent
    entries = []
    seen: set[Path] = set()
    for artifact in artifacts:
        if artifact.path in seen or not artifact.path.exists():
            continue
        seen.add(artifact.path)
        files = [{"path": _relative(p, root), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in artifact.files() if p.exists()]  # files[0] is artifact.path
        entries.append({
            "path": files[0]["path"],
            "format": artifact.format,
            "variant": artifact.variant,
            "lineage": list(artifact.lineage),
            "bytes": sum(f["bytes"] for f in files),
            "sha256": files[0]["sha256"],
            "files": files,
        })
    payload = {"environment": env, "artifacts": entries}
    return write_text_atomic(path, json.dumps(jsonable(payload), indent=2))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------

COLUMNS = ("target", "variant", "status", "accuracy", "agree", "max err", "p50 ms",
           "p90 ms", "p99 ms", "size", "peak MB")


def row_cells(row: Measurement) -> list[str]:
    """The table cells of one row, as text (shared by the terminal and markdown views)."""
    lat = row.latency_ms
    return [
        row.target,
        row.variant,
        row.status if row.status == "ok" else f"{row.status}: {short_reason(row.reason)}",
        _fmt(row.accuracy, "{:.4f}"),
        _fmt(row.top1_agreement, "{:.2%}"),
        _fmt(row.max_abs_error, "{:.2g}"),
        _fmt(lat.get("p50"), "{:.3f}"),
        _fmt(lat.get("p90"), "{:.3f}"),
        _fmt(lat.get("p99"), "{:.3f}"),
        human_bytes(row.size_bytes),
        _fmt(row.peak_rss_mb, "{:.0f}"),
    ]


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
        "match rate with the PyTorch fp32 reference; size counts every file the artifact "
        "needs; mem is the peak resident memory of the process that measured the row.",
    ]
    not_ok = reasons(report)
    if not_ok:
        lines += ["", "## Skipped and failed rows", ""] + [f"- **{label}**: {why}"
                                                          for label, why in not_ok]
    notes = [(r.label, r.extra["note"]) for r in report.rows if r.extra.get("note")]
    if notes:
        lines += ["", "## Notes", ""] + [f"- **{label}**: {note}" for label, note in notes]
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
        style = {"ok": None, "skipped": "yellow", "failed": "red"}.get(row.status)
        table.add_row(*cells, style=style)
    return table


def write_reports(report: Report, out_dir: Path) -> list[Path]:
    """report.json, report.md and the self-contained report.html, each written atomically."""
    from edgenn.html_report import write_html

    out_dir = Path(out_dir)
    return [write_text_atomic(out_dir / "report.json", report.to_json()),
            write_text_atomic(out_dir / "report.md", render_markdown(report)),
            write_html(report, out_dir)]


def load_report(path: str | Path) -> Report:
    from edgenn.core import BadInputError

    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise BadInputError(f"report not found: {path}")
    try:
        return Report.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInputError(f"{path}: not an edgenn report.json ({exc})") from None
