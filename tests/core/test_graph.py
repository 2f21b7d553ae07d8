"""edgenn.core.graph: producer order with outer-scope reads, and what a pass quantized."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgenn.core.graph import nothing_quantized_reason, outer_reads, sort_topologically


def body_reading(name: str):
    """A branch that reads `name` from the enclosing graph."""
    return helper.make_graph([helper.make_node("Identity", [name], ["out"])], "body", [],
                             [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2])])


def misordered_model():
    """`h = Relu(x)` listed after the If whose branches read h (ORT runs it; the checker
    refuses it) — what ONNX Runtime's quantizer left in silero-vad's opset-15 export."""
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=body_reading("h"),
                              else_branch=body_reading("h")),
             helper.make_node("Relu", ["x"], ["h"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
                     helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_outer_reads_are_what_a_body_does_not_define():
    assert outer_reads(body_reading("h")) == {"h"}


def test_a_producer_moves_before_the_body_that_reads_it():
    model = misordered_model()
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    assert sort_topologically(model.graph)
    assert [n.op_type for n in model.graph.node] == ["Relu", "If"]
    onnx.checker.check_model(model)
    assert not sort_topologically(model.graph)  # in order now: nothing moves


def test_a_graph_in_order_keeps_its_order():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    assert not sort_topologically(graph)
    assert [n.op_type for n in graph.node] == ["Relu", "Neg", "Add"]


def test_nothing_quantized_names_operators_inside_subgraphs(tmp_path, wild_graphs):
    model = onnx.load(str(wild_graphs.if_net(tmp_path / "if.onnx")))
    assert nothing_quantized_reason(model.graph) == (
        "the network's MatMul ×4 lie inside If/Loop/Scan subgraphs, which ONNX Runtime's "
        "quantizer does not enter")


def test_a_graph_with_int8_operators_is_quantized():
    weight = numpy_helper.from_array(np.ones(4, np.int8), "w")
    node = helper.make_node("DequantizeLinear", ["w", "s"], ["wf"])
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info(
        "wf", TensorProto.FLOAT, [4])], [weight, numpy_helper.from_array(
            np.array(0.1, np.float32), "s")])
    assert nothing_quantized_reason(graph) is None
