"""report.html laid out by a real browser (headless chromium over the DevTools protocol)
at a phone's width (420 CSS px, as a mobile device) and at a desktop's (1280 px): no
column cut off, nothing wider than the screen, every figure inside it.

The page's own load script writes what the browser laid out onto <body> (html_style.py):
the page's scroll width, how many comparison-table cells lie wholly inside the screen
(and inside the table's scroll frame), and how many cards, figures and images stick out.
"""

from __future__ import annotations

import pytest

from edgenn.report.html import write_html


@pytest.fixture
def page_url(tmp_path, verdict_report, make_row) -> str:
    # The widest table the page makes: every optional column, badges, long reasons, and
    # a row measured on a device (`--device`), under a line that names the device.
    verdict_report.rows[-1].reason = ("UnsupportedOperatorError: a very long reason from a "
                                      "runtime, with a path /opt/vendor/lib/libdelegate.so")
    verdict_report.rows[1].extra["note"] = "sha256 " + "0123456789abcdef" * 16  # no break
    verdict_report.rows.append(make_row(
        "cpu@phone", "fp32", 0.9861, 0.05, 155_482, device={
            "name": "phone", "arch": "aarch64", "system": "Linux 6.1 (Android 15)",
            "cpu": "Cortex-A76 × 4 + Cortex-A55 × 4", "cores": 8}))
    return write_html(verdict_report, tmp_path / "out").resolve().as_uri()


def test_phone_width_shows_every_column_and_figure(devtools, page_url, tmp_path):
    laid_out = devtools.open(page_url, width=420, height=900, mobile=True,
                             screenshot=tmp_path / "phone.png")
    assert laid_out["viewportWidth"] == "420"
    assert int(laid_out["scrollWidth"]) <= 420, laid_out  # no sideways scrolling
    assert laid_out["rowDisplay"] == "grid"  # the table became one card per row
    assert int(laid_out["cellsTotal"]) == 10 * 15
    assert laid_out["cellsInside"] == laid_out["cellsTotal"], laid_out  # no column cut off
    assert laid_out["blocksOutside"] == "0", laid_out  # figures and cards fit the screen
    assert laid_out["imagesDecoded"] == laid_out["imagesTotal"] == "5"
    assert (tmp_path / "phone.png").stat().st_size > 10_000


def test_desktop_width_keeps_the_table(devtools, page_url):
    laid_out = devtools.open(page_url, width=1280, height=900, mobile=False)
    assert laid_out["viewportWidth"] == "1280"
    assert int(laid_out["scrollWidth"]) <= 1280, laid_out
    assert laid_out["rowDisplay"] == "table-row"
    assert laid_out["cellsInside"] == laid_out["cellsTotal"], laid_out
    assert laid_out["blocksOutside"] == "0", laid_out
    assert laid_out["imagesDecoded"] == laid_out["imagesTotal"] == "5"


def test_the_confusion_menu_shows_one_variant_or_all(devtools, page_url):
    shown = ("Array.from(document.querySelectorAll('figure.cm'))"
             ".filter(f => f.getBoundingClientRect().height > 0).map(f => f.dataset.label)")
    pick = ("(() => { const s = document.getElementById('cm-select'); s.value = '{label}';"
            " s.dispatchEvent(new Event('change')); return " + shown + "; })()")
    every = devtools.open(page_url, 420, 900, True, then=shown)["then"]
    assert len(every) == 7 and "cpu-int8-static" in every
    one = devtools.open(page_url, 420, 900, True,
                        then=pick.replace("{label}", "cpu-int8-static"))["then"]
    assert one == ["cpu-int8-static"]
    again = devtools.open(page_url, 420, 900, True, then=pick.replace("{label}", ""))["then"]
    assert again == every
