"""Layer names: ONNX nodes, ORT kernels and TFLite tensors → the PyTorch module path.

The dynamo exporter records each node's module scopes in its metadata
(`pkg.torch.onnx.name_scopes`, e.g. `['', 'features', 'features.1', 'conv2d']`): the
last module scope is the layer. litert-torch names tensors by the module path of classes
and attributes (`pkg.CNN/torch.nn...Sequential_features/torch.nn...ReLU_2;…`). A model
edgenn did not build has neither: its node names are its layer names.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
# Nodes that compute no activation of their own: never a layer's output (a file named by
# its nodes would otherwise list every constant and shape computation as a layer).
NOT_LAYERS = frozenset({"Constant", "ConstantOfShape", "Shape", "Size"})
# Names ORT and its quantizers derive from a node's: "fused X", "X_nchwc", "X_token_12",
# "X_quant", "X_MatMul_quant" (dynamic int8), ...
_KERNEL_DECORATIONS = re.compile(
    r"^(fused )|(_nchwc|_token_\d+|_kernel_time|_quant|_MatMul|_Gemm)$")


@dataclass
class OnnxLayers:
    """Where every node and tensor of one ONNX graph belongs."""

    node_layer: dict[str, str] = field(default_factory=dict)
    tensor_layer: dict[str, str] = field(default_factory=dict)  # node outputs
    order: list[str] = field(default_factory=list)  # layers in graph order
    outputs: dict[str, str] = field(default_factory=dict)  # layer → its last output tensor
    op_types: dict[str, list[str]] = field(default_factory=dict)  # layer → its op types
    named_by_module: bool = False  # True when the file carried PyTorch scopes

    def kernel_layer(self, kernel: str) -> str | None:
        """The layer of an ORT profiler kernel name (fused or re-laid-out nodes included)."""
        name = kernel
        for _ in range(3):
            if name in self.node_layer:
                return self.node_layer[name]
            if name in self.tensor_layer:
                return self.tensor_layer[name]
            stripped = _KERNEL_DECORATIONS.sub("", name)
            if stripped == name:
                break
            name = stripped
        return None


def module_of_node(node) -> str | None:
    """The PyTorch module path a dynamo-exported node came from ('' for the root)."""
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            modules = [s for s in scopes[:-1] if s]  # the last scope is the op itself
            return modules[-1] if modules else None
    return None


def onnx_layers(model) -> OnnxLayers:
    """Layers of an ONNX ModelProto (main graph), in graph order."""
    found = OnnxLayers()
    found.named_by_module = any(module_of_node(n) is not None for n in model.graph.node)
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        layer = module_of_node(node) if found.named_by_module else name
        if not layer:
            layer = name
        found.node_layer[name] = layer
        for output in node.output:
            if output:
                found.tensor_layer[output] = layer
        if node.op_type in NOT_LAYERS:
            continue
        if layer not in found.op_types:
            found.order.append(layer)
            found.op_types[layer] = []
        found.op_types[layer].append(node.op_type)
        if node.output and node.output[0]:
            found.outputs[layer] = node.output[0]
    return found


def tflite_layers(tensor_name: str) -> list[str]:
    """`pkg.CNN/torch.nn.…Sequential_features/torch.nn.…ReLU_2;;…BatchNorm2d_1;…` →
    [`features.2`, `features.1`, …]: the modules whose ops litert-torch fused into the op
    writing this tensor (none for a tensor it did not name after a module)."""
    found = []
    for location in tensor_name.split(";"):
        parts = location.split("/")
        if len(parts) < 2:
            continue
        path = []
        for part in parts[1:]:
            class_name = part.rsplit(".", 1)[-1]
            if "_" not in class_name:
                break
            path.append(class_name.split("_", 1)[1])
        else:
            if ".".join(path) not in found:
                found.append(".".join(path))
    return found


def latest(candidates: list[str], order: list[str]) -> str | None:
    """The candidate that runs last in `order` (a fused op's output is its last module's);
    the first candidate when none is in `order`."""
    ranked = [c for c in candidates if c in order]
    if ranked:
        return max(ranked, key=order.index)
    return candidates[0] if candidates else None
