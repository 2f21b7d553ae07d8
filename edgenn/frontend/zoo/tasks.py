"""Derived tasks on a data set: odd/even digits as a binary task for the BCE loss.

A binary task keeps the images and the split and replaces each label by `y % 2`
(1 = odd). Train it with a model that has one output logit and loss `bce`:

    data = binary_task(load_digits())
    model = build_model("cnn", data.sample_shape, BINARY_OUTPUTS)
    train(model, data, TrainConfig(loss="bce"))
"""

from __future__ import annotations

from dataclasses import replace

from edgenn.core import BadInputError
from edgenn.frontend.data import Dataset

BINARY_OUTPUTS = 1  # one logit: P(odd) = σ(logit); predicted class = logit > 0


def binary_task(dataset: Dataset) -> Dataset:
    """The same samples and split, labels `y % 2` (odd = 1), two classes."""
    if dataset.num_classes < 2:
        raise BadInputError(f"{dataset.name}: a binary task needs at least two classes, "
                            f"got {dataset.num_classes}")
    return replace(dataset, name=f"{dataset.name}-odd-even", y_train=dataset.y_train % 2,
                   y_val=dataset.y_val % 2, y_test=dataset.y_test % 2, num_classes=2)
