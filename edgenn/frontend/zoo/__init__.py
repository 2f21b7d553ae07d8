"""The model zoo: compact, trainable PyTorch models that build from the data's shape.

Each entry is a factory `build(input_shape, num_classes, **options) -> nn.Module`,
registered by name in `MODELS` (lazily imported; plug-ins use the entry-point group
`edgenn.models`). A user's own model is named `path/to/file.py:factory`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError
from edgenn.core.registry import LazyRegistry

MODELS = LazyRegistry(
    "model",
    {
        "cnn": "edgenn.frontend.zoo.cnn:build",
        "mlp": "edgenn.frontend.zoo.mlp:build",
        "mlp-sigmoid": "edgenn.frontend.zoo.mlp:build_sigmoid",
        "mlp-tanh": "edgenn.frontend.zoo.mlp:build_tanh",
        "mlp-leakyrelu": "edgenn.frontend.zoo.mlp:build_leakyrelu",
        "resnet": "edgenn.frontend.zoo.resnet:build",
        "densenet": "edgenn.frontend.zoo.densenet:build",
        "mobilenet": "edgenn.frontend.zoo.mobilenet:build",
        "vit": "edgenn.frontend.zoo.vit:build",
        "lstm": "edgenn.frontend.zoo.rnn:build_lstm",
        "gru": "edgenn.frontend.zoo.rnn:build_gru",
        "transformer": "edgenn.frontend.zoo.transformer:build",
    },
    group="edgenn.models",
)

DEFAULT_MODEL = "cnn"


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Build zoo model `name`, or a user's `file.py:factory`, for this data shape."""
    factory = _user_factory(name) if ".py:" in name else MODELS.load(name)
    try:
        model = factory(tuple(input_shape), int(num_classes), **options)
    except TypeError as exc:
        raise BadInputError(f"model '{name}' could not be built: {exc}") from None
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise BadInputError(f"model '{name}': factory returned {type(model).__name__}, "
                            "not a torch.nn.Module")
    return model


def _user_factory(spec: str):
    file_name, _, attribute = spec.rpartition(":")
    path = Path(file_name)
    if not path.is_file():
        raise BadInputError(f"model file not found: {path}")
    module_spec = importlib.util.spec_from_file_location(f"edgenn_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise BadInputError(f"cannot import model file {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise BadInputError(f"model file {path} failed to import: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise BadInputError(f"{path} has no callable '{attribute}'")
    return _adapt(factory)


def _adapt(factory):
    """A user's factory may take (input_shape, num_classes) or nothing at all."""
    import inspect

    try:
        takes = len(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        takes = 2
    if takes == 0:
        return lambda input_shape, num_classes, **_: factory()
    return factory
