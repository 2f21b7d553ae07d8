"""`edgenn run` on a user's real-size ONNX model: MobileNetV2-224, 512 random samples.

Builds a MobileNetV2-style network (3×224×224, 1,000 classes, random weights with BatchNorm
statistics from random batches), exports it with PyTorch's TorchScript exporter and a
FIXED batch of 1 (as most models in the wild come), writes 512 random images without
labels, and runs the README command a user would type:

    edgenn run model.onnx --data images.npz --out OUT

on every target (spiking targets fail fast: ReLU6 has no integrate-and-fire form), then
prints the wall time, the peak resident memory of the run's own process and of the
largest measurement worker, and the table rows. Nothing is asserted; figures vary by host.
Run it alone: `python benchmarks/user_onnx_run.py [--samples 512] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mobile_latency import mobilenet_v2  # the same MobileNetV2-style net as there


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--keep", default=None, help="build directory to keep (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep or scratch)
        root.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = mobilenet_v2().train()
        with torch.no_grad():  # BatchNorm statistics from random batches
            for _ in range(4):
                model(torch.rand(8, 3, 224, 224))
        model.eval()
        onnx_path = root / "mobilenet_v2.onnx"
        torch.onnx.export(model, (torch.rand(1, 3, 224, 224),), str(onnx_path), dynamo=False,
                          input_names=["image"], output_names=["logits"])  # fixed batch 1
        data = root / "images.npz"
        rng = np.random.default_rng(0)
        np.savez(data, x=rng.random((args.samples, 3, 224, 224), dtype=np.float32))
        out = root / "out"
        command = [sys.executable, "-m", "edgenn.cli", "run", str(onnx_path), "--data",
                   str(data), "--out", str(out), "--json", "-q"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"command: edgenn run {onnx_path.name} --data {data.name} (every target)")
        print(f"exit {done.returncode}; wall {wall:.1f} s; peak RSS of the largest process "
              f"(the run or a worker) {children:.0f} MiB")
        if done.returncode != 0:
            print(done.stderr[-2000:])
            return 1
        report = json.loads(done.stdout)
        timings = report["extra"].get("timings_s", {})
        print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in timings.items()))
        print(f"{'row':28} {'status':8} {'p50 ms':>8} {'cosine':>8} {'SNR dB':>7} "
              f"{'size MiB':>9} {'peak MiB':>9}")
        for row in report["rows"]:
            label = f"{row['target']}-{row['variant']}"
            p50 = row["latency_ms"].get("p50")
            print(f"{label:28} {row['status']:8} "
                  f"{p50 if p50 is None else round(p50, 2)!s:>8} "
                  f"{_fmt(row.get('cosine_similarity'), '.4f'):>8} "
                  f"{_fmt(row.get('snr_db'), '.1f'):>7} "
                  f"{_fmt((row.get('size_bytes') or 0) / 2**20 or None, '.2f'):>9} "
                  f"{_fmt(row.get('peak_rss_mb'), '.0f'):>9}")
    return 0


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
