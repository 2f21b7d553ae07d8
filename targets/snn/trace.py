"""ONNX graph → un-normalised populations: which tensors are layers, and what feeds them.

Tensors of the ONNX graph are tracked as one of: a constant, a population's output
(the input, or a ReLU), or an affine function of populations (Σ linear chain(source) +
constant). A ReLU closes an affine function into a new population; the graph output
closes the last one. `convert.py` turns the chains into projections and normalises.

Each ONNX operator type maps to one handler in `HANDLERS` (node → value of its output);
`SUPPORTED` is that table's keys, so what `check_supported` accepts is what is handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgenn.core import BadInputError, UnsupportedOperatorError

from .ir import INPUT, Pool, Projection, torch_projection

FINAL_ONLY = {"Softmax", "LogSoftmax"}  # monotone: harmless as the very last node only


# ---------------------------------------------------------------------------------------
# Linear ops on per-sample tensors (torch float64, batch first)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearOp:
    """A bias-free linear map; `apply` works on (N, *shape) float64 torch tensors."""

    kind: str  # conv | scale | pool | reshape | matmul
    apply: Callable
    conv: Projection | None = None  # for kind == "conv": the op as a projection
    scale: np.ndarray | None = None  # for kind == "scale": per-channel factors
    pool: Pool | None = None  # for kind == "pool" without padding: the window (average)
    matrix: np.ndarray | None = None  # for kind == "matmul": (n_in, n_out)


@dataclass
class Affine:
    """Σ chain_k(source_k) + constant; `shape` is per sample."""

    shape: tuple[int, ...]
    terms: list[tuple[int, list[LinearOp]]]
    constant: np.ndarray  # per-sample shape

    def then(self, op: LinearOp, bias_fn: Callable[[np.ndarray], np.ndarray],
             shape: tuple[int, ...]) -> Affine:
        return Affine(shape, [(s, [*ops, op]) for s, ops in self.terms],
                      bias_fn(self.constant))


@dataclass
class PopRef:
    index: int
    shape: tuple[int, ...]


@dataclass
class _State:
    values: dict = field(default_factory=dict)
    populations: list = field(default_factory=list)  # (name, shape, bias, terms)


def _torch_apply(op: LinearOp, array: np.ndarray) -> np.ndarray:
    import torch

    return op.apply(torch.from_numpy(np.asarray(array, dtype=np.float64)[None])).numpy()[0]


def _as_affine(value) -> Affine:
    """A population output as the identity function of itself; affine values pass."""
    if isinstance(value, Affine):
        return value
    if isinstance(value, PopRef):
        return Affine(value.shape, [(value.index, [])], np.zeros(value.shape))
    raise UnsupportedOperatorError("snn", ["a constant where a layer was expected"])


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _close(state: _State, name: str, value) -> PopRef:
    """Turn an affine value into a new population (the ReLU, or the output layer)."""
    affine = _as_affine(value)
    state.populations.append((name, affine.shape, affine.constant.reshape(-1), affine.terms))
    return PopRef(len(state.populations) - 1, affine.shape)


# ---------------------------------------------------------------------------------------
# Operator handlers: (state, node, args, attrs) → the value of the node's output tensor
# ---------------------------------------------------------------------------------------

Handler = Callable[[_State, Any, list, dict], Any]
# a linear node: (node, per-sample input shape, constant inputs, attrs) →
# (LinearOp, bias_fn(constant) → constant, out_shape)
LinearRule = Callable[[Any, tuple[int, ...], list, dict],
                      tuple[LinearOp, Callable[[np.ndarray], np.ndarray], tuple[int, ...]]]


def _constant(state: _State, node, args: list, attrs: dict) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(attrs["value"])


def _identity(state: _State, node, args: list, attrs: dict):
    """Identity, Dropout (inference), and the FINAL_ONLY ops: the input passes through."""
    return args[0]


def _relu(state: _State, node, args: list, attrs: dict) -> PopRef:
    return args[0] if isinstance(args[0], PopRef) else _close(state, node.output[0], args[0])


def _add(state: _State, node, args: list, attrs: dict) -> Affine:
    a, b = args
    if isinstance(a, np.ndarray):
        a, b = b, a
    left = _as_affine(a)
    if isinstance(b, np.ndarray):
        constant = left.constant + b.reshape(b.shape[1:] if b.ndim > len(left.shape)
                                             else b.shape)
        return Affine(left.shape, left.terms, constant)
    right = _as_affine(b)
    if right.shape != left.shape:
        raise UnsupportedOperatorError("snn", [f"Add ({node.name}) with broadcasting"])
    return Affine(left.shape, left.terms + right.terms, left.constant + right.constant)


def _unsupported(state: _State, node, args: list, attrs: dict):
    """The fallback for an operator with no handler."""
    raise UnsupportedOperatorError("snn", [f"{node.op_type} ({node.name})"])


def _linear(rule: LinearRule) -> Handler:
    """The handler of a linear node: `rule` on a layer input, appended to its chains."""
    def handler(state: _State, node, args: list, attrs: dict) -> Affine:
        x = args[0]
        if isinstance(x, np.ndarray) or x is None:
            raise UnsupportedOperatorError("snn", [f"{node.op_type} ({node.name}) on a "
                                                   "constant"])
        consts = [None] + [a if isinstance(a, np.ndarray) else None for a in args[1:]]
        linear, bias_fn, shape = rule(node, x.shape, consts, attrs)
        return _as_affine(x).then(linear, bias_fn, shape)
    return handler


def _conv(node, shape: tuple[int, ...], consts: list, attrs: dict):
    """Conv in 1-D or 2-D: padding, stride, dilation, groups."""
    import torch

    weight = consts[1].astype(np.float64)
    bias = consts[2].astype(np.float64) if len(consts) > 2 and consts[2] is not None \
        else np.zeros(weight.shape[0])
    if weight.ndim not in (3, 4) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET",
                                                                              "NOTSET"):
        raise UnsupportedOperatorError("snn", [f"Conv ({node.name}) other than 1-D or 2-D "
                                               "with explicit pads"])
    dims = weight.ndim - 2
    projection = Projection(INPUT, "conv", weight, tuple(attrs.get("strides", [1] * dims)),
                            tuple(attrs.get("pads", [0] * 2 * dims)),
                            int(attrs.get("group", 1)),
                            tuple(attrs.get("dilations", [1] * dims)))

    def apply(t, projection=projection):
        flat = torch_projection(projection, t.reshape(t.shape[0], -1), tuple(t.shape[1:]))
        return flat.reshape(t.shape[0], *out_shape)
    probe = torch_projection(projection, torch.zeros(1, int(np.prod(shape)),
                                                     dtype=torch.float64), shape)
    out_shape = (weight.shape[0], *_conv_spatial(shape, projection))
    if probe.shape[1] != int(np.prod(out_shape)):
        raise UnsupportedOperatorError("snn", [f"Conv ({node.name}): unexpected output size"])
    extra = (None,) * dims
    return (LinearOp("conv", apply, projection),
            lambda c: _torch_apply(LinearOp("", apply), c) + bias[(slice(None), *extra)],
            out_shape)


def _conv_spatial(shape: tuple[int, ...], projection: Projection) -> tuple[int, ...]:
    dims = projection.spatial_dims
    kernel = projection.weight.shape[2:]
    return tuple((n + projection.pads[i] + projection.pads[dims + i]
                  - projection.dilation[i] * (kernel[i] - 1) - 1) // projection.stride[i] + 1
                 for i, n in enumerate(shape[1:]))


def _gemm(node, shape: tuple[int, ...], consts: list, attrs: dict):
    """Gemm and MatMul (a constant right-hand side) on a flat layer."""
    import torch

    op = node.op_type
    if len(shape) != 1:
        raise UnsupportedOperatorError("snn", [f"{op} ({node.name}) on a tensor of "
                                               f"per-sample shape {shape}"])
    matrix = consts[1].astype(np.float64)
    bias = np.zeros(0)
    if op == "Gemm":
        if attrs.get("transA", 0):
            raise UnsupportedOperatorError("snn", [f"Gemm ({node.name}) with transA"])
        if attrs.get("transB", 0):
            matrix = matrix.T
        matrix = matrix * float(attrs.get("alpha", 1.0))
        if len(consts) > 2 and consts[2] is not None:
            bias = consts[2].astype(np.float64) * float(attrs.get("beta", 1.0))
    out_features = matrix.shape[1]
    if bias.size == 0:
        bias = np.zeros(out_features)
    m = torch.from_numpy(matrix)
    linear = LinearOp("matmul", lambda t, m=m: t @ m, matrix=matrix)
    return linear, lambda c: c @ matrix + bias, (out_features,)


def _batchnorm(node, shape: tuple[int, ...], consts: list, attrs: dict):
    import torch

    gamma, beta, mean, var = (c.astype(np.float64) for c in consts[1:5])
    scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
    shift = beta - mean * scale
    extra = (1,) * (len(shape) - 1)
    s = torch.from_numpy(scale.reshape(-1, *extra))
    return (LinearOp("scale", lambda t, s=s: t * s, scale=scale),
            lambda c: c * scale.reshape(-1, *extra) + shift.reshape(-1, *extra), shape)


def _pool(apply: Callable, shape: tuple[int, ...], window: Pool | None = None):
    """An average pooling `apply` as a linear op, with its output shape."""
    import torch

    out_shape = tuple(apply(torch.zeros(1, *shape, dtype=torch.float64)).shape[1:])
    pool = LinearOp("pool", apply, pool=window)
    return pool, lambda c: _torch_apply(pool, c), out_shape


def _global_average_pool(node, shape: tuple[int, ...], consts: list, attrs: dict):
    spatial = tuple(range(2, len(shape) + 1))

    def apply(t):
        return t.mean(dim=spatial, keepdim=True)
    return _pool(apply, shape, Pool(tuple(shape[1:]), tuple(shape[1:]), average=True))


def _average_pool(node, shape: tuple[int, ...], consts: list, attrs: dict):
    """AveragePool in 1-D or 2-D; without padding it stays a pooling window."""
    import torch
    import torch.nn.functional as F

    kernel = tuple(attrs["kernel_shape"])
    dims = len(kernel)
    if attrs.get("ceil_mode", 0) or dims not in (1, 2) or len(shape) != dims + 1 \
            or any(d != 1 for d in attrs.get("dilations", [1] * dims)):
        raise UnsupportedOperatorError("snn", [f"AveragePool ({node.name}) with ceil_mode, "
                                               "dilation, or not 1-D/2-D"])
    stride = tuple(attrs.get("strides", [1] * dims))  # ONNX: stride 1 when unset
    pads = list(attrs.get("pads", [0] * 2 * dims))
    widths = [w for b, e in zip(pads[:dims][::-1], pads[dims:][::-1], strict=True)
              for w in (b, e)]
    include = bool(attrs.get("count_include_pad", 0))
    average = F.avg_pool1d if dims == 1 else F.avg_pool2d

    def apply(t):
        if include or not any(pads):
            return average(F.pad(t, widths), kernel, stride)
        ones = torch.ones_like(t[:1])
        sums = average(F.pad(t, widths), kernel, stride)
        count = average(F.pad(ones, widths), kernel, stride)
        return sums / count
    window = None if any(pads) else Pool(kernel, stride, average=True)
    return _pool(apply, shape, window)


def _reshape_to(out_shape: tuple[int, ...]):
    """A reshape of every sample to `out_shape` as a linear op."""
    return (LinearOp("reshape", lambda t: t.reshape(t.shape[0], *out_shape)),
            lambda c: c.reshape(out_shape), out_shape)


def _flatten(node, shape: tuple[int, ...], consts: list, attrs: dict):
    if int(attrs.get("axis", 1)) != 1:
        raise UnsupportedOperatorError("snn", [f"Flatten ({node.name}) with axis ≠ 1"])
    return _reshape_to((int(np.prod(shape)),))


def _reshape(node, shape: tuple[int, ...], consts: list, attrs: dict):
    size = int(np.prod(shape))
    target = [int(d) for d in consts[1]]
    rest = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target[1:])]
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        rest = [size // known if d == -1 else d for d in rest]
    if int(np.prod(rest)) != size:
        raise UnsupportedOperatorError("snn", [f"Reshape ({node.name}) across the "
                                               "batch dimension"])
    return _reshape_to(tuple(rest))


HANDLERS: dict[str, Handler] = {
    "Constant": _constant,
    "Identity": _identity,
    "Dropout": _identity,
    "Relu": _relu,
    "Add": _add,
    "Conv": _linear(_conv),
    "Gemm": _linear(_gemm),
    "MatMul": _linear(_gemm),
    "BatchNormalization": _linear(_batchnorm),
    "AveragePool": _linear(_average_pool),
    "GlobalAveragePool": _linear(_global_average_pool),
    "Flatten": _linear(_flatten),
    "Reshape": _linear(_reshape),
}
SUPPORTED = frozenset(HANDLERS)


def handler_for(op_type: str) -> Handler:
    """The handler of an operator type; FINAL_ONLY ops pass through, unknown ones raise."""
    if op_type in FINAL_ONLY:
        return _identity
    return HANDLERS.get(op_type, _unsupported)


def check_supported(model) -> None:
    """Raise one UnsupportedOperatorError naming every operator type the converter cannot
    take, with how many nodes of each ("Clip ×35 (first: /act/Clip), Mul ×12 (…)"): a real
    network repeats one activation dozens of times, and a list of every node hides which
    kinds there are. The error's `nodes` lists each node."""
    outputs = {o.name for o in model.graph.output}
    by_kind: dict[str, list[str]] = {}  # "Softmax in the middle of the network" → nodes
    for node in model.graph.node:
        name = node.name or node.output[0]
        if node.op_type in FINAL_ONLY:
            if not set(node.output) <= outputs:
                by_kind.setdefault(f"{node.op_type} in the middle of the network",
                                   []).append(name)
        elif node.op_type not in SUPPORTED:
            by_kind.setdefault(node.op_type, []).append(name)
    if by_kind:
        raise UnsupportedOperatorError(
            "snn conversion", [_counted(kind, names) for kind, names in by_kind.items()],
            "a spiking network takes Conv/Gemm/MatMul, ReLU, average pooling, Flatten/"
            "Reshape, Add and BatchNormalization; replace max pooling by average pooling",
            nodes=[f"{kind} ({name})" for kind, names in by_kind.items() for name in names])


def _counted(kind: str, names: list[str]) -> str:
    """"LSTM (lstm)" for one node; "Clip ×35 (first: /act1/Clip)" for several."""
    if len(names) == 1:
        return f"{kind} ({names[0]})"
    return f"{kind} ×{len(names)} (first: {names[0]})"


def trace_graph(model) -> tuple[tuple[int, ...], list]:
    """Walk the ONNX graph; return the input shape and un-normalised populations."""
    from onnx import numpy_helper

    check_supported(model)
    graph = model.graph
    initialisers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initialisers]
    if len(real_inputs) != 1:
        raise BadInputError(f"snn conversion takes one input, the model has {len(real_inputs)}")
    dims = real_inputs[0].type.tensor_type.shape.dim
    input_shape = tuple(int(d.dim_value) for d in dims[1:])
    if any(d <= 0 for d in input_shape):
        raise BadInputError(f"snn conversion needs a fixed sample shape, got {input_shape}")
    state = _State()
    state.values[real_inputs[0].name] = PopRef(INPUT, input_shape)
    state.values.update(initialisers)
    for node in graph.node:
        attrs = _attrs(node)
        args = [state.values.get(name) if name else None for name in node.input]
        state.values[node.output[0]] = handler_for(node.op_type)(state, node, args, attrs)
    result = state.values[graph.output[0].name]
    if isinstance(result, Affine):
        _close(state, graph.output[0].name, result)
    elif not (isinstance(result, PopRef) and result.index == len(state.populations) - 1):
        raise UnsupportedOperatorError("snn", ["graph output that is not the last layer"])
    return input_shape, state.populations
