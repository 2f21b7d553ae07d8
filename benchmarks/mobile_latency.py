"""Mobile latency on a MobileNetV2-style network at 224×224, batch 1.

Prints, from one run: TFLite (XNNPACK) int8 against fp32 p50 (goal ≥ 1.8× faster),
dynamic-range int8, and TFLite side by side with ONNX Runtime CPU (fp32 and QDQ int8)
and ONNX Runtime Mobile (.ort). Weights are random (latency does not depend on them);
int8 variants are calibrated on random images.

    .venv/bin/python benchmarks/mobile_latency.py [--threads 2] [--runs 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenn.core import Artifact, RunOptions
from edgenn.exporters.onnx import export_onnx
from edgenn.exporters.tflite import export_tflite
from edgenn.quantize.tflite import (
    TfliteStaticQuantConfig,
    quantize_tflite_dynamic,
    quantize_tflite_static,
)
from edgenn.targets.ort_mobile import OrtMobileTarget
from edgenn.targets.tflite import TfliteTarget


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
            act: bool = True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   conv_bn(hidden, cout, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    """MobileNetV2 (width 1.0): the standard (expand, channels, repeats, stride) table."""
    table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1)]
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
    cin = 32
    for expand, cout, repeats, stride in table:
        for i in range(repeats):
            layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [nn.Sequential(nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280),
                             nn.ReLU6()),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, num_classes)]
    return nn.Sequential(*layers).eval()


def p50_ms(runners: dict, x: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """p50 latency of each runner; the runs are interleaved (one of each per round) so
    that load from other processes on a shared machine hits every variant alike."""
    for runner in runners.values():
        for _ in range(warmup):
            runner.run(x)
    times: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(runs):
        for label, runner in runners.items():
            start = time.perf_counter()
            runner.run(x)
            times[label].append(time.perf_counter() - start)
    return {label: float(np.median(t) * 1e3) for label, t in times.items()}


class OrtCpu:
    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def run(self, x):
        return self.session.run(None, {"input": x})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = mobilenet_v2()
    rng = np.random.default_rng(0)
    images = rng.random((32, 3, 224, 224), dtype=np.float32)
    x = images[:1]
    options = RunOptions(threads=args.threads)

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        fp32 = export_tflite(model, x, folder / "mnv2.tflite")
        int8 = quantize_tflite_static(fp32, folder / "mnv2.int8.tflite", images,
                                      TfliteStaticQuantConfig(calibration_samples=32))
        dynamic = quantize_tflite_dynamic(fp32, folder / "mnv2.dynamic.tflite")
        onnx = export_onnx(model, images[:2], folder / "mnv2.onnx")
        onnx_int8 = _ort_int8(onnx, images, folder / "mnv2.int8.onnx")

        tflite = TfliteTarget()
        ort_mobile = OrtMobileTarget()
        runners, sizes = {}, {}
        for label, artifact in (("tflite fp32", fp32), ("tflite int8", int8),
                                ("tflite dynamic", dynamic)):
            runners[label], sizes[label] = tflite.load(artifact, options), artifact.size_bytes()
        for label, artifact in (("ort-cpu fp32", onnx), ("ort-cpu int8 (QDQ)", onnx_int8)):
            runners[label] = OrtCpu(artifact.path, args.threads)
            sizes[label] = artifact.size_bytes()
        for label, artifact in (("ort-mobile fp32", onnx), ("ort-mobile int8", onnx_int8)):
            compiled = ort_mobile.compile(artifact, folder / "ort")
            runners[label] = ort_mobile.load(compiled, options)
            sizes[label] = compiled.size_bytes()
        latency = p50_ms(runners, x, args.runs)
        rows = {label: (latency[label], sizes[label]) for label in runners}

    print(f"MobileNetV2-style 224×224, batch 1, {args.threads} threads, {args.runs} runs, "
          "p50 latency")
    print(f"{'variant':<22}{'p50 ms':>9}{'size MB':>10}{'vs tflite fp32':>16}")
    base = rows["tflite fp32"][0]
    for label, (ms, size) in rows.items():
        print(f"{label:<22}{ms:>9.2f}{size / 1e6:>10.2f}{base / ms:>15.2f}×")
    speedup = rows["tflite fp32"][0] / rows["tflite int8"][0]
    verdict = "met" if speedup >= 1.8 else "NOT met"
    print(f"tflite int8 vs fp32: {speedup:.2f}× faster (goal ≥ 1.8×: {verdict})")
    print(f"tflite fp32 vs ort-cpu fp32: {rows['ort-cpu fp32'][0] / base:.2f}× "
          "(>1: TFLite faster)")
    print(f"tflite int8 vs ort-cpu int8 (QDQ): "
          f"{rows['ort-cpu int8 (QDQ)'][0] / rows['tflite int8'][0]:.2f}× (>1: TFLite faster)")


def _ort_int8(onnx: Artifact, images: np.ndarray, path: Path) -> Artifact:
    """QDQ, uint8 activations and per-channel int8 weights: ORT's fast CPU int8 format."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": images[i:i + 8]} for i in range(0, len(images), 8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(onnx.path), str(path), Batches(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True)
    return onnx.derive(path, "quantize:int8-static", variant="int8-static")


if __name__ == "__main__":
    main()
