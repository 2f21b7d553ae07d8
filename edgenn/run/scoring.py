"""Scoring outputs against labels and against the reference: top-1 agreement, max abs
error, SNR, and the confusion matrix. Pure NumPy; the harness and the pipeline share it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edgenn.core import BadInputError, predicted_classes


def agreement(outputs: np.ndarray, reference: np.ndarray, comparable: bool = True
              ) -> dict[str, float | None]:
    """Agreement with the reference: top-1 match rate (class scores, N×C), and when the
    outputs are on the reference's scale, max abs error, SNR (dB) and the mean cosine
    similarity per sample — the measures for regression, embeddings and images out."""
    top1 = None
    if outputs.ndim == 2 and reference.ndim == 2 and len(outputs) == len(reference):
        top1 = float(np.mean(predicted_classes(outputs) == predicted_classes(reference)))
    if not comparable or outputs.shape != reference.shape:
        return {"top1_agreement": top1, "max_abs_error": None, "snr_db": None,
                "cosine_similarity": None}
    out64, ref64 = outputs.astype(np.float64), reference.astype(np.float64)
    noise = float(np.sum((out64 - ref64) ** 2))
    signal = float(np.sum(ref64**2))
    snr = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)
    flat_out, flat_ref = out64.reshape(len(out64), -1), ref64.reshape(len(ref64), -1)
    norms = np.linalg.norm(flat_out, axis=1) * np.linalg.norm(flat_ref, axis=1)
    cosine = np.where(norms > 0, np.sum(flat_out * flat_ref, axis=1) / np.maximum(norms, 1e-300),
                      np.where(np.all(flat_out == flat_ref, axis=1), 1.0, 0.0))
    return {"top1_agreement": top1, "max_abs_error": float(np.max(np.abs(out64 - ref64))),
            "snr_db": snr if math.isfinite(snr) else None,
            "cosine_similarity": float(np.mean(cosine))}


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes), int64; rows are the true class, columns predicted."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise BadInputError(f"confusion matrix: {y_true.size} labels but {y_pred.size} "
                            "predictions")
    if num_classes < 1:
        raise BadInputError(f"confusion matrix: num_classes must be >= 1, got {num_classes}")
    for name, values in (("labels", y_true), ("predictions", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise BadInputError(f"confusion matrix: {name} must lie in [0, {num_classes}), "
                                f"got [{values.min()}, {values.max()}]")
    flat = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)
