"""Two reports side by side: what changed between a run before and a run after a change.

Rows are matched by (target, variant). For each pair the deltas of accuracy and
agreement (percentage points), the p50 latency ratio, size and peak memory are computed,
and a pair is a regression when accuracy fell by more than a threshold, p50 grew by
more than a threshold beyond noise (the 95 % confidence intervals of the two medians do
not overlap; byte-identical artifacts, same sha256, never differ in speed), size grew by
more than a threshold, or a row that was ok is not any more. Every setting that differs
between the runs is listed, nested ones by dotted name. Rows present in only one report
are shown as added or removed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edgenn.core import BadInputError
from edgenn.core.results import Measurement, Report, latency_separated
from edgenn.report.table import human_bytes

# Float noise must not turn "exactly at the threshold" into a regression (0.975 - 0.98).
_EPSILON = 1e-9


class Presence(str, Enum):
    """Whether a (target, variant) row is in both reports or in one only."""

    BOTH = "both"
    ADDED = "added"  # only in the second (after) report
    REMOVED = "removed"  # only in the first (before) report


@dataclass(frozen=True)
class CompareThresholds:
    """How much worse a figure may get before the pair counts as a regression."""

    accuracy_pp: float = 0.5  # accuracy drop, percentage points
    latency_pct: float = 10.0  # p50 growth, percent
    size_pct: float = 0.0  # size growth, percent (0: any growth)

    def __post_init__(self) -> None:
        bad = [f"{name}={value}" for name, value in (("accuracy_pp", self.accuracy_pp),
                                                      ("latency_pct", self.latency_pct),
                                                      ("size_pct", self.size_pct))
               if not (math.isfinite(value) and value >= 0)]
        if bad:
            raise BadInputError(f"compare thresholds must be finite and >= 0: {', '.join(bad)}")


@dataclass(frozen=True)
class RowDelta:
    """One (target, variant): both rows, the deltas (after − before) and the verdict."""

    target: str
    variant: str
    presence: Presence
    before: Measurement | None
    after: Measurement | None
    accuracy_pp: float | None = None
    agreement_pp: float | None = None
    p50_ratio: float | None = None  # after / before; > 1 is slower
    size_delta_bytes: int | None = None
    peak_rss_delta_mb: float | None = None
    regressions: tuple[str, ...] = ()
    improvements: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.target}-{self.variant}"

    @property
    def p50_change_pct(self) -> float | None:
        return None if self.p50_ratio is None else (self.p50_ratio - 1) * 100

    def to_dict(self) -> dict[str, Any]:
        def figures(row: Measurement | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {"status": row.status, "reason": row.reason, "accuracy": row.accuracy,
                    "top1_agreement": row.top1_agreement, "p50_ms": row.latency_ms.get("p50"),
                    "size_bytes": row.size_bytes, "peak_rss_mb": row.peak_rss_mb}

        return {"target": self.target, "variant": self.variant,
                "presence": self.presence.value, "before": figures(self.before),
                "after": figures(self.after), "accuracy_pp": self.accuracy_pp,
                "agreement_pp": self.agreement_pp, "p50_ratio": self.p50_ratio,
                "p50_change_pct": self.p50_change_pct,
                "size_delta_bytes": self.size_delta_bytes,
                "peak_rss_delta_mb": self.peak_rss_delta_mb,
                "regressions": list(self.regressions), "improvements": list(self.improvements)}


@dataclass(frozen=True)
class Comparison:
    """Every row pair, the settings that differ between the runs, and the thresholds."""

    rows: tuple[RowDelta, ...]
    thresholds: CompareThresholds
    settings_changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[RowDelta]:
        return [row for row in self.rows if row.regressions]

    def to_dict(self) -> dict[str, Any]:
        from edgenn.core import jsonable

        return jsonable({
            "thresholds": {"accuracy_pp": self.thresholds.accuracy_pp,
                           "latency_pct": self.thresholds.latency_pct,
                           "size_pct": self.thresholds.size_pct},
            "settings_changed": {k: {"before": a, "after": b}
                                 for k, (a, b) in self.settings_changed.items()},
            "regression_count": len(self.regressions),
            "rows": [row.to_dict() for row in self.rows],
        })


def compare_reports(before: Report, after: Report,
                    thresholds: CompareThresholds | None = None) -> Comparison:
    """Match the rows of two reports by (target, variant) and judge every pair."""
    thresholds = thresholds or CompareThresholds()
    old = {(r.target, r.variant): r for r in before.rows}
    new = {(r.target, r.variant): r for r in after.rows}
    keys = list(dict.fromkeys([*old, *new]))  # before's order, then rows new in after
    rows = tuple(_pair(key, old.get(key), new.get(key), thresholds) for key in keys)
    return Comparison(rows=rows, thresholds=thresholds,
                      settings_changed=settings_diff(before.settings, after.settings))


def settings_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every setting that differs between two runs, nested settings by dotted name
    (`compression.prune.sparsity`, `compression.method`, `train.lr` …)."""
    old, new = _flatten(before), _flatten(after)
    return {key: (old.get(key), new.get(key)) for key in dict.fromkeys([*old, *new])
            if old.get(key) != new.get(key)}


def _flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(settings, dict):
        return {prefix: settings}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _pair(key: tuple[str, str], before: Measurement | None, after: Measurement | None,
          limits: CompareThresholds) -> RowDelta:
    target, variant = key
    if before is None or after is None:
        presence = Presence.ADDED if before is None else Presence.REMOVED
        return RowDelta(target, variant, presence, before, after)
    regressions: list[str] = []
    improvements: list[str] = []
    if before.status == "ok" and after.status != "ok":
        regressions.append(f"now {after.status}" + (f": {after.reason}" if after.reason else ""))
    elif before.status != "ok" and after.status == "ok":
        improvements.append(f"was {before.status}, now ok")

    accuracy = _difference(after.accuracy, before.accuracy, scale=100)
    if accuracy is not None and accuracy < -limits.accuracy_pp - _EPSILON:
        regressions.append(f"accuracy {accuracy:+.2f} pp")
    elif accuracy is not None and accuracy > limits.accuracy_pp + _EPSILON:
        improvements.append(f"accuracy {accuracy:+.2f} pp")

    ratio = _ratio(after.latency_ms.get("p50"), before.latency_ms.get("p50"))
    # A latency change counts only beyond noise (the 95 % intervals of the medians
    # separate) and never between byte-identical artifacts, whatever the timings say.
    same = _same_artifact(before, after)
    real = not same and latency_separated(before.latency_ms, after.latency_ms)
    if ratio is not None and real and ratio > 1 + limits.latency_pct / 100 + _EPSILON:
        regressions.append(f"p50 {ratio:.2f}× slower")
    elif ratio is not None and real and ratio < 1 / (1 + limits.latency_pct / 100) - _EPSILON:
        improvements.append(f"p50 {1 / ratio:.2f}× faster")

    size = _difference(after.size_bytes, before.size_bytes)
    if size is not None and before.size_bytes and size > before.size_bytes * limits.size_pct / 100:
        regressions.append(f"size +{human_bytes(int(size))}")
    elif size is not None and size < 0:
        improvements.append(f"size -{human_bytes(int(-size))}")

    return RowDelta(
        target, variant, Presence.BOTH, before, after, accuracy_pp=accuracy,
        agreement_pp=_difference(after.top1_agreement, before.top1_agreement, scale=100),
        p50_ratio=ratio, size_delta_bytes=None if size is None else int(size),
        peak_rss_delta_mb=_difference(after.peak_rss_mb, before.peak_rss_mb),
        regressions=tuple(regressions), improvements=tuple(improvements))


def _same_artifact(before: Measurement, after: Measurement) -> bool:
    digest = before.extra.get("sha256")
    return bool(digest) and digest == after.extra.get("sha256")


def _difference(after: float | None, before: float | None, scale: float = 1.0
                ) -> float | None:
    if after is None or before is None:
        return None
    return (float(after) - float(before)) * scale


def _ratio(after: float | None, before: float | None) -> float | None:
    if after is None or before is None or before <= 0:
        return None
    return float(after) / float(before)


# ---------------------------------------------------------------------------------------
# Terminal view
# ---------------------------------------------------------------------------------------


COMPARE_COLUMNS = ("target", "variant", "status", "accuracy", "Δ pp", "agree Δ pp",
                   "p50 ms", "p50 ×", "size", "Δ size", "Δ peak MB", "verdict")
_DROPPED_WHEN_NARROW = ("Δ peak MB", "agree Δ pp", "Δ size", "size", "status")


def rich_table(comparison: Comparison, names: tuple[str, str] = ("A", "B"),
               width: int | None = None, wide: bool = False):
    """A rich Table: one line per (target, variant), regressions in red, gains in green;
    narrow terminals (`width`) drop the secondary columns unless `wide`."""
    from rich.table import Table

    first, second = names
    cells = [_cells(row) for row in comparison.rows]
    keep = list(range(len(COMPARE_COLUMNS)))
    for name in _DROPPED_WHEN_NARROW:
        needed = 1 + sum(3 + max([len(COMPARE_COLUMNS[i]), *(len(c[i]) for c in cells)])
                         for i in keep)
        if wide or width is None or needed <= width:
            break
        keep.remove(COMPARE_COLUMNS.index(name))
    table = Table(title=f"edgenn compare: {first} → {second}",
                  caption=_caption(comparison), caption_justify="left")
    for index in keep:
        column = COMPARE_COLUMNS[index]
        table.add_column(column, justify="left" if column in
                         ("target", "variant", "status", "verdict") else "right",
                         overflow="fold")
    for row, row_cells in zip(comparison.rows, cells, strict=True):
        table.add_row(*(row_cells[i] for i in keep), style=_style(row))
    return table


def _cells(row: RowDelta) -> list[str]:
    before, after = row.before, row.after
    if row.presence is not Presence.BOTH:
        only = after if after is not None else before
        return [row.target, row.variant, f"{row.presence.value} ({only.status})",
                _num(only.accuracy, "{:.4f}"), "", "", _num(only.latency_ms.get("p50"),
                                                            "{:.3f}"),
                "", human_bytes(only.size_bytes), "", "", row.presence.value]
    status = after.status if before.status == after.status else f"{before.status}→{after.status}"
    verdict = "; ".join(row.regressions) or "; ".join(row.improvements) or (
        "same artifact" if _same_artifact(before, after) else "same")
    return [
        row.target, row.variant, status,
        f"{_num(before.accuracy, '{:.4f}')}→{_num(after.accuracy, '{:.4f}')}",
        _num(row.accuracy_pp, "{:+.2f}"), _num(row.agreement_pp, "{:+.2f}"),
        f"{_num(before.latency_ms.get('p50'), '{:.3f}')}→"
        f"{_num(after.latency_ms.get('p50'), '{:.3f}')}",
        _num(row.p50_ratio, "{:.2f}×") + (f" ({row.p50_change_pct:+.0f} %)"
                                          if row.p50_change_pct is not None else ""),
        human_bytes(after.size_bytes),
        "" if row.size_delta_bytes is None else _signed_bytes(row.size_delta_bytes),
        _num(row.peak_rss_delta_mb, "{:+.0f}"), verdict,
    ]


def _style(row: RowDelta) -> str | None:
    if row.regressions:
        return "bold red"
    if row.presence is not Presence.BOTH:
        return "yellow"
    return "green" if row.improvements else None


def _caption(comparison: Comparison) -> str:
    limits = comparison.thresholds
    lines = [f"regression: accuracy down > {limits.accuracy_pp:g} pp, p50 up > "
             f"{limits.latency_pct:g} % with the 95 % intervals apart (identical artifacts "
             f"never), size up > {limits.size_pct:g} %, or no longer ok · "
             f"{len(comparison.regressions)} regression(s)"]
    if comparison.settings_changed:
        changed = ", ".join(f"{k} {a}→{b}" for k, (a, b) in comparison.settings_changed.items())
        lines.append(f"settings differ between the runs: {changed}")
    return "\n".join(lines)


def _num(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def _signed_bytes(delta: int) -> str:
    if delta == 0:
        return "0"
    return ("+" if delta > 0 else "-") + human_bytes(abs(delta))
