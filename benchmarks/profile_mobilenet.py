"""Where MobileNetV2-224 spends its time on the cpu and ort-mobile targets, and what
profiling costs.

Builds the MobileNetV2-style net of `mobile_latency.py` (random weights, 3×224×224, 1,000
classes), exports it with edgenn's dynamo exporter (so layers carry PyTorch module names)
and to .tflite, then runs `edgenn.api.profile` on cpu, ort-mobile and tflite and prints:
- the top-5 operator types with their share of a run, and the 5 slowest layers with the
  GMAC/s they achieve beside the measured MatMul peak;
- the profiler's own overhead: the median session.run() with ORT's profiler on, over the
  median without it, measured in the same process, alternating, on the same session
  settings (ratio > 1 means profiling slows a run; the table's latency never includes it);
- what the tflite target says (LiteRT's Python package has no op profiler).
Figures vary by host; nothing is asserted. Run it alone:
`python benchmarks/profile_mobilenet.py [--runs 20] [--threads 2]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from mobile_latency import mobilenet_v2  # the same MobileNetV2-style net as there


def run_overhead(model_path: Path, image: np.ndarray, threads: int, runs: int) -> float:
    """median(run with profiler) / median(run without), alternating sessions."""
    from edgenn.targets.cpu import open_session

    with tempfile.TemporaryDirectory() as folder:
        plain = open_session(model_path, threads)
        profiled = open_session(model_path, threads, profile_prefix=str(Path(folder) / "p"))
        name = plain.get_inputs()[0].name
        times: dict[str, list[float]] = {"plain": [], "profiled": []}
        for session in (plain, profiled):
            session.run(None, {name: image})
        for _ in range(runs):
            for label, session in (("plain", plain), ("profiled", profiled)):
                start = time.perf_counter()
                session.run(None, {name: image})
                times[label].append(time.perf_counter() - start)
        profiled.end_profiling()
    return float(np.median(times["profiled"]) / np.median(times["plain"]))


def main() -> int:
    import torch

    from edgenn.api import profile
    from edgenn.exporters.onnx import export_onnx
    from edgenn.exporters.tflite import export_tflite
    from edgenn.report.layers import profile_lines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        torch.manual_seed(0)
        model = mobilenet_v2()
        images = np.random.default_rng(0).random((4, 3, 224, 224), dtype=np.float32)
        onnx = export_onnx(model, images[:2], root / "mnv2.onnx")
        tflite = export_tflite(model, images[:1], root / "mnv2.tflite")
        data = root / "images.npz"
        np.savez(data, x=images)
        start = time.perf_counter()
        result = profile(onnx.path, data, ["cpu", "ort-mobile"], root / "out", runs=args.runs,
                         threads=args.threads)
        seconds = time.perf_counter() - start
        tflite_result = profile(tflite.path, data, ["tflite"], root / "out-tflite",
                                runs=args.runs, threads=args.threads)
        print(f"MobileNetV2-224 (random weights), batch 1, {args.threads} threads, "
              f"{args.runs} profiled runs after one warm-up")
        for line in profile_lines(result):
            print(line)
        for line in profile_lines(tflite_result)[1:]:
            print(line)
        print(f"profiling cpu + ort-mobile took {seconds:.1f} s (sessions, compile, probe)")
        ratio = run_overhead(Path(onnx.path), images[:1], args.threads, args.runs)
        print(f"profiler overhead per run (cpu, fp32): {ratio:.2f}× the unprofiled median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
