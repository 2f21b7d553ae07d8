"""One colour per target: fixed for the built-in targets, by name hash for the rest, the
same in the HTML table and in every figure, whatever else the report holds."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from edgenn.core.results import Report
from edgenn.report.html import render_html
from edgenn.report.palette import KNOWN_TARGET_COLORS, rgb, target_color, target_colors
from edgenn.report.plots import (
    accuracy_latency_plot,
    latency_distribution_plot,
    size_plot,
)

BUILT_IN = ("pytorch", "cpu", "ort-mobile", "gpu", "tflite", "snn-fast", "snn-brian2")


def test_every_built_in_target_has_its_own_fixed_colour():
    assert set(KNOWN_TARGET_COLORS) == set(BUILT_IN)
    colours = [target_color(t) for t in BUILT_IN]
    assert len(set(colours)) == len(colours)
    assert target_color("tflite") == "#ff7f0e" and target_color("cpu") == "#1f77b4"


def test_other_targets_get_the_same_colour_in_every_process():
    # Python's hash() of a str changes with PYTHONHASHSEED; the palette must not.
    script = ("from edgenn.report.palette import target_color; "
              "print(target_color('my-npu'), target_color('vendor.dsp'))")
    seen = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert seen == {f"{target_color('my-npu')} {target_color('vendor.dsp')}\n"}
    assert target_color("my-npu") not in KNOWN_TARGET_COLORS.values()


def test_colours_do_not_depend_on_the_other_rows():
    assert target_colors(["tflite"]) == {"tflite": "#ff7f0e"}
    assert target_colors(["pytorch", "cpu", "tflite", "cpu"])["tflite"] == "#ff7f0e"
    assert list(target_colors(["b", "a", "b"])) == ["b", "a"]


def _pixels(png: bytes) -> set[tuple[int, int, int]]:
    from matplotlib.image import imread

    image = imread(io.BytesIO(png), format="png")[..., :3]
    values = np.round(image.reshape(-1, 3) * 255).astype(int)
    return {tuple(v) for v in np.unique(values, axis=0)}


@pytest.mark.parametrize("draw", [accuracy_latency_plot, latency_distribution_plot, size_plot])
def test_figures_draw_each_target_in_its_palette_colour(draw, sample_report, make_row):
    drawn = _pixels(draw(sample_report).png)
    for target in ("pytorch", "cpu", "tflite", "snn-fast", "snn-brian2"):
        assert rgb(target_color(target)) in drawn, (draw.__name__, target)
    # A report holding tflite alone draws it in the same orange, not the first colour.
    alone = Report(rows=[make_row("tflite", "fp32", 0.98, 0.02, 1000)])
    assert rgb(target_color("tflite")) in _pixels(draw(alone).png)
    assert rgb(target_color("cpu")) not in _pixels(draw(alone).png)


def test_accuracy_latency_plot_has_a_colour_legend_of_its_targets(sample_report):
    plot = accuracy_latency_plot(sample_report)
    for target in ("pytorch", "cpu", "tflite", "snn-fast", "snn-brian2"):
        assert target in plot.legend
    assert "gpu" not in plot.legend  # skipped: not on the plot, not in its legend
    assert {"Pareto front", "on the front", "dominated"} <= set(plot.legend)


def test_html_rows_wear_their_targets_colour(sample_report, parse_page):
    page = render_html(sample_report, [])
    for row in parse_page(page).body_rows:
        assert f"--target-color:{target_color(row['data-target'])}" in row["style"]
    assert f'<span class="swatch" style="background:{target_color("tflite")}">' in page


def test_the_accuracy_latency_figure_has_its_colour_key_as_page_text(sample_report):
    plots = [accuracy_latency_plot(sample_report)]
    page = render_html(sample_report, plots)
    key = page[page.index('<ul class="colour-key"'):]
    key = key[:key.index("</ul>")]
    for target in ("pytorch", "cpu", "tflite", "snn-fast", "snn-brian2"):
        assert (f'<span class="swatch" style="background:{target_color(target)}"></span>'
                f"{target}</li>") in key
    assert "gpu" not in key and "dominated" not in key
