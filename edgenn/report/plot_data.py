"""The numbers behind the report's figures: Pareto front, confusion matrices, and the
spiking targets' extras normalised from whatever shape a target stored them in.

Pure functions on numpy and the report types; no matplotlib, so the pipeline can call
`confusion_matrix` without drawing anything.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgenn.core import BadInputError
from edgenn.core.results import Measurement, Report

log = logging.getLogger(__name__)

REFERENCE_TARGET = "pytorch"  # the fp32 PyTorch row every other row is compared against
_SPIKE_VALUE_KEYS = ("count", "spikes", "total", "rate", "spikes_per_neuron", "value")



def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points, whether each lies on the Pareto front.

    A point is dominated when another has lower-or-equal latency and higher-or-equal
    accuracy, one of them strictly; identical points do not dominate each other.
    """
    for latency, accuracy in points:
        if not (math.isfinite(latency) and math.isfinite(accuracy)):
            raise BadInputError(f"pareto front: non-finite point ({latency}, {accuracy})")
    flags = []
    for i, (latency, accuracy) in enumerate(points):
        dominated = any(
            j != i and other_lat <= latency and other_acc >= accuracy
            and (other_lat < latency or other_acc > accuracy)
            for j, (other_lat, other_acc) in enumerate(points))
        flags.append(not dominated)
    return flags


def pareto_rows(report: Report) -> list[tuple[Measurement, bool]]:
    """The rows with a status of ok, an accuracy and a p50, each with its front flag."""
    rows = [r for r in report.rows if r.status == "ok" and r.accuracy is not None
            and r.latency_ms.get("p50") is not None]
    flags = pareto_front([(float(r.latency_ms["p50"]), float(r.accuracy)) for r in rows])
    return list(zip(rows, flags, strict=True))


def accuracy_by_timesteps(data: Any) -> list[tuple[float, float]]:
    """Normalise `extra["accuracy_vs_timesteps"]` to sorted (timesteps, accuracy) pairs.

    Accepts {T: acc}, [{timesteps, accuracy}], [[T, acc]] and {timesteps: [...],
    accuracy: [...]}; anything else yields [] (the figure is then left out).
    """
    pairs: list[tuple[Any, Any]] = []
    if isinstance(data, Mapping):
        if "timesteps" in data and "accuracy" in data:
            pairs = list(zip(_as_list(data["timesteps"]), _as_list(data["accuracy"]),
                             strict=False))
        else:
            pairs = list(data.items())
    elif isinstance(data, (list, tuple)):
        for item in data:
            if isinstance(item, Mapping):
                pairs.append((item.get("timesteps", item.get("T")), item.get("accuracy")))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((item[0], item[1]))
    clean = [(t, a) for t, a in (_number_pair(p) for p in pairs) if t is not None]
    return sorted(clean)


def spike_counts_by_layer(data: Any) -> dict[str, float]:
    """Normalise `extra["spikes_per_layer"]` to {layer: value}, keeping the layer order.

    Accepts {layer: number}, {layer: {count|rate|...: number}} and [{layer, count|rate}];
    entries without a number are dropped.
    """
    items: list[tuple[Any, Any]] = []
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, (list, tuple)):
        for index, item in enumerate(data):
            if isinstance(item, Mapping):
                items.append((item.get("layer", item.get("name", index)), item))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                items.append((item[0], item[1]))
    out: dict[str, float] = {}
    for layer, value in items:
        if isinstance(value, Mapping):
            value = next((value[k] for k in _SPIKE_VALUE_KEYS if k in value), None)
        number = _finite(value)
        if number is not None:
            out[str(layer)] = number
    return out


def find_confusion_matrix(report: Report, extra: Mapping[str, Any] | None = None
                          ) -> tuple[np.ndarray, list[str]] | None:
    """The reference model's confusion matrix and class names, wherever they were put.

    Looked up in `extra`, then `report.extra`, then the reference row's `extra`.
    """
    reference = [r for r in report.rows if r.target == REFERENCE_TARGET]
    for source in (extra or {}, report.extra, *(r.extra for r in reference)):
        array = _square_matrix(source.get("confusion_matrix"))
        if array is not None:
            return array, _class_names(source, report.extra, array.shape[0])
    return None


@dataclass(frozen=True)
class ConfusionView:
    """One confusion matrix to show: whose it is (a row label, or "reference"), the counts
    (rows = true class) and the class names."""

    label: str
    target: str  # the row's target ("" for the report-level reference matrix)
    matrix: np.ndarray
    class_names: list[str]


def confusion_views(report: Report, extra: Mapping[str, Any] | None = None
                    ) -> list[ConfusionView]:
    """A confusion matrix per measured row that carries one (`row.extra`), in table order;
    when no row does, the report-level reference matrix alone; [] when there is none."""
    views = []
    for row in report.rows:
        if row.status != "ok":
            continue
        array = _square_matrix(row.extra.get("confusion_matrix"))
        if array is not None:
            names = _class_names(row.extra, report.extra, array.shape[0])
            views.append(ConfusionView(row.label, row.target, array, names))
    if views:
        return views
    found = find_confusion_matrix(report, extra)
    if found is None:
        return []
    return [ConfusionView("reference", "", found[0], found[1])]


def _square_matrix(value: Any) -> np.ndarray | None:
    """`value` as a non-empty square float array, or None (logged) when it is not one."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        log.warning("confusion_matrix is not numeric; left out of the report")
        return None
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.size == 0:
        log.warning("confusion_matrix of shape %s is not square; left out", array.shape)
        return None
    if not np.all(np.isfinite(array)):
        log.warning("confusion_matrix has non-finite counts; left out")
        return None
    return array


def _class_names(*sources_and_size: Any) -> list[str]:
    """Class names from the first source that has as many as the matrix is wide."""
    *sources, size = sources_and_size
    for source in sources:
        names = [str(n) for n in source.get("class_names") or []]
        if len(names) == size:
            return names
    return [str(i) for i in range(size)]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number_pair(pair: tuple[Any, Any]) -> tuple[float | None, float | None]:
    first, second = _finite(pair[0]), _finite(pair[1])
    return (first, second) if first is not None and second is not None else (None, None)


TRAINING_SERIES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


def training_curve(data: Any) -> dict[str, list[tuple[float, float]]]:
    """{series: [(epoch, value)]} from report.extra["training"] (one record per epoch);
    records or values that are not finite numbers are left out."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for record in _as_list(data):
        if not isinstance(record, Mapping):
            continue
        epoch = _finite(record.get("epoch"))
        if epoch is None:
            continue
        for key in TRAINING_SERIES:
            value = _finite(record.get(key))
            if value is not None:
                curves.setdefault(key, []).append((epoch, value))
    return curves
