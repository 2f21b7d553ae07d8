"""report.html and its figures: Pareto front, confusion matrices, the spiking extras'
shapes, a self-contained page, and the page opened in a real headless browser (Debian's
chromium). Reports are built by hand (conftest.py); the page at phone and desktop widths
is tested in test_html_layout.py, the table's verdicts in test_html_table.py.
"""

from __future__ import annotations

import base64
import re
import shutil

import numpy as np
import pytest

from edgenn.core import BadInputError
from edgenn.core.results import Measurement, Report
from edgenn.report.html import write_html
from edgenn.report.plots import (
    accuracy_by_timesteps,
    find_confusion_matrix,
    pareto_front,
    report_plots,
    spike_counts_by_layer,
)
from edgenn.run.scoring import confusion_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------


def test_pareto_front_marks_non_dominated_points():
    points = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.94), (0.5, 0.80), (2.0, 0.93)]
    assert pareto_front(points) == [True, True, False, True, False]


def test_pareto_front_ties():
    # Identical points do not dominate each other; equal latency with lower accuracy does.
    assert pareto_front([(1.0, 0.9), (1.0, 0.9)]) == [True, True]
    assert pareto_front([(1.0, 0.9), (1.0, 0.8)]) == [True, False]
    assert pareto_front([(1.0, 0.9), (2.0, 0.9)]) == [True, False]
    assert pareto_front([]) == []


def test_pareto_front_rejects_nan():
    with pytest.raises(BadInputError, match="non-finite point"):
        pareto_front([(float("nan"), 0.9)])


def test_confusion_matrix_matches_sklearn():
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 300), rng.integers(0, 10, 300)
    ours = confusion_matrix(y_true, y_pred, 10)
    assert ours.dtype == np.int64 and ours.shape == (10, 10)
    np.testing.assert_array_equal(ours, sk_confusion(y_true, y_pred, labels=range(10)))
    # Classes never seen still get a row and a column.
    np.testing.assert_array_equal(confusion_matrix([0, 0], [0, 1], 3),
                                  [[1, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_confusion_matrix_bad_input():
    with pytest.raises(BadInputError, match="3 labels but 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1], 3)
    with pytest.raises(BadInputError, match=r"predictions must lie in \[0, 3\)"):
        confusion_matrix([0, 1], [0, 3], 3)


@pytest.mark.parametrize("shape", [
    {"8": 0.5, "32": 0.9, "16": 0.8},
    [{"timesteps": 8, "accuracy": 0.5}, {"timesteps": 32, "accuracy": 0.9},
     {"timesteps": 16, "accuracy": 0.8}],
    [[16, 0.8], [8, 0.5], [32, 0.9]],
    {"timesteps": [8, 16, 32], "accuracy": [0.5, 0.8, 0.9]},
])
def test_accuracy_by_timesteps_shapes(shape):
    assert accuracy_by_timesteps(shape) == [(8.0, 0.5), (16.0, 0.8), (32.0, 0.9)]


@pytest.mark.parametrize("junk", [None, "fast", 3, [], {"a": "b"}, [{"x": 1}]])
def test_accuracy_by_timesteps_junk_is_empty(junk):
    assert accuracy_by_timesteps(junk) == []


@pytest.mark.parametrize("shape, expected", [
    ({"fc1": 10, "fc2": 3}, {"fc1": 10.0, "fc2": 3.0}),
    ({"fc1": {"count": 10, "rate": 0.1}, "fc2": {"rate": 0.3}}, {"fc1": 10.0, "fc2": 0.3}),
    ([{"layer": "fc1", "spikes": 4}, {"name": "fc2", "rate": 0.5}], {"fc1": 4.0, "fc2": 0.5}),
    ([["fc1", 7]], {"fc1": 7.0}),
    ({"fc1": None, "fc2": "many"}, {}),
    ("not spikes", {}),
])
def test_spike_counts_by_layer_shapes(shape, expected):
    result = spike_counts_by_layer(shape)
    assert result == expected and list(result) == list(expected)


def test_confusion_matrix_lookup_order(sample_report, make_row):
    report = sample_report
    matrix, names = find_confusion_matrix(report)  # from the reference row's extra
    assert matrix.shape == (10, 10) and names[3] == "3"
    report.extra["confusion_matrix"] = [[1, 0], [0, 1]]
    assert find_confusion_matrix(report)[0].shape == (2, 2)
    given = {"confusion_matrix": [[5, 1, 0], [0, 6, 0], [0, 0, 7]], "class_names": list("abc")}
    matrix, names = find_confusion_matrix(report, given)
    assert matrix.shape == (3, 3) and names == ["a", "b", "c"]
    assert find_confusion_matrix(report, {"confusion_matrix": [1, 2, 3]})[0].shape == (2, 2)
    assert find_confusion_matrix(Report(rows=[make_row("cpu", "fp32", 0.9, 1.0, 10)])) is None


# ---------------------------------------------------------------------------------------
# Figures and page
# ---------------------------------------------------------------------------------------


def test_every_figure_is_drawn_for_a_full_report(sample_report):
    plots = report_plots(sample_report)
    assert [p.key for p in plots] == ["pareto", "latency", "size", "timesteps", "spikes"]
    for plot in plots:
        assert plot.png.startswith(PNG_SIGNATURE), plot.key
    pareto = plots[0]
    # tflite int8 is fastest; cpu int8 is dominated by it; pytorch is dominated by cpu fp32.
    assert "tflite-int8-static" in pareto.caption and "cpu-fp32" in pareto.caption
    assert "cpu-int8-static" not in pareto.caption and "pytorch-fp32" not in pareto.caption


def test_figures_without_data_are_left_out(make_row):
    report = Report(rows=[Measurement("gpu", "fp32", status="skipped", reason="no GPU")])
    assert report_plots(report) == []
    report.rows.append(make_row("cpu", "fp32", 0.9, 0.02, 1000))
    assert [p.key for p in report_plots(report)] == ["pareto", "latency", "size"]


def test_write_html_is_self_contained(tmp_path, sample_report, parse_page):
    report = sample_report
    path = write_html(report, tmp_path)
    assert path == tmp_path / "report.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no leftovers
    page = path.read_text(encoding="utf-8")
    parsed = parse_page(page)
    assert len(parsed.images) == 5
    for image in parsed.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(image["src"].split(",", 1)[1]).startswith(PNG_SIGNATURE)
        assert image["alt"]
    assert parsed.links == [] and parsed.scripts_with_src == 0
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "default-src 'none'" in page
    labels = [(r["data-target"], r["data-variant"]) for r in parsed.body_rows]
    assert labels == [(r.target, r.variant) for r in report.rows]
    # Reasons are escaped, never markup; front rows are starred.
    assert "&lt;and&gt;" in page and "<and>" not in page
    assert "front" in parsed.body_rows[1]["class"] and "front" not in parsed.body_rows[2]["class"]
    assert "outputs are spike counts" in page  # the row's note


def test_write_html_extra_confusion_matrix_and_empty_report(tmp_path, parse_page):
    empty = Report()
    page = write_html(empty, tmp_path / "empty").read_text(encoding="utf-8")
    assert "no rows measured" in page and parse_page(page).images == []
    assert 'id="confusion"' not in page and 'id="verdict"' not in page
    extra = {"confusion_matrix": [[3, 1], [0, 4]], "class_names": ["cat", "dog"]}
    page = write_html(empty, tmp_path / "cm", extra=extra).read_text(encoding="utf-8")
    assert "Reference model: confusion matrix" in page
    assert 'title="true cat, predicted dog: 1 (25.0% of class cat)"' in page


# ---------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------

def test_report_renders_in_headless_chromium(tmp_path, sample_report, browse, parse_page):
    report = sample_report
    page = write_html(report, tmp_path / "out")
    url = page.resolve().as_uri()

    dom = browse(tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None, dom.stdout[:2000]
    total = re.search(r'data-images-total="(\d+)"', body.group(1))
    decoded = re.search(r'data-images-decoded="(\d+)"', body.group(1))
    assert total and decoded, f"the load script did not run: {body.group(0)[:300]}"
    assert int(total.group(1)) == 5
    assert int(decoded.group(1)) == int(total.group(1))
    parsed = parse_page(dom.stdout)
    assert [(r["data-target"], r["data-variant"]) for r in parsed.body_rows] == [
        (r.target, r.variant) for r in report.rows]

    shot = tmp_path / "page.png"
    result = browse(tmp_path / "profile-shot", "--virtual-time-budget=5000",
                    "--window-size=1280,2400", f"--screenshot={shot}", url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes().startswith(PNG_SIGNATURE)


def test_missing_chromium_skips_only_outside_ci(monkeypatch, find_chromium):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed but CI is set"):
        find_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="install_chromium.sh installs it"):
        find_chromium()


def test_the_training_curve_is_plotted_from_the_reports_history(make_row):
    from edgenn.report.plot_data import training_curve

    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e,
                "train_accuracy": 1 - 0.5 / e, "val_accuracy": 1 - 0.6 / e}
               for e in range(1, 6)]
    report = Report(rows=[make_row("pytorch", "fp32", 0.98, 0.1, 1000)],
                    extra={"training": history, "source": {"kept_epoch": 4}})
    plots = {p.key: p for p in report_plots(report)}
    assert plots["training"].png.startswith(PNG_SIGNATURE)
    assert "epoch 4" in plots["training"].caption
    curves = training_curve(history + [{"epoch": "x"}, {"epoch": 6, "val_loss": None}])
    assert [e for e, _ in curves["val_loss"]] == [1, 2, 3, 4, 5]
    assert "training" not in {p.key for p in report_plots(Report(extra={"training": "junk"}))}
