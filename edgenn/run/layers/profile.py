"""Where the time goes: per-operator latency from each target's own profiler.

A target with a profiler has a `profile(artifact, batches, threads)` method returning
per-kernel times (ONNX Runtime's profiler for cpu, ort-mobile and gpu; the tflite target
says why LiteRT's Python package cannot). The times are aggregated per operator type and
per layer (the PyTorch module path, see `names`), with each layer's multiply-accumulates
from the ONNX graph and the GMAC/s it achieved beside the machine's measured peak: an
ONNX Runtime fp32 MatMul probe on the same threads. Profiled runs use sessions of their
own, apart from the timed runs of the table, so profiling never touches its latency.
The spiking targets have no operators to time: their per-layer cost is spikes, synaptic
operations and estimated energy from one simulation (`spiking_layers`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import Artifact, EdgeNNError, RunOptions, samples
from edgenn.core.samples import Samples
from edgenn.run.layers.names import OnnxLayers, onnx_layers

log = logging.getLogger(__name__)

TOP_NODES = 20  # kernels listed one by one (every kernel counts in the aggregates)


@dataclass(frozen=True)
class ProfileSettings:
    """How a target is profiled: one warm-up run, then `runs` profiled runs."""

    runs: int = 20
    batch_size: int = 1
    threads: int = 2
    snn_samples: int = 32  # samples simulated for the spiking per-layer cost


def matmul_peak_gmacs(threads: int, size: int = 512, repeats: int = 10) -> float:
    """The best GMAC/s of an fp32 size×size×size MatMul in ONNX Runtime on `threads`
    threads: the ceiling the per-layer figures are read against."""
    import onnx
    from onnx import TensorProto, helper

    from edgenn.targets.cpu import open_session

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgenn-peak-") as folder:
        path = Path(folder) / "peak.onnx"
        onnx.save(model, str(path))
        session = open_session(path, threads)
    rng = np.random.default_rng(0)
    feed = {"a": rng.standard_normal((size, size), dtype=np.float32),
            "b": rng.standard_normal((size, size), dtype=np.float32)}
    session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return size ** 3 / best / 1e9


# Where the weight sits among a kernel's inputs, for the operators that multiply-accumulate
# (ONNX and ORT contrib names); the MACs of one run are output elements × the weight's
# fan-in (conv) or × the reduced dimension K (matrix products).
CONV_WEIGHT = {"Conv": 1, "FusedConv": 1, "NhwcFusedConv": 1, "ConvInteger": 1,
               "QLinearConv": 3, "NhwcConv": 1}
MATMUL = {"Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MatMulInteger", "QGemm",
          "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
          "MatMulNBits"}


def kernel_macs(kernel: dict) -> float:
    """Multiply-accumulates of one run of a profiled kernel, from the shapes it ran on
    (0 for an operator that does not multiply-accumulate or whose shapes are missing)."""
    inputs, outputs = kernel.get("input_shapes", []), kernel.get("output_shapes", [])
    if not outputs or not inputs:
        return 0.0
    out = float(np.prod(outputs[0]))
    op = kernel["op_type"]
    if op in CONV_WEIGHT and len(inputs) > CONV_WEIGHT[op]:
        weight = inputs[CONV_WEIGHT[op]]
        return out * float(np.prod(weight[1:])) if len(weight) > 2 else 0.0
    if op in MATMUL and inputs[0]:
        return out * float(inputs[0][-1])
    return 0.0


def summarise(kernels: list[dict], layers: OnnxLayers, batch: int,
              peak_gmacs: float | None) -> dict[str, Any]:
    """Per-run times (each kernel's median), per operator type and per layer, each with
    its share of the run."""
    runs = max((k["runs"] for k in kernels), default=0)
    total_us = sum(k["us"] for k in kernels)
    by_type: dict[str, float] = {}
    by_layer: dict[str, dict] = {}
    for kernel in kernels:
        us = kernel["us"]
        by_type[kernel["op_type"]] = by_type.get(kernel["op_type"], 0.0) + us
        layer = layers.kernel_layer(kernel["node"]) or kernel["node"]
        entry = by_layer.setdefault(layer, {"layer": layer, "us": 0.0, "kernels": [],
                                            "macs": 0.0})
        entry["us"] += us
        entry["macs"] += kernel_macs(kernel)
        entry["kernels"].append(kernel["op_type"])

    def share(us: float) -> float:
        return us / total_us if total_us else 0.0

    operators = [{"op_type": t, "ms": us / 1e3, "share": share(us)}
                 for t, us in sorted(by_type.items(), key=lambda kv: -kv[1])]

    def rate(macs: float, us: float) -> dict[str, float | None]:
        gmacs = macs / (us * 1e-6) / 1e9 if macs and us else None
        return {"macs": macs or None, "gmacs_per_s": gmacs,
                "of_peak": gmacs / peak_gmacs if gmacs and peak_gmacs else None}

    rows = [{"layer": entry["layer"], "ms": entry["us"] / 1e3, "share": share(entry["us"]),
             "kernels": entry["kernels"], **rate(entry["macs"], entry["us"])}
            for entry in sorted(by_layer.values(), key=lambda e: -e["us"])]
    nodes = [{"node": k["node"], "op_type": k["op_type"],
              "layer": layers.kernel_layer(k["node"]) or k["node"], "ms": k["us"] / 1e3,
              "share": share(k["us"]), **rate(kernel_macs(k), k["us"])}
             for k in sorted(kernels, key=lambda k: -k["us"])[:TOP_NODES]]
    return {"runs": runs, "batch": batch, "total_ms": total_us / 1e3,
            "operators": operators, "layers": rows, "nodes": nodes}


def profile_artifact(target, compiled: Artifact, source_onnx: Path | None, x: Samples,
                     settings: ProfileSettings, peak_gmacs: float | None,
                     reference_onnx: Path | None = None) -> dict[str, Any]:
    """Profile one compiled artifact on `target`. Names come from `reference_onnx` (the
    fp32 model, whose nodes carry the PyTorch scopes that quantizers drop), then
    `source_onnx` (the model it was compiled from) and, for ONNX, the compiled file."""
    import onnx

    batch = min(settings.batch_size, samples.count(x))
    batches = [samples.take(x, slice(0, batch))] * (settings.runs + 1)
    kernels = target.profile(compiled, batches, settings.threads)
    graphs = [p for p in (source_onnx, compiled.path if compiled.format == "onnx" else None)
              if p is not None and p != reference_onnx]
    first = reference_onnx or (graphs.pop(0) if graphs else None)
    layers = OnnxLayers() if first is None else \
        onnx_layers(onnx.load(str(first), load_external_data=False))
    for path in graphs:
        named_like(layers, onnx.load(str(path), load_external_data=False).graph.node)
    return summarise(kernels, layers, batch, peak_gmacs)


def named_like(layers: OnnxLayers, nodes) -> None:
    """Add `nodes` of a derived graph to `layers`: a node keeps the layer of the node it
    came from. ORT's optimised graph keeps the name of a fusion's first node (FusedConv
    `node_Conv_37` = Conv+BN+ReLU) and may rename its kernel after the tensor it writes
    (`relu_nchwc`); quantizers add suffixes (`node_Conv_39_quant`). Both resolve to that
    first node's layer, as the same model's .ort kernels do; else a node takes the layer
    of a tensor it writes."""
    known = OnnxLayers(node_layer=dict(layers.node_layer),
                       tensor_layer=dict(layers.tensor_layer))
    for node in nodes:
        layer = known.kernel_layer(node.name) or next(
            (known.tensor_layer[o] for o in node.output if o in known.tensor_layer), None)
        if layer is not None:
            layers.node_layer[node.name] = layer
            for output in node.output:
                layers.tensor_layer[output] = layer


def spiking_layers(target, compiled: Artifact, x: np.ndarray, settings: ProfileSettings,
                   source_onnx: Path | None) -> dict[str, Any]:
    """Per-population spikes, synaptic operations and energy of one recorded simulation
    with the fast simulator (spike-identical to brian2's), as the row's totals are."""
    from edgenn.targets.snn.coding import Simulator
    from edgenn.targets.snn.layers import layer_costs
    from edgenn.targets.snn.target import simulate

    runner = target.load(compiled, RunOptions(threads=settings.threads))
    x = np.asarray(x)[: settings.snn_samples]
    result = simulate(runner.network, x, runner.timesteps, Simulator.FAST, runner.coding,
                      runner.seed, settings.threads, record=True)
    costs = layer_costs(runner.network, result, x, runner.coding, runner.energy)
    names = OnnxLayers()
    if source_onnx is not None:
        import onnx

        names = onnx_layers(onnx.load(str(source_onnx), load_external_data=False))
    total = sum(c["energy_uj"] for c in costs) or 1.0
    for cost in costs:
        cost["tensor"] = cost["layer"]
        cost["layer"] = names.tensor_layer.get(cost["layer"], cost["layer"])
        cost["energy_share"] = cost["energy_uj"] / total
    return {"samples": len(x), "timesteps": result.timesteps, "layers": costs,
            "energy_estimate": True}


def profile_compiled(compiled: list[tuple[str, Artifact]], sources: dict[str, Path],
                     x: Samples, settings: ProfileSettings, targets: dict[str, Any],
                     peak_gmacs: float | None, references: dict[str, Path] | None = None
                     ) -> list[dict[str, Any]]:
    """One entry per (target, compiled artifact): the profile, or why there is none.
    `sources` maps a variant to the ONNX it was compiled from; `targets` the target
    objects by name; `references` the ONNX whose module scopes name a variant's layers
    (quantizers drop them). Never raises for one target: its entry says what went wrong."""
    entries = []
    for name, artifact in compiled:
        target = targets[name]
        entry: dict[str, Any] = {"target": name, "variant": artifact.variant}
        source = sources.get(artifact.variant)
        try:
            if artifact.format == "snn":
                entry["spiking"] = spiking_layers(target, artifact, x, settings, source)
            elif hasattr(target, "profile"):
                entry.update(profile_artifact(target, artifact, source, x, settings,
                                              peak_gmacs,
                                              (references or {}).get(artifact.variant)))
            else:
                entry["unavailable"] = f"the {name} target has no profiler"
        except EdgeNNError as exc:
            entry["unavailable"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one target's failure is its entry
            log.debug("profiling %s failed", name, exc_info=True)
            entry["unavailable"] = f"{type(exc).__name__}: {exc}"
        entries.append(entry)
    return entries
