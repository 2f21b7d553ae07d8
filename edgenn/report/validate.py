"""A report.json given back to edgenn (`edgenn compare`) checked before anything reads it:
every problem named by where it is (`rows[2].accuracy`) and what was found, in one line.

A report edgenn wrote always passes; a hand-edited, truncated or foreign one fails here
with exit 2 rather than somewhere inside the comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError
from edgenn.core.results import REPORT_SCHEMA_VERSION

NUMBER_FIELDS = ("size_bytes", "accuracy", "samples", "top1_agreement", "max_abs_error",
                 "snr_db", "cosine_similarity", "batch_size", "threads", "peak_rss_mb",
                 "load_rss_mb")
TEXT_FIELDS = ("reason", "artifact")
STATUSES = ("ok", "skipped", "failed")
TABLES = ("settings", "environment", "extra")


def check_report_file(path: str | Path) -> None:
    """Raise BadInputError naming every problem (at most a few) of the report at `path`."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"{path}: not an edgenn report.json ({exc})") from None
    if isinstance(payload, dict) and payload.get("schema_version") != REPORT_SCHEMA_VERSION:
        return  # another schema: Report.from_dict names the version it cannot read
    problems = report_problems(payload)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; … ({len(problems) - 3} more)"
                                          if len(problems) > 3 else "")
        raise BadInputError(f"{path}: not an edgenn report.json: {shown}")


def report_problems(payload: Any) -> list[str]:
    """Every problem of a parsed report.json (an empty list: it can be read)."""
    if not isinstance(payload, dict):
        return [f"the file holds a JSON {type(payload).__name__}, not an object"]
    problems = [f"'{key}' must be an object, got {_kind(payload[key])}" for key in TABLES
                if key in payload and not isinstance(payload[key], dict)]
    rows = payload.get("rows")
    if not isinstance(rows, list):
        return problems + [f"'rows' must be a list of rows, got {_kind(rows)}"]
    if not rows:
        return problems + ["it has no rows: nothing was measured, nothing to compare"]
    for index, row in enumerate(rows):
        problems += [f"rows[{index}]{p}" for p in _row_problems(row)]
    return problems


def _row_problems(row: Any) -> list[str]:
    if not isinstance(row, dict):
        return [f" must be an object, got {_kind(row)}"]
    problems = []
    for key in ("target", "variant"):
        if not isinstance(row.get(key), str) or not row.get(key):
            problems.append(f".{key} must be a non-empty string, got {_kind(row.get(key))}")
    if "status" in row and row["status"] not in STATUSES:
        problems.append(f".status must be one of {', '.join(STATUSES)}, got "
                        f"{_kind(row['status'])}")
    for key in NUMBER_FIELDS:
        if key in row and row[key] is not None and not _is_number(row[key]):
            problems.append(f".{key} must be a number or null, got {_kind(row[key])}")
    for key in TEXT_FIELDS:
        if key in row and not isinstance(row[key], str):
            problems.append(f".{key} must be a string, got {_kind(row[key])}")
    latency = row.get("latency_ms", {})
    if not isinstance(latency, dict):
        problems.append(f".latency_ms must be an object, got {_kind(latency)}")
    else:
        problems += [f".latency_ms.{k} must be a number, got {_kind(v)}"
                     for k, v in latency.items() if not _is_number(v)]
    samples = row.get("latency_samples_ms", [])
    if not isinstance(samples, list) or not all(_is_number(v) for v in samples):
        problems.append(".latency_samples_ms must be a list of numbers")
    lineage = row.get("lineage", [])
    if not isinstance(lineage, list) or not all(isinstance(v, str) for v in lineage):
        problems.append(".lineage must be a list of strings")
    if not isinstance(row.get("extra", {}), dict):
        problems.append(f".extra must be an object, got {_kind(row.get('extra'))}")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        isinstance(value, int) or math.isfinite(value))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {json.dumps(value)[:40]}" if isinstance(
        value, (bool, int, float)) else {"dict": "an object", "list": "a list"}.get(
        type(value).__name__, type(value).__name__)
