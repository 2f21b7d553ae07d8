"""GPU latency: fp32, fp16 and TensorRT p50 at batch 1 and 64, for the digits CNN and a
MobileNetV2-style network at 3×224×224, through edgenn's gpu target.

Each configuration reports two p50s: `run()` as the harness times it (host→device copy of
the input, inference, device→host copy of the output) and device-only (IO binding with
both left on the GPU). Needs an NVIDIA GPU and onnxruntime-gpu; elsewhere it prints why
the gpu target is unavailable and exits 2. Random weights: latency does not depend on them.

    python benchmarks/gpu_latency.py [--runs 200] [--batches 1,64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def p50(run, batch: np.ndarray, runs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        run(batch)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run(batch)
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(samples, 50))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batches", default="1,64")
    args = parser.parse_args()

    from edgenn.core import RunOptions
    from edgenn.targets.gpu import GpuTarget

    reason = GpuTarget().available()
    if reason:
        print(f"gpu target unavailable: {reason}", file=sys.stderr)
        return 2

    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.zoo import build_model
    from edgenn.quantize.fp16 import Fp16Config, convert_fp16

    sys.path.insert(0, str(Path(__file__).parent))
    from mobile_latency import mobilenet_v2  # the same MobileNetV2-style net as there

    torch.manual_seed(0)
    networks = {
        "digits CNN (1×8×8)": (build_model("cnn", (1, 8, 8), 10).eval(), (1, 8, 8)),
        "MobileNetV2-style (3×224×224)": (mobilenet_v2().eval(), (3, 224, 224)),
    }
    configs = [("fp32 CUDA", "cuda", False, "fp32"), ("fp16 CUDA", "cuda", False, "fp16"),
               ("fp32 TensorRT", "tensorrt", False, "fp32"),
               ("fp16 TensorRT", "tensorrt", True, "fp16")]
    batches = [int(b) for b in args.batches.split(",")]
    print(f"{'network':32} {'config':15} {'batch':>5} {'run() p50 ms':>13} "
          f"{'device p50 ms':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label, (model, shape) in networks.items():
            example = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
            fp32 = export_onnx(model, example, root / f"{len(shape)}-{shape[-1]}.onnx")
            models = {"fp32": fp32,
                      "fp16": convert_fp16(fp32, root / f"{fp32.path.stem}.fp16.onnx",
                                           Fp16Config())}
            for name, provider, fp16, variant in configs:
                target = GpuTarget(provider=provider, fp16=fp16)
                workdir = root / f"{fp32.path.stem}-{provider}-{variant}-{fp16}"
                workdir.mkdir()
                try:
                    compiled = target.compile(models[variant], workdir)
                    runner = target.load(compiled, RunOptions(threads=2))
                except Exception as exc:  # report the configuration, go on with the rest
                    print(f"{label:32} {name:15} failed: {type(exc).__name__}: {exc}")
                    continue
                for batch_size in batches:
                    batch = np.random.default_rng(1).random((batch_size, *shape),
                                                            dtype=np.float32)
                    host = p50(runner.run, batch, args.runs)
                    device = float(np.percentile(runner.device_latency_ms(batch, args.runs),
                                                 50))
                    print(f"{label:32} {name:15} {batch_size:5d} {host:13.3f} {device:14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
