"""`edgenn compare`: row matching, deltas, regression rules, the CLI's output and exit codes."""

from __future__ import annotations

import json

import pytest

from edgenn.cli import main
from edgenn.core import BadInputError
from edgenn.core.results import Measurement, Report
from edgenn.report.compare import CompareThresholds, Presence, compare_reports


def _row(target="cpu", variant="fp32", accuracy=0.98, p50=1.0, size=1000, agree=1.0,
         rss=80.0, status="ok", reason="", spread=0.01, sha="") -> Measurement:
    """A row whose p50 has a 95 % interval of ±`spread` (relative) around it."""
    latency = {} if p50 is None else {"p50": p50, "p50_ci95_low": p50 * (1 - spread),
                                      "p50_ci95_high": p50 * (1 + spread)}
    return Measurement(target=target, variant=variant, status=status, reason=reason,
                       accuracy=accuracy, top1_agreement=agree, size_bytes=size,
                       latency_ms=latency, peak_rss_mb=rss,
                       extra={"sha256": sha} if sha else {})


def _report(*rows: Measurement, **settings) -> Report:
    return Report(rows=list(rows), settings={"model": "cnn", "runs": 50, **settings})


def _one(before: Measurement, after: Measurement, **limits):
    comparison = compare_reports(_report(before), _report(after), CompareThresholds(**limits))
    assert len(comparison.rows) == 1
    return comparison.rows[0]


def test_identical_reports_have_no_regressions():
    report = _report(_row(), _row("pytorch", p50=3.0))
    comparison = compare_reports(report, report)
    assert comparison.regressions == [] and comparison.settings_changed == {}
    row = comparison.rows[0]
    assert row.presence is Presence.BOTH
    assert (row.accuracy_pp, row.p50_ratio, row.size_delta_bytes) == (0.0, 1.0, 0)


def test_deltas_are_after_minus_before():
    row = _one(_row(accuracy=0.98, agree=0.99, p50=2.0, size=1000, rss=80),
               _row(accuracy=0.975, agree=0.97, p50=1.5, size=900, rss=70))
    assert row.accuracy_pp == pytest.approx(-0.5)
    assert row.agreement_pp == pytest.approx(-2.0)
    assert row.p50_ratio == pytest.approx(0.75) and row.p50_change_pct == pytest.approx(-25)
    assert row.size_delta_bytes == -100 and row.peak_rss_delta_mb == pytest.approx(-10)
    # -0.5 pp is exactly the threshold: not a regression; 1.33x faster is an improvement.
    assert row.regressions == ()
    assert "p50 1.33× faster" in row.improvements and "size -100 B" in row.improvements


@pytest.mark.parametrize("after, expected", [
    (_row(accuracy=0.97), "accuracy -1.00 pp"),
    (_row(p50=1.2), "p50 1.20× slower"),
    (_row(size=1001), "size +1 B"),
    (_row(status="failed", reason="boom"), "now failed: boom"),
])
def test_each_regression_rule(after, expected):
    row = _one(_row(), after)
    assert row.regressions == (expected,)


def test_below_thresholds_is_not_a_regression():
    row = _one(_row(), _row(accuracy=0.977, p50=1.09))
    assert row.regressions == () and row.improvements == ()


def test_thresholds_are_configurable():
    before, after = _row(), _row(accuracy=0.97, p50=1.2, size=1040)
    assert len(_one(before, after).regressions) == 3
    assert _one(before, after, accuracy_pp=2, latency_pct=25, size_pct=5).regressions == ()
    assert _one(before, after, latency_pct=5).regressions[1] == "p50 1.20× slower"


def test_a_byte_identical_artifact_is_never_slower_or_faster():
    # the case: the same sha256 measured 1.28x slower (noise), and 59.83x faster
    slower = _one(_row(p50=1.0, sha="ab"), _row(p50=1.28, sha="ab"))
    faster = _one(_row(p50=59.83, sha="cd"), _row(p50=1.0, sha="cd"))
    assert slower.regressions == () and faster.improvements == ()
    assert slower.p50_ratio == pytest.approx(1.28)  # the figure is still shown


def test_latency_within_noise_is_not_a_regression():
    # 20 % slower, but the 95 % intervals overlap: not a real difference
    noisy = _one(_row(p50=1.0, spread=0.15), _row(p50=1.2, spread=0.15))
    assert noisy.regressions == ()
    clear = _one(_row(p50=1.0, spread=0.05), _row(p50=1.2, spread=0.05))
    assert clear.regressions == ("p50 1.20× slower",)
    # reports without intervals (a single run) never call a latency difference
    bare = _one(Measurement("cpu", "fp32", latency_ms={"p50": 1.0}),
                Measurement("cpu", "fp32", latency_ms={"p50": 3.0}))
    assert bare.regressions == ()


def test_every_setting_that_changed_is_listed_nested_ones_by_dotted_name():
    before = _report(_row(), compression={"method": "minmax", "prune": {"sparsity": 0.5}},
                     train={"lr": 0.002})
    after = _report(_row(), compression={"method": "entropy", "prune": {"sparsity": 0.7}},
                    train={"lr": 0.002})
    changed = compare_reports(before, after).settings_changed
    assert changed == {"compression.method": ("minmax", "entropy"),
                       "compression.prune.sparsity": (0.5, 0.7)}


def test_bad_thresholds_are_rejected():
    with pytest.raises(BadInputError, match="accuracy_pp=-1.0, latency_pct=nan"):
        CompareThresholds(accuracy_pp=-1.0, latency_pct=float("nan"))


def test_added_removed_and_recovered_rows():
    before = _report(_row("cpu"), _row("gpu", status="skipped", reason="no GPU"),
                     _row("snn-fast"), runs=50)
    after = _report(_row("cpu"), _row("gpu"), _row("cpu", "int8-static"), runs=200)
    comparison = compare_reports(before, after)
    presence = {(r.target, r.variant): r.presence for r in comparison.rows}
    assert presence == {("cpu", "fp32"): Presence.BOTH, ("gpu", "fp32"): Presence.BOTH,
                        ("snn-fast", "fp32"): Presence.REMOVED,
                        ("cpu", "int8-static"): Presence.ADDED}
    gpu = next(r for r in comparison.rows if r.target == "gpu")
    assert gpu.improvements == ("was skipped, now ok",) and gpu.regressions == ()
    assert comparison.regressions == []
    assert comparison.settings_changed == {"runs": (50, 200)}


def test_missing_figures_give_no_delta():
    row = _one(_row(accuracy=None, p50=None), _row())
    assert row.accuracy_pp is None and row.p50_ratio is None and row.regressions == ()


def test_to_dict_is_json():
    comparison = compare_reports(_report(_row(), _row("tflite")),
                                 _report(_row(accuracy=0.9), _row("gpu")))
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["regression_count"] == 1
    assert [r["presence"] for r in data["rows"]] == ["both", "removed", "added"]
    assert data["rows"][0]["regressions"] == ["accuracy -8.00 pp"]
    assert data["rows"][0]["before"]["accuracy"] == 0.98


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


@pytest.fixture
def report_files(tmp_path):
    before = _report(_row(), _row("pytorch", p50=3.0))
    after = _report(_row(p50=1.5), _row("pytorch", p50=3.0))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.json").write_text(before.to_json())
    (tmp_path / "b.json").write_text(after.to_json())
    return tmp_path / "a", tmp_path / "b.json"


def test_cli_shows_the_table_and_exits_0(report_files, capsys):
    assert main(["compare", *map(str, report_files)]) == 0
    out = capsys.readouterr().out
    assert "p50 1.50× slower" in out and "1 regression(s)" in out


def test_cli_fail_on_regression_exits_3(report_files, capsys):
    assert main(["compare", *map(str, report_files), "--fail-on-regression"]) == 3
    assert "edgenn: 1 regression(s): cpu-fp32" in capsys.readouterr().err
    assert main(["compare", *map(str, report_files), "--fail-on-regression",
                 "--latency-threshold", "60"]) == 0


def test_cli_json(report_files, capsys):
    assert main(["compare", *map(str, report_files), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["regression_count"] == 1 and data["thresholds"]["latency_pct"] == 10.0
    assert "edgenn compare" in captured.err  # the table went to stderr


def test_cli_bad_input(tmp_path, report_files, capsys):
    good = str(report_files[1])
    assert main(["compare", str(tmp_path / "missing.json"), good]) == 2
    assert "report not found" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["compare", str(tmp_path / "junk.json"), good]) == 2
    assert "not an edgenn report.json" in capsys.readouterr().err
    (tmp_path / "v9.json").write_text(json.dumps({"schema_version": 9, "rows": []}))
    assert main(["compare", good, str(tmp_path / "v9.json")]) == 2
    assert "report schema version 9 is not supported" in capsys.readouterr().err
    assert main(["compare", good, good, "--accuracy-threshold", "-1"]) == 2
    assert "must be finite and >= 0: accuracy_pp=-1.0" in capsys.readouterr().err


def test_cli_help_documents_exit_3(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["compare", "--help"])
    assert exited.value.code == 0
    assert "3 regressions found and --fail-on-regression given" in capsys.readouterr().out
