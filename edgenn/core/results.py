"""Measurements and reports: one row per (target, variant), and a whole run's report.

`report.json` is `Report.to_dict()` (schema in the README, "Report schema"). Only the
harness, report and CLI code use these; the stages (exporters, quantize, targets) never do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgenn.core.config import jsonable
from edgenn.core.errors import BadInputError

REPORT_SCHEMA_VERSION = 1


@dataclass
class Measurement:
    """One report row: a (target, variant) pair and what was measured on it."""

    target: str
    variant: str
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    artifact: str = ""  # path of the compiled artifact that produced the row
    lineage: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    accuracy: float | None = None
    samples: int | None = None
    top1_agreement: float | None = None
    max_abs_error: float | None = None
    snr_db: float | None = None
    cosine_similarity: float | None = None  # mean per sample, against the reference
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, mean, ...
    latency_samples_ms: list[float] = field(default_factory=list)
    batch_size: int | None = None
    threads: int | None = None
    peak_rss_mb: float | None = None
    load_rss_mb: float | None = None  # resident memory added by loading the model
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.target}-{self.variant}" if self.variant else self.target

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def latency_separated(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Whether two latency summaries differ beyond noise: their 95 % confidence intervals
    of the median do not overlap. For two independent measurements of one speed the
    false-alarm rate of this test is below 1 % (each interval misses the median with
    probability ≤ 5 %, and both must miss on opposite sides). Without intervals (one run,
    or reports from before they existed) nothing is called a difference."""
    keys = ("p50_ci95_low", "p50_ci95_high")
    if not all(k in a and k in b for k in keys):
        return False
    return a["p50_ci95_high"] < b["p50_ci95_low"] or b["p50_ci95_high"] < a["p50_ci95_low"]


@dataclass
class Report:
    """Everything one run measured; `report.json` is `to_dict()` (see README, schema)."""

    rows: list[Measurement] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = REPORT_SCHEMA_VERSION

    def row(self, target: str, variant: str = "fp32") -> Measurement:
        for measurement in self.rows:
            if measurement.target == target and measurement.variant == variant:
                return measurement
        raise KeyError(f"no row for target {target!r}, variant {variant!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "settings": jsonable(self.settings),
            "environment": jsonable(self.environment),
            "rows": [r.to_dict() for r in self.rows],
            "extra": jsonable(self.extra),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        version = int(data.get("schema_version", 0))
        if version != REPORT_SCHEMA_VERSION:
            raise BadInputError(
                f"report schema version {version} is not supported "
                f"(this edgenn reads version {REPORT_SCHEMA_VERSION})"
            )
        return cls(
            rows=[Measurement.from_dict(r) for r in data.get("rows", [])],
            settings=dict(data.get("settings", {})),
            environment=dict(data.get("environment", {})),
            extra=dict(data.get("extra", {})),
            schema_version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))
