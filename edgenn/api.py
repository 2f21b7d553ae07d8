"""The Python API: the same jobs as `edgenn run` and `edgenn bench`, from a script.

    from edgenn.api import build_config, run

    if __name__ == "__main__":   # rows are measured in spawned processes
        report = run(build_config("my.toml", out="build"))
        print(report.row("cpu").latency_ms["p50"])

Each function builds and measures (`edgenn.run.pipeline`), then writes report.json,
report.md and report.html (`edgenn.report.files`) beside the build's manifest.json.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgenn.core.results import Report
from edgenn.report.files import write_reports
from edgenn.run import pipeline
from edgenn.run.config import CompressionConfig, Hooks, LatencySettings, RunConfig
from edgenn.run.recipe import build_config, load_recipe

__all__ = ["CompressionConfig", "Hooks", "LatencySettings", "Report", "RunConfig", "bench",
           "build_config", "load_recipe", "run"]


def run(config: RunConfig, hooks: Hooks | None = None) -> Report:
    """Train, build every variant, measure every target; write the reports; return the
    report. `report.extra["budget"]["met"]` says whether the accuracy budget held."""
    report = pipeline.run(config, hooks)
    write_reports(report, config.out)
    return report


def bench(model: str | os.PathLike[str], data: str | os.PathLike[str],
          config: RunConfig | None = None, hooks: Hooks | None = None) -> Report:
    """Measure a user's ONNX or .tflite model on a user's .npz; write the reports."""
    config = config or RunConfig()
    report = pipeline.bench(Path(model), Path(data), config, hooks)
    write_reports(report, config.out)
    return report
