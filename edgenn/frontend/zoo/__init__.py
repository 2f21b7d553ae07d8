"""The model zoo: compact, trainable PyTorch models that build from the data's shape.

Each entry is a factory `build(input_shape, num_classes, **options) -> nn.Module`,
registered by name in `MODELS` (lazily imported; plug-ins use the entry-point group
`edgenn.models`). A user's own model is named `path/to/file.py:factory`: a function or a
model class that takes the data's sample shape and class count positionally, by keyword
(`input_shape`, `num_classes` and the spellings in `SHAPE_PARAMETERS`/`CLASS_PARAMETERS`)
or nothing, and returns the module or `(module, example_input)`.
"""

from __future__ import annotations

import functools
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
        "tcn": "edgenn.frontend.zoo.signal:build_tcn",
    },
    group="edgenn.models",
)

DEFAULT_MODEL = "cnn"


# What a user's factory may call its parameters for the sample shape and the class count.
SHAPE_PARAMETERS = ("input_shape", "sample_shape", "in_shape", "shape")
CLASS_PARAMETERS = ("num_classes", "n_classes", "classes", "num_outputs", "n_outputs")


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Build zoo model `name`, or a user's `file.py:factory`, for this data shape."""
    factory = _user_factory(name) if ".py:" in name else MODELS.load(name)
    input_shape = tuple(input_shape)
    try:
        built = factory(input_shape, int(num_classes), **options)
    except TypeError as exc:
        raise BadInputError(f"model '{name}' could not be built: {exc}") from None
    except (Exception, SystemExit) as exc:  # the user's code, or a zoo model given bad sizes
        raise BadInputError(f"model '{name}' could not be built for samples "
                            f"{input_shape} and {num_classes} classes: "
                            f"{user_code_error(exc, user_file(name))}") from None
    return _module_of(name, built, input_shape)


def user_file(name: str) -> str | None:
    """The file of a user's `file.py:factory` model name (None for a zoo model)."""
    return name.rpartition(":")[0] if ".py:" in name else None


def user_code_error(exc: BaseException, path: str | Path | None = None) -> str:
    """One line for an exception raised in code edgenn does not own: where it was raised
    (the last frame in the user's file `path`) and what it says; SystemExit (sys.exit in
    a model file) included."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append(traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>"))
    wanted = str(Path(path).resolve()) if path else None
    inside = [f for f in frames if wanted and str(Path(f.filename).resolve()) == wanted]
    where = f" (at {inside[-1].filename}:{inside[-1].lineno})" if inside else ""
    if isinstance(exc, SystemExit):
        return f"the code called sys.exit({exc.code!r}){where}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}" + (f": {text[:300]}" if text else "") + where


def _module_of(name: str, built: Any, input_shape: tuple[int, ...]):
    """The module a factory returned, alone or as (module, example_input); an example's
    per-sample shape must be the data's, or the model was built for other data."""
    import numpy as np
    import torch
    import torch.nn as nn

    example = None
    if isinstance(built, (tuple, list)) and len(built) == 2 and isinstance(built[0], nn.Module):
        built, example = built
    if not isinstance(built, nn.Module):
        raise BadInputError(f"model '{name}': factory returned {type(built).__name__}, "
                            "not a torch.nn.Module or (module, example_input)")
    if example is None:
        return built
    if not isinstance(example, (torch.Tensor, np.ndarray)):
        raise BadInputError(f"model '{name}': the example input is {type(example).__name__}, "
                            "not a tensor or array")
    per_sample = tuple(example.shape[1:])  # a batch, so the first axis is the batch
    if per_sample != input_shape:
        raise BadInputError(f"model '{name}': its example input has per-sample shape "
                            f"{per_sample} (batch {tuple(example.shape)}), but the data's "
                            f"samples have shape {input_shape}")
    return built


def _user_factory(spec: str):
    file_name, _, attribute = spec.rpartition(":")
    path = Path(file_name)
    if not path.is_file():
        raise BadInputError(f"model file not found: {path}")
    return _load_user_factory(str(path.resolve()), path.stat().st_mtime_ns, attribute, spec)


@functools.lru_cache(maxsize=16)
def _load_user_factory(resolved: str, mtime_ns: int, attribute: str, spec: str):
    """Import the user's file once per (path, modification time): the run, its recipe and
    `edgenn zoo` all ask for the factory, and a file with side effects runs them once."""
    path = Path(resolved)
    module_spec = importlib.util.spec_from_file_location(f"edgenn_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise BadInputError(f"cannot import model file {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() in a model file must not end edgenn
        raise BadInputError(f"model file {path} failed to import: "
                            f"{user_code_error(exc, path)}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise BadInputError(f"{path} has no callable '{attribute}'")
    return _adapt(factory, spec)


def _adapt(factory, spec: str):
    """`factory` as a zoo factory `(input_shape, num_classes, **options)`. Parameters named
    for the shape or the class count get them by keyword; without such names, a factory
    that needs positional arguments gets (input_shape, num_classes), and one that needs
    none is called without them. The wrapper keeps the docstring and `train_defaults`."""
    import inspect

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no readable signature: assume the zoo's convention
        return factory
    kind = inspect.Parameter
    parameters = list(signature.parameters.values())
    named = {p.name: "shape" if p.name in SHAPE_PARAMETERS else "classes" for p in parameters
             if p.kind in (kind.POSITIONAL_OR_KEYWORD, kind.KEYWORD_ONLY)
             and p.name in SHAPE_PARAMETERS + CLASS_PARAMETERS}
    positional = [p for p in parameters
                  if p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)]
    unknown = [p.name for p in parameters if p.default is p.empty and p.name not in named
               and p.kind not in (kind.VAR_POSITIONAL, kind.VAR_KEYWORD)]
    unknown_keywords = [p for p in parameters if p.kind is kind.KEYWORD_ONLY
                        and p.default is p.empty and p.name not in named]
    takes_rest = any(p.kind is kind.VAR_POSITIONAL for p in parameters)
    if named and not unknown:
        def build(input_shape, num_classes, **options):
            values = {"shape": input_shape, "classes": num_classes}
            return factory(**{name: values[role] for name, role in named.items()}, **options)
    elif not named and not unknown and not takes_rest:
        def build(input_shape, num_classes, **options):
            return factory(**options)
    elif (not named and not unknown_keywords and len(unknown) <= 2
          and (takes_rest or len(positional) >= 2)):
        return factory  # the zoo's own convention: (input_shape, num_classes) in this order
    else:
        raise BadInputError(
            f"model '{spec}': cannot tell what to pass as {', '.join(unknown) or 'its arguments'} "
            f"in {getattr(factory, '__name__', 'factory')}{signature}; a factory takes "
            f"(input_shape, num_classes) in this order, keyword parameters named from "
            f"{', '.join(SHAPE_PARAMETERS)} and {', '.join(CLASS_PARAMETERS)}, or nothing")
    build.__doc__ = factory.__doc__
    build.train_defaults = getattr(factory, "train_defaults", {})
    return build
