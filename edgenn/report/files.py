"""The report files of a run: report.json (`Report.to_dict()`, schema in the README),
report.md and report.html, written atomically; and reading a report.json back."""

from __future__ import annotations

from pathlib import Path

from edgenn.core import BadInputError, write_text_atomic
from edgenn.core.files import interrupts_deferred
from edgenn.core.results import Report
from edgenn.report.html import write_html
from edgenn.report.table import render_markdown
from edgenn.report.validate import check_report_file


def write_reports(report: Report, out_dir: Path) -> list[Path]:
    """report.json, report.md and the self-contained report.html, each written atomically
    (a Ctrl-C meanwhile takes effect once they are written)."""
    out_dir = Path(out_dir)
    with interrupts_deferred():
        return [write_text_atomic(out_dir / "report.json", report.to_json()),
                write_text_atomic(out_dir / "report.md", render_markdown(report)),
                write_html(report, out_dir)]


def load_report(path: str | Path) -> Report:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise BadInputError(f"report not found: {path}")
    check_report_file(path)  # edgenn.report.validate: one line naming every problem
    try:
        return Report.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BadInputError(f"{path}: not an edgenn report.json ({exc})") from None
