"""One colour per target, the same in every view: the HTML table, every figure, every report.

A colour that depends on the order rows happen to come in (the n-th target gets the n-th
colour) changes from one report to the next, so that `tflite` is orange in one report and
blue in another. Here the known targets have fixed colours, and any other name (a target
from an entry point) gets one picked by a hash of the name itself — sha256, never Python's
`hash()`, which changes between processes — so the same name always gets the same colour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Fixed colours of the built-in targets (matplotlib's tab10 hues, assigned by hand so that
# the reference stands apart and the two runtimes of each family are neighbours).
KNOWN_TARGET_COLORS: dict[str, str] = {
    "pytorch": "#8c564b",     # brown: the fp32 reference
    "cpu": "#1f77b4",         # blue: ONNX Runtime CPU
    "ort-mobile": "#17becf",  # cyan: ONNX Runtime Mobile, the same runtime family
    "gpu": "#2ca02c",         # green
    "tflite": "#ff7f0e",      # orange
    "snn-fast": "#9467bd",    # purple: the spiking simulators
    "snn-brian2": "#e377c2",  # pink
}

# Colours for any other target, chosen by hash; none repeats a known target's colour.
EXTRA_COLORS: tuple[str, ...] = (
    "#bcbd22", "#d62728", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39",
    "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
)


def target_color(target: str) -> str:
    """The colour of `target` as '#rrggbb': fixed for built-in targets, else by name hash."""
    known = KNOWN_TARGET_COLORS.get(target)
    if known is not None:
        return known
    digest = hashlib.sha256(target.encode("utf-8")).digest()
    return EXTRA_COLORS[int.from_bytes(digest[:4], "big") % len(EXTRA_COLORS)]


def target_colors(targets: Iterable[str]) -> dict[str, str]:
    """{target: colour} for every distinct name in `targets`, in first-seen order."""
    return {target: target_color(target) for target in dict.fromkeys(targets)}


def rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple of 0–255 integers."""
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
