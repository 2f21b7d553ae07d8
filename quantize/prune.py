"""Pruning in PyTorch before export: unstructured magnitude and structured channel pruning.

Unstructured pruning zeroes the smallest weights (globally or per layer) and keeps the
zeros through fine-tuning with `torch.nn.utils.prune` masks; the dense shapes (and dense
MACs) stay, only the zero count changes. Structured pruning really removes channels:
torch-pruning's dependency graph shrinks every layer coupled to a pruned channel (the
next conv's inputs, BatchNorm, the flattened Linear), so the exported model is smaller.

The fine-tune is the caller's callback (`quantize/` must not import the training loop);
it trains the module in place on the training split.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np

from edgenn.core import BadInputError, parse_enum, to_plain

log = logging.getLogger(__name__)


class PruneMethod(str, Enum):
    UNSTRUCTURED = "unstructured"  # zero individual weights by magnitude
    STRUCTURED = "structured"  # remove whole output channels / features


class PruneScope(str, Enum):
    GLOBAL = "global"  # one threshold / ranking across all layers
    LAYER = "layer"  # the same fraction in every layer


@dataclass(frozen=True)
class PruneConfig:
    method: PruneMethod = PruneMethod.STRUCTURED
    sparsity: float = 0.5  # fraction of weights (unstructured) or channels (structured)
    scope: PruneScope = PruneScope.LAYER
    keep_output_layer: bool = True  # the layer that produces the logits keeps its outputs
    max_layer_sparsity: float = 0.9  # structured + global: no layer loses more than this
    round_to: int | None = None  # structured: keep channel counts multiples of this

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", parse_enum(PruneMethod, self.method, "prune method"))
        object.__setattr__(self, "scope", parse_enum(PruneScope, self.scope, "prune scope"))
        if not (isinstance(self.sparsity, (int, float)) and 0.0 <= self.sparsity < 1.0):
            raise BadInputError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if not 0.0 < self.max_layer_sparsity < 1.0:
            raise BadInputError(f"max layer sparsity must be in (0, 1), got "
                                f"{self.max_layer_sparsity}")

    def describe(self) -> dict[str, Any]:
        return to_plain(self)


@dataclass(frozen=True)
class PruneStats:
    """Before/after figures; MACs are per sample, `nonzero_macs` skip zero weights."""

    method: str
    target_sparsity: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    nonzero_macs_before: int
    nonzero_macs_after: int
    sparsity_before: float  # fraction of exactly-zero weights in Conv/Linear layers
    sparsity_after: float

    @property
    def params_ratio(self) -> float:
        return self.params_after / max(self.params_before, 1)

    @property
    def macs_ratio(self) -> float:
        return self.macs_after / max(self.macs_before, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "params_ratio": self.params_ratio, "macs_ratio": self.macs_ratio}


FineTune = Callable[[Any], None]


def prune_model(model, example: np.ndarray, config: PruneConfig = PruneConfig(),
                fine_tune: FineTune | None = None):
    """A pruned copy of `model` (the original is untouched) and its PruneStats.

    `example` is a float32 batch (N, *sample_shape) used to trace the model and count
    MACs. `fine_tune(module)` trains the pruned module in place; unstructured masks stay
    applied while it runs, so the zeros survive.
    """
    import torch

    if not isinstance(example, np.ndarray) or example.ndim < 2 or len(example) == 0:
        raise BadInputError("pruning needs an example batch (N, *sample_shape) with N ≥ 1")
    example_t = torch.from_numpy(np.ascontiguousarray(example[:1], dtype=np.float32))
    pruned = copy.deepcopy(model).eval()
    before = count_model(pruned, example_t)
    if config.sparsity > 0:
        if config.method is PruneMethod.UNSTRUCTURED:
            _unstructured(pruned, example_t, config, fine_tune)
        else:
            _structured(pruned, example_t, config)
            if fine_tune is not None:
                fine_tune(pruned)
    elif fine_tune is not None:
        fine_tune(pruned)
    pruned.eval()
    after = count_model(pruned, example_t)
    stats = PruneStats(config.method.value, float(config.sparsity),
                       before["params"], after["params"], before["macs"], after["macs"],
                       before["nonzero_macs"], after["nonzero_macs"],
                       before["sparsity"], after["sparsity"])
    log.info("pruned %s %.0f%%: params %d → %d, MACs %d → %d", stats.method,
             100 * config.sparsity, stats.params_before, stats.params_after,
             stats.macs_before, stats.macs_after)
    return pruned, stats


def _layers(model) -> list:
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def output_layer(model, example_t):
    """The last Conv/Linear that runs in the forward pass (it produces the scores)."""
    order: list = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
             for m in _layers(model)]
    try:
        import torch

        with torch.no_grad():
            model(example_t)
    finally:
        for hook in hooks:
            hook.remove()
    return order[-1] if order else None


def _unstructured(model, example_t, config: PruneConfig, fine_tune: FineTune | None) -> None:
    import torch.nn.utils.prune as torch_prune

    layers = _layers(model)
    if config.keep_output_layer and len(layers) > 1:
        last = output_layer(model, example_t)
        layers = [m for m in layers if m is not last]
    if not layers:
        raise BadInputError("the model has no Conv or Linear layer to prune")
    targets = [(m, "weight") for m in layers]
    if config.scope is PruneScope.GLOBAL:
        torch_prune.global_unstructured(targets, pruning_method=torch_prune.L1Unstructured,
                                        amount=float(config.sparsity))
    else:
        for module, name in targets:
            torch_prune.l1_unstructured(module, name, amount=float(config.sparsity))
    if fine_tune is not None:
        fine_tune(model)
    for module, name in targets:
        torch_prune.remove(module, name)  # bake the mask into the weight


def _structured(model, example_t, config: PruneConfig) -> None:
    import torch_pruning as tp

    ignored = []
    if config.keep_output_layer:
        last = output_layer(model, example_t)
        if last is not None:
            ignored.append(last)
    # A model may name layers structured pruning must leave whole (attention projections,
    # recurrent cells): the dependency graph cannot shrink them consistently.
    hook = getattr(model, "pruning_ignored_layers", None)
    if callable(hook):
        ignored.extend(hook())
    pruner = tp.pruner.MetaPruner(
        model, example_t, importance=tp.importance.GroupMagnitudeImportance(p=2),
        global_pruning=config.scope is PruneScope.GLOBAL,
        pruning_ratio=float(config.sparsity), max_pruning_ratio=config.max_layer_sparsity,
        ignored_layers=ignored, round_to=config.round_to,
    )
    pruner.step()


def count_model(model, example_t) -> dict[str, Any]:
    """Parameters, dense MACs, MACs of nonzero weights (per sample) and weight sparsity."""
    import torch
    import torch.nn as nn

    macs = {"dense": 0, "nonzero": 0}

    def hook(module, _inputs, output) -> None:
        weight = module.weight
        positions = output[0].numel()  # outputs per sample
        per_output = weight[0].numel()  # in_features or in_ch/groups × kernel
        if isinstance(module, nn.Linear):
            positions = output[0].numel() // module.out_features
            dense = positions * weight.numel()
        else:
            dense = positions * per_output
        density = float((weight != 0).sum()) / max(weight.numel(), 1)
        macs["dense"] += int(dense)
        macs["nonzero"] += int(round(dense * density))

    layers = _layers(model)
    hooks = [m.register_forward_hook(hook) for m in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_t[:1])
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    weights = [m.weight for m in layers]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return {"params": int(sum(p.numel() for p in model.parameters())),
            "macs": macs["dense"], "nonzero_macs": macs["nonzero"],
            "sparsity": zeros / max(total, 1)}
