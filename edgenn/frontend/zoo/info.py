"""What the zoo can tell about a model without training it: parameters, MACs, defaults.

MACs (multiply-accumulates) for one sample are counted by running the model once under
PyTorch's `FlopCounterMode`, which sees every matrix product and convolution the forward
pass performs (attention's Q·Kᵀ and weights·V included, recurrent steps included), and
halving its FLOPs. Element-wise work (activations, normalisation, pooling) is not counted,
as is the usual convention for MACs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from edgenn.core import BadInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str  # first line of the factory's docstring
    parameters: int  # trainable and not: every element of model.parameters()
    macs: int  # multiply-accumulates for one sample
    train_defaults: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "parameters": self.parameters, "macs": self.macs,
                "train_defaults": dict(self.train_defaults)}


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on one sample of `input_shape`."""
    import warnings

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        # oneDNN's fused LSTM kernel hides its matrix products from the counter; without
        # it the LSTM runs as the matmuls it is made of.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            with torch.backends.mkldnn.flags(enabled=False), \
                    FlopCounterMode(display=False) as counter:
                model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def factory_of(name: str):
    """The factory registered as `name` (or a user's `file.py:factory`)."""
    from edgenn.frontend.zoo import MODELS, _user_factory

    return _user_factory(name) if ".py:" in name else MODELS.load(name)


def train_defaults(name: str) -> dict[str, Any]:
    """The model's preferred TrainConfig fields (`factory.train_defaults`), possibly {}."""
    return dict(getattr(factory_of(name), "train_defaults", {}) or {})


def default_train_config(name: str, **overrides: Any):
    """TrainConfig(): then the model's `train_defaults`, then `overrides` (what the user set)."""
    from edgenn.frontend.train import TrainConfig

    fields = {**train_defaults(name), **overrides}
    try:
        return replace(TrainConfig(), **fields)
    except TypeError as exc:
        raise BadInputError(f"model '{name}': bad training setting ({exc})") from None


def describe(name: str, input_shape: tuple[int, ...] = (1, 8, 8), num_classes: int = 10,
             **options: Any) -> ModelInfo:
    """Build `name` for this data shape and count its parameters and MACs."""
    from edgenn.frontend.zoo import build_model

    factory = factory_of(name)
    model = build_model(name, input_shape, num_classes, **options)
    doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    # A family (`cnn`) builds a variant for the shape; the variant may describe itself.
    doc = [getattr(model, "description", None)] if getattr(model, "description", None) else doc
    return ModelInfo(name, doc[0] if doc else "", count_parameters(model),
                     count_macs(model, tuple(input_shape)), train_defaults(name))
