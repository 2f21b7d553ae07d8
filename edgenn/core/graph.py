"""ONNX graph facts the stages share: subgraphs, producer order, what a pass quantized.

Real models keep parts of the network inside `If`/`Loop`/`Scan` bodies, which read
tensors of the enclosing graph by name (outer-scope reads). Passes that insert or move
nodes (ONNX Runtime's quantizer, the fp16 converter) can leave a node after a body that
reads its output; ONNX Runtime still loads such a model, the ONNX checker refuses it.
`sort_topologically` restores producer order counting those reads.
"""

from __future__ import annotations

from collections.abc import Iterator

# Operators whose presence means a graph computes in int8 (QDQ pairs included).
QUANTIZED_OPERATORS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                       "ConvInteger", "MatMulInteger", "QGemm", "DynamicQuantizeMatMul",
                       "MatMulIntegerToFloat", "DynamicQuantizeLSTM")
# Operators ONNX Runtime's quantizers quantize weights of (the ones that matter for speed).
WEIGHTED_OPERATORS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "Attention")


def subgraphs(node) -> Iterator:
    """The bodies of `node` (If branches, Loop and Scan bodies)."""
    for attribute in node.attribute:
        if attribute.HasField("g"):
            yield attribute.g
        yield from attribute.graphs


def all_graphs(graph) -> Iterator:
    """`graph` and every subgraph inside it, depth first."""
    yield graph
    for node in graph.node:
        for body in subgraphs(node):
            yield from all_graphs(body)


def outer_reads(graph) -> set[str]:
    """Names a (sub)graph reads that it does not define itself: its outer-scope reads."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    read: set[str] = set()
    for node in graph.node:
        read.update(name for name in node.input if name)
        for body in subgraphs(node):
            read |= outer_reads(body)
        defined.update(node.output)
    return read - defined


def sort_topologically(graph) -> bool:
    """Reorder `graph.node` (in place, recursively) so every node comes after the producers
    of its inputs and of its bodies' outer-scope reads; nodes already in order keep their
    order. Returns whether anything moved. A cycle or a dangling read leaves the rest as
    it was (the checker then names it)."""
    moved = False
    for node in graph.node:
        for body in subgraphs(node):
            moved |= sort_topologically(body)
    produced_here = {out for node in graph.node for out in node.output}
    needs = [({n for n in node.input if n} | {n for body in subgraphs(node)
                                              for n in outer_reads(body)}) & produced_here
             for node in graph.node]
    available: set[str] = set()
    pending = list(range(len(graph.node)))
    order: list[int] = []
    while pending:
        ready = [i for i in pending if needs[i] <= available]
        if not ready:
            order.extend(pending)
            break
        first = ready[0]  # one at a time, in the current order: stable
        order.append(first)
        available.update(graph.node[first].output)
        pending.remove(first)
    if order == list(range(len(graph.node))):
        return moved
    nodes = [type(graph.node[i])() for i in order]
    for copy, index in zip(nodes, order, strict=True):
        copy.CopyFrom(graph.node[index])
    del graph.node[:]
    graph.node.extend(nodes)
    return True


def operator_counts(graph, operators: tuple[str, ...], *, inside: bool | None = None
                    ) -> dict[str, int]:
    """How many nodes of each of `operators` the model holds: everywhere (`inside` None),
    only in the main graph (False), or only inside subgraphs (True)."""
    counts: dict[str, int] = {}
    graphs = [graph] if inside is False else list(all_graphs(graph))
    if inside:
        graphs = graphs[1:]
    for g in graphs:
        for node in g.node:
            if node.op_type in operators:
                counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def nothing_quantized_reason(graph) -> str | None:
    """None when the graph computes in int8 somewhere; else why a quantizer left it all in
    float: the weighted operators it holds, and where."""
    if operator_counts(graph, QUANTIZED_OPERATORS) or any(
            node.op_type.startswith("QLinear") for g in all_graphs(graph) for node in g.node):
        return None
    top = operator_counts(graph, WEIGHTED_OPERATORS, inside=False)
    nested = operator_counts(graph, WEIGHTED_OPERATORS, inside=True)
    listed = lambda counts: ", ".join(f"{op} ×{n}" for op, n in sorted(counts.items()))
    if nested and not top:
        return (f"the network's {listed(nested)} lie inside If/Loop/Scan subgraphs, which "
                "ONNX Runtime's quantizer does not enter")
    if not top:
        return f"the model holds none of {', '.join(WEIGHTED_OPERATORS)}"
    return f"it left the model's {listed(top)} in float"
