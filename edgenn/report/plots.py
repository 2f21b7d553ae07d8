"""The figures of report.html, drawn with matplotlib (Agg canvas) and returned as PNG bytes.

Every figure is built from a `Report` alone, so `edgenn report`-style tools can redraw
them from `report.json` at any time. A figure whose data is absent (no spiking row) is
left out, never drawn empty. Every figure colours a row by its target with
`palette.target_color`, the colour the HTML table uses. No pyplot: each figure owns its
canvas, so nothing global changes. (Confusion matrices are HTML tables, in
`confusion_html.py`.)
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgenn.core.results import Measurement, Report
from edgenn.report.palette import target_colors
from edgenn.report.plot_data import (
    REFERENCE_TARGET,
    accuracy_by_timesteps,
    find_confusion_matrix,
    pareto_front,
    pareto_rows,
    spike_counts_by_layer,
    training_curve,
)
from edgenn.report.table import human_bytes

__all__ = ["Plot", "accuracy_by_timesteps", "find_confusion_matrix",
           "pareto_front", "pareto_rows", "report_plots", "spike_counts_by_layer"]

LINE_STYLES = ("-", "--", ":", "-.")  # rows of one target in a line plot: same colour

DPI = 110
MAX_LABELLED_POINTS = 10  # beyond this the accuracy-latency plot labels front points only


@dataclass(frozen=True)
class Plot:
    """One rendered figure: a stable key (used as the HTML id), a title, a caption, PNG,
    and the entries of its legend, if it has one."""

    key: str
    title: str
    caption: str
    png: bytes
    legend: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def report_plots(report: Report) -> list[Plot]:
    """Every figure the report has data for, in page order."""
    builders: list[Callable[[], Plot | None]] = [
        lambda: accuracy_latency_plot(report),
        lambda: latency_distribution_plot(report),
        lambda: size_plot(report),
        lambda: timesteps_plot(report),
        lambda: spikes_plot(report),
        lambda: training_plot(report),
    ]
    return [plot for plot in (build() for build in builders) if plot is not None]


def accuracy_latency_plot(report: Report) -> Plot | None:
    rows = pareto_rows(report)
    if not rows:
        return None
    colors = target_colors(r.target for r in report.rows)
    fig, ax = _figure(7.2, 4.2)
    front = sorted((r.latency_ms["p50"], r.accuracy) for r, on in rows if on)
    if len(front) > 1:
        xs, ys = zip(*front, strict=True)
        ax.step(xs, ys, where="post", color="#9aa5b1", linewidth=1.5, zorder=1,
                label="Pareto front")
    for row, on_front in rows:
        ax.scatter(row.latency_ms["p50"], row.accuracy, s=80 if on_front else 45,
                   color=colors[row.target], marker="o" if on_front else "X",
                   edgecolor="#1f2933" if on_front else "none", linewidth=1.2, zorder=3)
    labels = [ax.annotate(row.label, (row.latency_ms["p50"], row.accuracy), fontsize=8,
                          textcoords="offset points", xytext=(7, 4), color="#323f4b")
              for row, on_front in rows if on_front or len(rows) <= MAX_LABELLED_POINTS]
    _log_if_wide(ax, [r.latency_ms["p50"] for r, _ in rows], "x")
    ax.set_xlabel("p50 latency per batch (ms)")
    ax.set_ylabel("top-1 accuracy")
    ax.margins(x=0.2)
    accuracies = [float(r.accuracy) for r, _ in rows]
    pad = max(0.01, (max(accuracies) - min(accuracies)) * 0.2)
    ax.set_ylim(min(accuracies) - pad, min(max(accuracies) + pad, 1.005))  # never far past 1
    ax.scatter([], [], s=80, color="#cbd2d9", edgecolor="#1f2933", label="on the front")
    ax.scatter([], [], s=45, color="#cbd2d9", marker="X", label="dominated")
    for target in dict.fromkeys(row.target for row, _ in rows):  # the colour legend
        ax.scatter([], [], s=45, color=colors[target], label=target)
    entries = len(ax.get_legend_handles_labels()[1])
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16),
                       ncol=min(entries, 5), fontsize=8, frameon=False)
    _spread_labels(fig, labels)
    names = ", ".join(r.label for r, on in rows if on)
    return Plot("pareto", "Accuracy against latency",
                f"Top-1 accuracy against p50 latency of every measured row, coloured by "
                f"target (legend below the axes). Circled points "
                f"are on the Pareto front (nothing is both faster and more accurate): "
                f"{names}." + ("" if len(rows) <= MAX_LABELLED_POINTS else
                               " Only front points are labelled; the table has every row."),
                _png(fig), tuple(text.get_text() for text in legend.get_texts()))


def latency_distribution_plot(report: Report) -> Plot | None:
    rows = [r for r in report.rows if r.status == "ok" and r.latency_samples_ms]
    if not rows:
        return None
    colors = target_colors(r.target for r in report.rows)
    fig, ax = _figure(7.2, 1.2 + 0.42 * len(rows))
    samples = [np.asarray(r.latency_samples_ms, dtype=float) for r in rows]
    positions = list(range(len(rows), 0, -1))
    import matplotlib

    # `orientation` replaced `vert` in matplotlib 3.10 (`vert` warns from 3.11).
    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    sideways = {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}
    boxes = ax.boxplot(samples, positions=positions, **sideways, widths=0.6, whis=(1, 99),
                       patch_artist=True, showfliers=True,
                       flierprops={"markersize": 3, "alpha": 0.5},
                       medianprops={"color": "#1f2933", "linewidth": 1.5})
    for index, (patch, row) in enumerate(zip(boxes["boxes"], rows, strict=True)):
        # Boxes of fast rows are a few pixels wide: edges, whiskers and caps in the
        # target's colour too, so that the colour shows (opaque: the table's exactly).
        patch.set_facecolor(colors[row.target])
        patch.set_edgecolor(colors[row.target])
        for line in (*boxes["whiskers"][2 * index:2 * index + 2],
                     *boxes["caps"][2 * index:2 * index + 2]):
            line.set_color(colors[row.target])
    ax.set_yticks(positions, [r.label for r in rows], fontsize=8)
    _log_if_wide(ax, [v for s in samples for v in s if v > 0], "x")
    ax.set_xlabel("latency per batch (ms)")
    batch = report.settings.get("batch_size")
    return Plot("latency", "Latency distributions",
                "Every timed run of run() per row: the box spans the quartiles, the line is "
                "the median, whiskers reach the 1st and 99th percentiles, dots are outliers"
                + (f"; batch size {batch}." if batch else "."), _png(fig))


def size_plot(report: Report) -> Plot | None:
    rows = [r for r in report.rows if r.size_bytes is not None]
    if not rows:
        return None
    colors = target_colors(r.target for r in report.rows)
    fig, ax = _figure(7.2, 1.2 + 0.38 * len(rows))
    positions = list(range(len(rows), 0, -1))
    sizes = [r.size_bytes / 1024 for r in rows]
    ax.barh(positions, sizes, color=[colors[r.target] for r in rows], height=0.6)
    for y, row, kib in zip(positions, rows, sizes, strict=True):
        ax.text(kib, y, " " + human_bytes(row.size_bytes), va="center", fontsize=8,
                color="#323f4b")
    ax.set_yticks(positions, [r.label for r in rows], fontsize=8)
    ax.set_xlabel("size on disk (KiB), every file the artifact needs")
    ax.set_xlim(0, max(sizes) * 1.22 or 1)
    return Plot("size", "Size per variant",
                "Bytes on disk of each compiled artifact, external data included.", _png(fig))


def timesteps_plot(report: Report) -> Plot | None:
    series = [(r, accuracy_by_timesteps(r.extra.get("accuracy_vs_timesteps")))
              for r in report.rows]
    series = [(r, pairs) for r, pairs in series if pairs]
    if not series:
        return None
    colors = target_colors(r.target for r in report.rows)
    fig, ax = _figure(7.2, 4.0)
    styles = _line_styles(series)
    for row, pairs in series:
        xs, ys = zip(*pairs, strict=True)
        ax.plot(xs, ys, marker="o", label=row.label, color=colors[row.target],
                linestyle=styles[id(row)])
    reference = next((r for r in report.rows if r.target == REFERENCE_TARGET
                      and r.accuracy is not None), None)
    if reference is not None:
        ax.axhline(reference.accuracy, color="#7b8794", linestyle="--", linewidth=1,
                   label=f"{reference.label} (reference)")
    steps = [t for _, pairs in series for t, _ in pairs]
    if min(steps) > 0 and max(steps) / min(steps) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("top-1 accuracy")
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return Plot("timesteps", "Spiking: accuracy against timesteps",
                "Accuracy of the spiking network when it is read out after T timesteps; "
                "more timesteps cost latency and energy.", _png(fig))


def spikes_plot(report: Report) -> Plot | None:
    series = [(r, spike_counts_by_layer(r.extra.get("spikes_per_layer"))) for r in report.rows]
    series = [(r, counts) for r, counts in series if counts]
    if not series:
        return None
    colors = target_colors(r.target for r in report.rows)
    layers = list(dict.fromkeys(layer for _, counts in series for layer in counts))
    # One panel per row, each with its own scale: targets report counts or rates.
    fig, axes = _figure(7.2, 0.9 + 2.3 * len(series), panels=len(series))
    axes = axes if len(series) > 1 else [axes]
    for ax, (row, counts) in zip(axes, series, strict=True):
        values = [counts.get(layer, 0.0) for layer in layers]
        ax.bar(range(len(layers)), values, width=0.6, color=colors[row.target])
        ax.set_ylabel(row.label, fontsize=8)
        ax.set_xticks(range(len(layers)), layers if ax is axes[-1] else [""] * len(layers),
                      fontsize=8, rotation=30 if len(layers) > 5 else 0,
                      ha="right" if len(layers) > 5 else "center")
    axes[-1].set_xlabel("layer")
    return Plot("spikes", "Spiking: spikes per layer",
                "Spikes each layer emitted on the test split, as each target reports them "
                "(counts or rates, one panel per row); fewer spikes mean fewer synaptic "
                "operations and less energy.", _png(fig))


# ---------------------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------------------


def training_plot(report: Report) -> Plot | None:
    curves = training_curve(report.extra.get("training"))
    if not curves:
        return None
    fig, (loss_ax, acc_ax) = _figure(7.2, 5.2, panels=2)
    styles = {"train_loss": (loss_ax, "train", "-"), "val_loss": (loss_ax, "validation", "--"),
              "train_accuracy": (acc_ax, "train", "-"),
              "val_accuracy": (acc_ax, "validation", "--")}
    for key, points in curves.items():
        ax, label, line = styles[key]
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, line, marker="o", markersize=3, label=label)
    source = report.extra.get("source") or {}
    best = source.get("kept_epoch") if isinstance(source, Mapping) else None
    for ax, name in ((loss_ax, "loss"), (acc_ax, "top-1 accuracy")):
        if isinstance(best, (int, float)) and not isinstance(best, bool):
            ax.axvline(best, color="#7b8794", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend(fontsize=8, frameon=False)
    kept = f" The dotted line marks the epoch kept (epoch {best})." if best else ""
    return Plot("training", "Training curve",
                "Loss and accuracy per epoch on the training and validation splits." + kept,
                _png(fig))


def _figure(width: float, height: float, panels: int = 1):
    """A figure on its own Agg canvas: (fig, ax), or (fig, [ax, ...]) stacked with panels > 1."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0])
    for ax in axes:
        ax.grid(True, color="#e4e7eb", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, (axes[0] if panels == 1 else axes)


def _spread_labels(fig, labels: Sequence[Any]) -> None:
    """Give each point label the first spot around its point that no other label covers."""
    if len(labels) < 2:
        return
    fig.canvas.draw()  # lays the figure out so the labels' extents are final
    renderer = fig.canvas.get_renderer()
    frame = labels[0].axes.get_window_extent(renderer)
    spots = ((7, 4, "left"), (7, -11, "left"), (-7, 4, "right"), (-7, -11, "right"),
             (0, 11, "center"), (0, -17, "center"))
    placed = []
    for label in sorted(labels, key=lambda t: -t.get_window_extent(renderer).y1):
        for x, y, align in spots:
            label.xyann = (x, y)
            label.set_horizontalalignment(align)
            box = label.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            if inside and not any(box.overlaps(other) for other in placed):
                break
        else:
            label.xyann = spots[0][:2]
            label.set_horizontalalignment("left")
            box = label.get_window_extent(renderer)
        placed.append(box)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _line_styles(series: Sequence[tuple[Measurement, Any]]) -> dict[int, str]:
    """A line style per row: rows of one target share its colour and differ by style."""
    seen: dict[str, int] = {}
    styles = {}
    for row, _ in series:
        index = seen.get(row.target, 0)
        seen[row.target] = index + 1
        styles[id(row)] = LINE_STYLES[index % len(LINE_STYLES)]
    return styles


def _log_if_wide(ax, values: Sequence[float], axis: str) -> None:
    """Log scale when values span more than ~a decade, ticked with plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values if v > 0]
    if not positive or max(positive) / min(positive) <= 8:
        return
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    scale = ax.xaxis if axis == "x" else ax.yaxis
    narrow = max(positive) / min(positive) < 100
    scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    scale.set_minor_formatter(NullFormatter())
