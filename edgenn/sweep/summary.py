"""The sweep's one report: every point as rows with its settings, the Pareto front over
accuracy, latency and size per target, and the recommended variant per target.

A row is one (point, target, variant) the point's run measured; a point that failed is one
row with its reason. On a target, a row is on the front when no other ok row is at least
as accurate, as fast (p50) and as small, and strictly better in one of them. The
recommended variant of a target is its fastest ok row whose accuracy stays within the
budget (`max_accuracy_drop` pp below its own point's fp32 reference); ties go to the
smaller, then the more accurate.

    OUT/sweep.json   {"schema": "edgenn-sweep", "version": 1, settings, space, rows,
                      front: {target: [row index]}, recommended: {target: row index},
                      points, ran, skipped, failed, backend, seconds}
    OUT/sweep.md     the same as tables
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgenn.core import to_plain, write_text_atomic
from edgenn.sweep.execute import Outcome
from edgenn.sweep.spec import Sweep

SCHEMA, VERSION = "edgenn-sweep", 1


def reference_accuracy(report: dict[str, Any]) -> float | None:
    """Top-1 accuracy of a point's fp32 PyTorch reference (its confusion matrix)."""
    matrix = report.get("extra", {}).get("confusion_matrix")
    if not matrix:
        return None
    total = sum(sum(row) for row in matrix)
    return sum(matrix[i][i] for i in range(len(matrix))) / total if total else None


def sweep_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measured (point, target, variant); one failed row per failed point."""
    rows: list[dict[str, Any]] = []
    for result in results:
        base = {"point": result["key"], "values": result["values"]}
        if result["status"] != "ok" or not result.get("report"):
            rows.append({**base, "target": "–", "variant": "–", "status": "failed",
                         "reason": result.get("reason", "")})
            continue
        reference = reference_accuracy(result["report"])
        for row in result["report"]["rows"]:
            accuracy = row.get("accuracy")
            drop = None if accuracy is None or reference is None else \
                round(100 * (reference - accuracy), 3)
            rows.append({**base, "target": row["target"], "variant": row["variant"],
                         "status": row["status"], "reason": row.get("reason", ""),
                         "accuracy": accuracy, "drop_pp": drop,
                         "p50_ms": row.get("latency_ms", {}).get("p50"),
                         "p50_ci95": [row.get("latency_ms", {}).get("p50_ci95_low"),
                                      row.get("latency_ms", {}).get("p50_ci95_high")],
                         "size_bytes": row.get("size_bytes")})
    return rows


def _measured(row: dict[str, Any]) -> bool:
    return row["status"] == "ok" and all(row.get(k) is not None
                                         for k in ("accuracy", "p50_ms", "size_bytes"))


def _dominates(b: dict[str, Any], a: dict[str, Any]) -> bool:
    """`b` is at least as accurate, fast and small as `a`, and strictly better in one."""
    at_least = (b["accuracy"] >= a["accuracy"] and b["p50_ms"] <= a["p50_ms"]
                and b["size_bytes"] <= a["size_bytes"])
    return at_least and (b["accuracy"] > a["accuracy"] or b["p50_ms"] < a["p50_ms"]
                         or b["size_bytes"] < a["size_bytes"])


def pareto_front(rows: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """{target: indices of its rows on the accuracy / p50 / size front}."""
    fronts: dict[str, list[int]] = {}
    by_target: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if _measured(row):
            by_target.setdefault(row["target"], []).append(i)
    for target, indices in by_target.items():
        fronts[target] = [i for i in indices
                          if not any(_dominates(rows[j], rows[i]) for j in indices if j != i)]
    return fronts


def recommended(rows: Sequence[dict[str, Any]], max_drop: float) -> dict[str, int | None]:
    """{target: index of its fastest row within the budget, or None when none is}."""
    choice: dict[str, int | None] = {}
    for i, row in enumerate(rows):
        if not _measured(row):
            continue
        choice.setdefault(row["target"], None)
        if row["drop_pp"] is None or row["drop_pp"] > max_drop:
            continue
        best = choice[row["target"]]
        rank = (row["p50_ms"], row["size_bytes"], -row["accuracy"])
        if best is None or rank < (rows[best]["p50_ms"], rows[best]["size_bytes"],
                                   -rows[best]["accuracy"]):
            choice[row["target"]] = i
    return choice


def summarize(sweep: Sweep, outcome: Outcome) -> dict[str, Any]:
    rows = sweep_rows(outcome.results)
    return {"schema": SCHEMA, "version": VERSION, "settings": to_plain(sweep.settings),
            "space": sweep.space, "base": sweep.base, "points": len(outcome.results),
            "ran": len(outcome.ran), "skipped": len(outcome.skipped),
            "failed": sum(r["status"] == "failed" for r in outcome.results),
            "backend": outcome.backend, "seconds": round(outcome.seconds, 2),
            "rows": rows, "front": pareto_front(rows),
            "recommended": recommended(rows, sweep.settings.max_accuracy_drop)}


def write_summary(summary: dict[str, Any], out: str | Path) -> list[Path]:
    out = Path(out)
    return [write_text_atomic(out / "sweep.json", json.dumps(summary, indent=1, default=str)),
            write_text_atomic(out / "sweep.md", markdown(summary))]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "/")


def markdown(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    names = list(summary["space"])
    front = {i for indices in summary["front"].values() for i in indices}
    picked = {i for i in summary["recommended"].values() if i is not None}
    budget = summary["settings"]["max_accuracy_drop"]
    lines = [f"# edgenn sweep: {summary['points']} points ({summary['ran']} run now, "
             f"{summary['skipped']} finished before, {summary['failed']} failed; "
             f"{summary['backend']}, {summary['seconds']} s)", "",
             f"## Recommended per target (fastest within {budget:g} pp of its fp32 "
             "reference)", "", "| target | variant | " + " | ".join(names) +
             " | accuracy | drop pp | p50 ms | size | point |",
             "|---" * (len(names) + 7) + "|"]
    for target, index in summary["recommended"].items():
        if index is None:
            lines.append(f"| {target} | none within the budget |" + " |" * (len(names) + 5))
            continue
        row = rows[index]
        lines.append(_line(row, names, target=True))
    lines += ["", "## Every row (★ on the target's Pareto front, ✓ recommended)", "",
              "| | target | variant | status | " + " | ".join(names) +
              " | accuracy | drop pp | p50 ms | size | point |",
              "|---" * (len(names) + 9) + "|"]
    for i, row in enumerate(rows):
        mark = ("✓" if i in picked else "") + ("★" if i in front else "")
        status = row["status"] + (f": {row['reason']}" if row.get("reason") else "")
        lines.append(f"| {mark} | {row['target']} | {row['variant']} | {_cell(status)} | "
                     + _line(row, names, target=False))
    return "\n".join(lines) + "\n"


def _line(row: dict[str, Any], names: Sequence[str], *, target: bool) -> str:
    cells = [_cell(row["values"].get(n)) for n in names] + [
        _cell(row.get("accuracy")), _cell(row.get("drop_pp")), _cell(row.get("p50_ms")),
        _cell(row.get("size_bytes")), row["point"]]
    head = f"| {row['target']} | {row['variant']} | " if target else ""
    return head + " | ".join(cells) + " |"
