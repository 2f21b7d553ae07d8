"""The by-hand side of `wild_models.py`: feeding a real model its `.npz` as its own
project would (one feed per sample, in the model's layout), comparing outputs with the
fp32 model's, and the baseline edgenn is held to — the standard by-hand use of
`onnxruntime.quantization.quantize_static` (opset upgrade, `quant_pre_process` with
fallback, per-channel and default settings) on the samples edgenn calibrated on."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

# ---------------------------------------------------------------- feeding a model


def load_inputs(data: Path) -> dict[str, np.ndarray]:
    with np.load(data) as arrays:
        return {key: arrays[key] for key in arrays.files if key == "x" or key.startswith("x.")}


def sample_count(arrays: dict[str, np.ndarray]) -> int:
    """N: the size of axis 0 of `x`, or of the first multi-dimensional `x.<name>`."""
    first = next(a for a in arrays.values() if a.ndim > 0)
    return first.shape[0]


def feeds(session: ort.InferenceSession, arrays: dict[str, np.ndarray],
          count: int) -> list[dict[str, np.ndarray]]:
    """One feed per sample, batch 1: each array sliced on its batch axis (the axis of
    size N where the model's dimension is not a fixed number other than N; axis 0 when
    several fit), a 0-d array given as it is."""
    inputs = session.get_inputs()
    named = {inputs[0].name: arrays["x"]} if "x" in arrays else \
        {name.removeprefix("x."): a for name, a in arrays.items()}
    axes = {}
    for spec in inputs:
        array = named[spec.name]
        if array.ndim == 0:
            continue
        fits = [axis for axis, size in enumerate(array.shape) if size == count
                and not (isinstance(spec.shape[axis], int) and spec.shape[axis] not in (1, count))]
        axes[spec.name] = 0 if 0 in fits or not fits else fits[0]
    out = []
    for index in range(count):
        feed = {}
        for spec in inputs:
            array = named[spec.name]
            feed[spec.name] = array if array.ndim == 0 else \
                np.take(array, [index], axis=axes[spec.name])
        out.append(feed)
    return out


def session(path: Path | str, threads: int = 2) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def first_outputs(sess: ort.InferenceSession, sample_feeds: list[dict]) -> np.ndarray:
    return np.stack([sess.run(None, feed)[0] for feed in sample_feeds])


def compare(reference: np.ndarray, output: np.ndarray, scores: bool) -> dict:
    """SNR (dB, over all values), mean cosine per sample, argmax agreement (last axis)."""
    signal = noise = 0.0
    cosines = []
    for ref, out in zip(reference, output, strict=True):  # per sample: bounded memory
        ref, out = ref.astype(np.float64).ravel(), out.astype(np.float64).ravel()
        signal += float(ref @ ref)
        noise += float((ref - out) @ (ref - out))
        norms = np.linalg.norm(ref) * np.linalg.norm(out)
        cosines.append(float(ref @ out) / norms if norms > 0 else float(np.all(ref == out)))
    snr = float("inf") if noise == 0 else 10 * np.log10(signal / noise)
    cosine = float(np.mean(cosines))
    agreement = float(np.mean(reference.argmax(-1) == output.argmax(-1))) if scores else None
    if not scores and reference.shape[-1] == 1 and 0 <= reference.min() <= reference.max() <= 1:
        # one probability per sample (a detector's "speech?"): the decision at 0.5 agrees
        agreement = float(np.mean((reference > 0.5) == (output > 0.5)))
    return {"snr_db": snr, "cosine": cosine, "argmax_agreement": agreement}


# ---------------------------------------------------------------- by hand


class _Reader:
    """The CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, sample_feeds: list[dict]):
        self._feeds = iter(sample_feeds)

    def get_next(self):
        return next(self._feeds, None)


def _opset(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def edgenn_calibration(out: Path, path: Path, data: Path, fp32) -> list[dict] | None:
    """The samples edgenn calibrated on (OUT/data/calibration.npz), one feed each in the
    model's layout, so that the by-hand quantizer sees the same data; None without it."""
    from edgenn.core import samples
    from edgenn.core.target import model_feed
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.frontend.inputs import with_data_layout
    from edgenn.targets.cpu import session_inputs

    table = Path(out) / "data" / "calibration.npz"
    if not table.is_file():
        return None
    x, _ = samples.load(table)
    inputs = session_inputs(fp32, with_data_layout(load_onnx_artifact(path), data).inputs)
    return [model_feed(samples.take(x, slice(i, i + 1)), inputs)
            for i in range(samples.count(x))]


def by_hand(fp32: Path, calibration: list[dict], workdir: Path) -> list[dict]:
    """The by-hand candidates: each {name, path | error, steps}."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgenn.core.preparation import working_directory

    steps: list[str] = []
    source = fp32
    if _opset(fp32) < 13:
        upgraded = workdir / "upgraded.onnx"
        try:
            from onnx import version_converter
            onnx.save(version_converter.convert_version(onnx.load(str(fp32)), 13), upgraded)
            source, steps = upgraded, [f"opset {_opset(fp32)}→13"]
        except Exception as exc:  # noqa: BLE001 - a finding, recorded
            steps = [f"opset upgrade failed: {short(exc)}"]
    prepared, pre_steps = None, []
    for skip in (False, True):
        target = workdir / f"pre{int(skip)}.onnx"
        try:
            with working_directory(workdir):  # its scratch files land in the cwd
                quant_pre_process(str(source), str(target), skip_symbolic_shape=skip)
            prepared = target
            pre_steps.append("pre-process" + (" (skip_symbolic_shape)" if skip else ""))
            break
        except Exception as exc:  # noqa: BLE001
            pre_steps.append(f"pre-process{' (skip_symbolic_shape)' if skip else ''} failed: "
                             f"{short(exc)}")
    plans = [("a: pre + QDQ u8/s8 per-channel", prepared or source, True, QuantType.QUInt8),
             ("b: defaults (QDQ s8/s8 per-tensor)", source, False, QuantType.QInt8),
             ("c: pre + QDQ u8/s8 per-tensor", prepared or source, False, QuantType.QUInt8)]
    candidates = []
    for index, (name, model, per_channel, activations) in enumerate(plans):
        out = workdir / f"byhand-{'abc'[index]}.onnx"
        own = steps + (pre_steps if index != 1 else [])
        try:
            quantize_static(str(model), str(out), _Reader(calibration),
                            quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=activations, weight_type=QuantType.QInt8,
                            # min/max merged every k samples: same ranges, bounded memory (k
                            # must not divide the count: ORT then ends with "No data is
                            # collected")
                            extra_options={"CalibMaxIntermediateOutputs":
                                           16 if len(calibration) % 16 else 15})
            session(out)
            candidates.append({"name": name, "path": str(out), "steps": own})
        except Exception as exc:  # noqa: BLE001
            candidates.append({"name": name, "error": short(exc), "steps": own})
    return candidates


def short(exc: BaseException) -> str:
    """One line: the exception, and where it was raised when it has no message."""
    text = str(exc).strip().splitlines()
    if text:
        return f"{type(exc).__name__}: {text[0]}"[:240]
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(frame[0].filename).name}:{frame[0].lineno} ({frame[0].line})" \
        if frame else ""
    return f"{type(exc).__name__}{where}"[:240]
