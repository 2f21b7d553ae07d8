"""Small ONNX graphs with the traits of models other projects ship (issue 25): weights in
`Constant` nodes at opset 11 (Paddle's exporter), a Concat that trips ORT's symbolic
shape inference (an assert), a graph whose symbolic shape inference is incomplete (ORT
then writes scratch files into the working directory), weights in external data. Tests
get them through the `wild_graphs` fixture (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(model, path: Path, external: bool = False) -> Path:
    import onnx

    onnx.checker.check_model(model)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=f"{path.name}.data",
                        size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def conv_net(path: Path, *, opset: int = 11, constants: bool = True, classes: int = 10,
             external: bool = False, seed: int = 0) -> Path:
    """Conv → Relu → GlobalAveragePool → Flatten → Gemm on (N, 1, 8, 8); with `constants`
    every weight is a Constant node, as Paddle exports them."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = {"w1": rng.normal(0, 0.3, (8, 1, 3, 3)), "b1": rng.normal(0, 0.1, 8),
               "w2": rng.normal(0, 0.3, (classes, 8)), "b2": np.zeros(classes)}
    nodes, initializers = [], []
    for name, array in weights.items():
        tensor = numpy_helper.from_array(array.astype(np.float32), name)
        if constants:
            nodes.append(helper.make_node("Constant", [], [name], value=tensor))
        else:
            initializers.append(tensor)
    nodes += [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("GlobalAveragePool", ["r1"], ["p"]),
              helper.make_node("Flatten", ["p"], ["f"]),
              helper.make_node("Gemm", ["f", "w2", "b2"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return _save(model, path, external)


def _vector_net(nodes, initializers, name: str):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def concat_assert_net(path: Path, seed: int = 0) -> Path:
    """x (N, 16) + Concat(a, b, axis=-1) → Relu → MatMul: symbolic shape inference asserts
    `axis == 0` on a Concat of constants along axis -1 (valid ONNX)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    initializers = [numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "a"),
                    numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
                    numpy_helper.from_array(rng.normal(0, 0.3, (16, 10)).astype(np.float32),
                                            "w")]
    nodes = [helper.make_node("Concat", ["a", "b"], ["ab"], axis=-1),
             helper.make_node("Add", ["x", "ab"], ["s"]),
             helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("MatMul", ["r", "w"], ["logits"])]
    return _save(_vector_net(nodes, initializers, "concat"), path)


def incomplete_shapes_net(path: Path, seed: int = 0) -> Path:
    """A graph whose symbolic shape inference stops incomplete: a Slice whose end is
    computed from the data meets the input's own batch symbol in an Add. ORT's symbolic
    shape inference then saves `sym_shape_infer_temp.onnx` (+ external data) into the
    current directory and raises."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    initializers = [
        numpy_helper.from_array(rng.normal(0, 0.3, (16, 10)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array(0, np.int64), "nothing")]
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "zero", "one"], ["rows"]),
             helper.make_node("ReduceMax", ["x"], ["peak"], keepdims=0),
             helper.make_node("Abs", ["peak"], ["size"]),
             helper.make_node("Cast", ["size"], ["whole"], to=TensorProto.INT64),
             helper.make_node("Mul", ["whole", "nothing"], ["zeroed"]),
             helper.make_node("Add", ["zeroed", "rows"], ["end"]),  # = rows at run time
             helper.make_node("Slice", ["x", "zero", "end"], ["same"]),
             helper.make_node("Add", ["x", "same"], ["sum"]),
             helper.make_node("Relu", ["sum"], ["r"]),
             helper.make_node("MatMul", ["r", "w"], ["logits"])]
    return _save(_vector_net(nodes, initializers, "incomplete"), path)


def if_net(path: Path, seed: int = 0) -> Path:
    """The whole network inside the branches of an If (as silero-vad's spox export keeps
    it): each branch reads x from the outer scope, MatMul → Relu → MatMul."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def branch(name: str, scale: float):
        w1 = numpy_helper.from_array(rng.normal(0, scale, (16, 32)).astype(np.float32),
                                     f"{name}_w1")
        w2 = numpy_helper.from_array(rng.normal(0, 0.3, (32, 10)).astype(np.float32),
                                     f"{name}_w2")
        nodes = [helper.make_node("MatMul", ["x", w1.name], [f"{name}_h"]),
                 helper.make_node("Relu", [f"{name}_h"], [f"{name}_r"]),
                 helper.make_node("MatMul", [f"{name}_r", w2.name], [f"{name}_out"])]
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT,
                                                            ["N", 10])], [w1, w2])

    nodes = [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
             helper.make_node("Greater", ["total", "floor"], ["cond"]),
             helper.make_node("If", ["cond"], ["logits"], then_branch=branch("big", 0.3),
                              else_branch=branch("small", 0.1))]
    floor = numpy_helper.from_array(np.array(-1e30, np.float32), "floor")
    graph = helper.make_graph(
        nodes, "if", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [floor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return _save(model, path)
