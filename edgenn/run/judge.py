"""Verdicts on the measured rows: the accuracy budget on every row, figures relative to the
fp32 row of the same target, the recommended variant per target, and notes that quote the
final measurements.

Latency is judged with its noise: two rows differ in speed only when the 95 % confidence
intervals of their medians separate (`edgenn.core.results.latency_separated`); within
noise a choice falls back to a fixed order (accuracy, then size, then `PREFERENCE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgenn.core.results import Measurement, latency_separated

BASELINE = "fp32"
REFERENCES = ("pytorch",)  # the reference every row is checked against: not a deployment
# Within noise and at equal accuracy and size, the simpler variant is recommended.
PREFERENCE = ("fp32", "fp16", "int8-dynamic", "int8-static", "pruned", "pruned-int8")


def accuracy_drop_pp(row: Measurement, reference_accuracy: float | None) -> float | None:
    """Percentage points lost against the reference: test accuracy when there are labels,
    else top-1 disagreement with the reference (what an unlabelled run can judge)."""
    if row.accuracy is not None and reference_accuracy is not None:
        return 100.0 * (reference_accuracy - row.accuracy)
    if row.accuracy is None and row.top1_agreement is not None:
        return 100.0 * (1.0 - row.top1_agreement)
    return None


def judge_budget(rows: Sequence[Measurement], reference_accuracy: float | None,
                 max_drop_pp: float | None, tolerance_pp: float) -> dict[str, Any] | None:
    """Judge every measured row against the accuracy budget on the test split.

    Every row that loses more than the budget (or, without one, more than `tolerance_pp`)
    gets `extra["accuracy_drop_pp"]` and a warning. With a budget, each row's
    `extra["budget"]` holds the test-split verdict (the compression passes' validation
    record, when there was one, stays under "validation"), and the returned verdict says
    whether every row met it (`met` False → exit 3)."""
    limit = tolerance_pp if max_drop_pp is None else max_drop_pp
    over: list[tuple[str, float]] = []
    for row in rows:
        if row.status != "ok":
            continue
        drop = accuracy_drop_pp(row, reference_accuracy)
        if drop is None:
            continue
        met = drop <= limit + 1e-9
        if max_drop_pp is not None:
            validation = row.extra.get("budget")
            record: dict[str, Any] = {"max_drop_pp": max_drop_pp, "drop_pp": round(drop, 4),
                                      "met": met, "split": "test"}
            if isinstance(validation, dict):
                record["validation"] = {k: v for k, v in validation.items()
                                        if k not in ("sensitivity",)}
                if validation.get("kept_in_float"):
                    record["kept_in_float"] = validation["kept_in_float"]
            row.extra["budget"] = record
        if not met:
            row.extra["accuracy_drop_pp"] = round(drop, 3)
            measure = "test accuracy" if row.accuracy is not None else "top-1 agreement"
            kind = "budget" if max_drop_pp is not None else "tolerance"
            row.extra["warning"] = (f"loses {drop:.2f} pp of {measure} against the fp32 "
                                    f"reference ({kind} {limit:g} pp)")
            over.append((row.label, drop))
    if max_drop_pp is None:
        return None
    message = "" if not over else (
        f"{len(over)} row(s) exceed the accuracy budget of {max_drop_pp:g} pp on the test "
        "split after the fallback: " + ", ".join(f"{label} −{drop:.2f} pp"
                                                 for label, drop in over))
    return {"max_drop_pp": max_drop_pp, "met": not over,
            "rows_over": [label for label, _ in over], "split": "test", "message": message}


def relative_to_baseline(rows: Sequence[Measurement]) -> None:
    """`extra["relative"]` on every measured row of a target that has an fp32 row: accuracy
    change (pp), speed-up (×, and whether it is beyond noise) and size ratio."""
    baselines = {r.target: r for r in rows if r.status == "ok" and r.variant == BASELINE}
    for row in rows:
        base = baselines.get(row.target)
        if row.status != "ok" or base is None:
            continue
        accuracy = None if row.accuracy is None or base.accuracy is None \
            else round(100.0 * (row.accuracy - base.accuracy), 4)
        p50, base_p50 = row.latency_ms.get("p50"), base.latency_ms.get("p50")
        speedup = base_p50 / p50 if p50 and base_p50 else None
        size = row.size_bytes / base.size_bytes if row.size_bytes and base.size_bytes \
            else None
        row.extra["relative"] = {
            "baseline": BASELINE, "accuracy_pp": accuracy,
            "speedup": None if speedup is None else round(speedup, 4),
            "speedup_significant": row is not base and
            latency_separated(row.latency_ms, base.latency_ms),
            "size_ratio": None if size is None else round(size, 4)}


def recommend(rows: Sequence[Measurement], budget: dict[str, Any] | None
              ) -> dict[str, dict[str, str]]:
    """Per deployment target (not the PyTorch reference), the fastest ok row within the
    budget (or the tolerance when none is set); rows whose speed does not separate from
    the fastest's are ties, broken by accuracy, then size, then `PREFERENCE`.
    Returns {target: {"variant", "reason"}}."""
    chosen: dict[str, dict[str, str]] = {}
    for target in dict.fromkeys(r.target for r in rows if r.target not in REFERENCES):
        fit = [r for r in rows if r.target == target and r.status == "ok"
               and r.latency_ms.get("p50") is not None and "accuracy_drop_pp" not in r.extra]
        if not fit:
            continue
        fastest = min(fit, key=lambda r: r.latency_ms["p50"])
        ties = [r for r in fit if not latency_separated(r.latency_ms, fastest.latency_ms)]
        best = min(ties, key=lambda r: (-(r.accuracy if r.accuracy is not None else
                                          r.top1_agreement or 0.0),
                                        r.size_bytes or 0, _preference(r.variant)))
        limit = "within the accuracy budget" if budget else "within the accuracy tolerance"
        if len(ties) == 1:
            reason = f"fastest {limit} ({best.latency_ms['p50']:.3f} ms)"
        else:
            others = ", ".join(r.variant for r in ties if r is not best)
            reason = (f"{limit}; as fast as {others} within noise (95 % intervals overlap), "
                      "and the most accurate, then smallest")
        chosen[target] = {"variant": best.variant, "reason": reason}
    return chosen


def latency_notes(rows: Sequence[Measurement]) -> None:
    """A note on every compressed row that is slower than its target's fp32 row beyond
    noise, quoting the figures of the table itself."""
    baselines = {r.target: r for r in rows if r.status == "ok" and r.variant == BASELINE}
    for row in rows:
        base = baselines.get(row.target)
        if row.status != "ok" or base is None or row is base:
            continue
        p50, base_p50 = row.latency_ms.get("p50"), base.latency_ms.get("p50")
        if not p50 or not base_p50 or p50 <= base_p50 or \
                not latency_separated(row.latency_ms, base.latency_ms):
            continue
        text = (f"{p50 / base_p50:.2f}× slower than {row.target} fp32 at batch "
                f"{row.batch_size or 1} ({p50:.3f} ms vs {base_p50:.3f} ms p50; 95 % "
                "intervals separate)")
        row.extra["note"] = "; ".join(filter(None, [row.extra.get("note"), text]))


def _preference(variant: str) -> int:
    return PREFERENCE.index(variant) if variant in PREFERENCE else len(PREFERENCE)
