"""Which layer loses the accuracy: every variant's intermediate outputs against a reference.

The reference is the PyTorch model (forward hooks on every named module) or, for a model
edgenn did not build, the fp32 ONNX file. Each variant exposes its layers' outputs:
- ONNX (fp32, int8 dynamic/static, fp16, pruned): each layer's last tensor becomes a graph
  output; in a QDQ model the value read is after its Quantize→Dequantize pair, the value
  the next layer actually sees;
- TFLite: the interpreter's preserved tensors, named by litert-torch after the module;
- spiking: firing rate × threshold × the layer's normalisation scale.
Per layer: SNR in dB (10·log10 Σref² / Σ(ref − value)²), cosine similarity and max abs
error over the same samples; the first layer (in execution order) under the SNR threshold
is named. Layouts are aligned first (TFLite's NHWC against NCHW; a flattened tensor
against its image).

A model with several inputs takes its samples as {input name: array}
(`edgenn.core.samples`); a .tflite whose inputs are named otherwise than the reference's
(litert-torch names them args_0, args_1, … in the module's argument order) is fed them in
the reference's order.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import BadInputError, TensorSpec, samples
from edgenn.core.samples import Samples
from edgenn.core.target import batch_size_of, feed_inputs, fixed_size_chunks, model_feed
from edgenn.run.layers.names import OnnxLayers, latest, onnx_layers, tflite_layers

log = logging.getLogger(__name__)

THRESHOLD_DB = 30.0
SNR_CAP_DB = 100.0


def compare(reference: np.ndarray, value: np.ndarray) -> dict[str, float] | None:
    """SNR (dB), cosine and max abs error of `value` against `reference`; None when the
    two cannot be aligned (a pruned layer with fewer channels, say)."""
    value = align(reference, value)
    if value is None:
        return None
    ref = reference.astype(np.float64).ravel()
    val = value.astype(np.float64).ravel()
    noise = float(np.sum((ref - val) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        snr = SNR_CAP_DB
    elif signal == 0.0:
        snr = -SNR_CAP_DB
    else:
        snr = float(np.clip(10.0 * np.log10(signal / noise), -SNR_CAP_DB, SNR_CAP_DB))
    norms = float(np.linalg.norm(ref) * np.linalg.norm(val))
    cosine = float(ref @ val / norms) if norms else (1.0 if noise == 0.0 else 0.0)
    return {"snr_db": snr, "cosine": cosine, "max_abs": float(np.max(np.abs(ref - val)))}


def align(reference: np.ndarray, value: np.ndarray) -> np.ndarray | None:
    if value.shape == reference.shape:
        return value
    if value.ndim == 4 and value.transpose(0, 3, 1, 2).shape == reference.shape:
        return value.transpose(0, 3, 1, 2)  # NHWC → NCHW
    if value.size == reference.size and value.shape[:1] == reference.shape[:1]:
        return value.reshape(reference.shape)
    return None


def torch_layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Output of every named submodule of `model` on `x`, in execution order (a container
    whose output is its last child's tensor is that child's layer, not one of its own)."""
    import torch

    outputs: dict[str, np.ndarray] = {}
    handles = []
    last: list = [None]  # a container handing on its last child's tensor adds no layer

    def keep(name: str) -> Callable:
        def hook(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor) and output.is_floating_point() \
                    and output is not last[0]:
                outputs[name] = output.detach().float().cpu().numpy()
                last[0] = output
        return hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(keep(name)))
    try:
        with torch.no_grad():
            model.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def onnx_layer_outputs(path: Path, x: Samples, names: OnnxLayers, threads: int = 2,
                       specs: Sequence[TensorSpec] = ()) -> dict[str, np.ndarray]:
    """Each layer's output (named by `names`, the fp32 graph's layers) in the ONNX model
    at `path`: its last tensor, read after a Quantize→Dequantize pair when it has one.
    `x` is samples-first; each input is fed in its layout (`specs`, the reference's input
    specs with the data's layout, else the one its shape implies)."""
    import onnx

    from edgenn.targets.cpu import ORT_TYPES, open_session

    model = onnx.load(str(path))
    produced = {out for node in model.graph.node for out in node.output}
    dequantized = _dequantized_names(model)
    wanted: dict[str, str] = {}
    for layer, tensor in names.outputs.items():
        if tensor in produced:
            wanted[layer] = dequantized.get(tensor, tensor)
    existing = {o.name for o in model.graph.output}
    for tensor in sorted(set(wanted.values()) - existing):
        model.graph.output.append(onnx.ValueInfoProto(name=tensor))
    with tempfile.TemporaryDirectory(prefix="edgenn-diverge-") as folder:
        augmented = Path(folder) / "layers.onnx"
        onnx.save(model, str(augmented), save_as_external_data=model.ByteSize() > (1 << 30))
        session = open_session(augmented, threads)
        inputs = feed_inputs([(i.name, ORT_TYPES.get(i.type, np.float32), i.shape)
                              for i in session.get_inputs()], specs)
        names_out = [o.name for o in session.get_outputs()]
        x = _by_input([i.name for i in inputs], x, path)
        fixed = batch_size_of(inputs)  # a model that fixes its batch runs in chunks
        count = samples.count(x)
        chunks = [(x, count)] if fixed is None else list(fixed_size_chunks(x, fixed))
        values: dict[str, list[np.ndarray]] = {}
        for chunk, rows in chunks:
            size = samples.count(chunk)
            results = session.run(names_out, model_feed(chunk, inputs))
            for name, value in zip(names_out, results, strict=True):
                value = np.asarray(value)
                if value.ndim and value.shape[0] == size:  # per sample, not a shape
                    values.setdefault(name, []).append(value[:rows])
    by_tensor = {name: np.concatenate(parts) if len(parts) > 1 else parts[0]
                 for name, parts in values.items()}
    return {layer: by_tensor[t].astype(np.float32) for layer, t in wanted.items()
            if t in by_tensor and np.issubdtype(by_tensor[t].dtype, np.floating)}


def _by_input(names: list[str], x: Samples, path: Path) -> Samples:
    """`x` keyed by the model's input `names`: one array feeds a one-input model; a dict is
    matched by name, or — names differing, as between an ONNX export and its .tflite — by
    position."""
    if not isinstance(x, Mapping):
        if len(names) != 1:
            raise BadInputError(f"{Path(path).name} takes {len(names)} inputs "
                                f"({', '.join(names)}); give one array per input, named "
                                "x.<input>")
        return x
    if set(names) == set(x):
        return x
    if len(names) != len(x):
        raise BadInputError(f"{Path(path).name} takes {len(names)} input(s) "
                            f"({', '.join(names)}); the samples have {len(x)} "
                            f"({', '.join(x)})")
    return dict(zip(names, x.values(), strict=True))


def _dequantized_names(model) -> dict[str, str]:
    """tensor → the output of the DequantizeLinear fed by its QuantizeLinear (QDQ)."""
    q_of = {n.input[0]: n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    dq_of = {n.input[0]: n.output[0] for n in model.graph.node
             if n.op_type == "DequantizeLinear"}
    return {t: dq_of[q] for t, q in q_of.items() if q in dq_of}


def tflite_layer_outputs(path: Path, x: Samples, order: list[str] | None = None
                         ) -> dict[str, np.ndarray]:
    """Each layer's last output in a litert-torch .tflite (by its tensors' module names; a
    fused op's output belongs to the module of `order` that runs last among its own)."""
    from edgenn.exporters.tflite import tflite_specs
    from edgenn.targets.tflite import layer_outputs

    if isinstance(x, Mapping):  # float samples: the runner quantizes an integer input
        inputs, _ = tflite_specs(path)
        x = {name: np.asarray(array, dtype=np.float32) for name, array in
             _by_input([spec.name for spec in inputs], x, path).items()}
    else:
        x = np.asarray(x, dtype=np.float32)
    found: dict[str, np.ndarray] = {}
    outputs = layer_outputs(Path(path), x)
    for index, (tensor, _op, value) in enumerate(outputs):
        layer = latest(tflite_layers(tensor), order or [])
        if layer is None and index == len(outputs) - 1 and order:
            layer = order[-1]  # the model's output (`serving_default_…`): the last layer
        if layer is not None:
            found[layer] = value  # the last op of a layer wins: its output
    return found


def capped(x: Samples, per_sample_bytes: int, limit_bytes: int
           ) -> tuple[Samples, dict[str, Any] | None]:
    """The first samples of `x` whose layer outputs fit in `limit_bytes` (at least one),
    and, when that is fewer than given, what was cut and why (for the table and the
    terminal)."""
    given = samples.count(x)
    kept = max(1, min(given, limit_bytes // max(per_sample_bytes, 1)))
    if kept >= given:
        return x, None
    return samples.take(x, slice(0, kept)), {
        "given": given, "compared": kept,
        "reason": f"every layer's output of one sample takes {_bytes(per_sample_bytes)} "
                  f"and a model's layer outputs are held in at most {_bytes(limit_bytes)}"}


def _bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def spiking_layer_outputs(runner, x: np.ndarray, names: OnnxLayers) -> dict[str, np.ndarray]:
    """Rate-coded activations of a loaded spiking runner, keyed by layer."""
    from edgenn.targets.snn.layers import rate_activations

    result = runner.simulate(np.asarray(x, dtype=np.float32))
    return {names.tensor_layer.get(tensor, tensor): value
            for tensor, value in rate_activations(runner.network, result)}


def divergence(reference: dict[str, np.ndarray], variants: dict[str, dict[str, np.ndarray]],
               threshold_db: float = THRESHOLD_DB, order: list[str] | None = None
               ) -> dict[str, Any]:
    """The layers × variants table: per variant and layer the comparison (or None), and the
    first layer (in `order`, default the reference's) whose SNR is under `threshold_db`."""
    order = [layer for layer in (order or list(reference)) if layer in reference]
    return table_of({name: compare_layers(reference, outputs, order)
                     for name, outputs in variants.items()}, order, threshold_db)


def compare_layers(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                   order: list[str]) -> dict[str, dict[str, float] | None]:
    """One variant's comparison per layer of `order` (None where it has no such layer)."""
    return {layer: compare(reference[layer], outputs[layer])
            if layer in outputs and layer in reference else None for layer in order}


def table_of(compared: dict[str, dict[str, dict | None]], order: list[str],
             threshold_db: float) -> dict[str, Any]:
    """The layers × variants table from each variant's `compare_layers`."""
    # rows no variant could be compared on (a PyTorch-only module, a fused-away tensor)
    order = [layer for layer in order if any(c[layer] is not None for c in compared.values())]
    table = []
    for name, layers in compared.items():
        layers = {layer: layers[layer] for layer in order}
        below = next((layer for layer in order if layers[layer] is not None
                      and layers[layer]["snr_db"] < threshold_db), None)
        table.append({"variant": name, "first_below": below, "layers": layers})
    return {"threshold_db": threshold_db, "layers": order, "variants": table}


def reference_names(onnx_path: Path) -> OnnxLayers:
    import onnx

    return onnx_layers(onnx.load(str(onnx_path), load_external_data=False))
