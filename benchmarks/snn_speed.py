"""Spiking simulators on the digits test split at T = 64: brian2 (batched) vs fast.

Trains the digits CNN (or takes `--onnx MODEL.onnx`), converts it to a spiking network,
simulates the whole test split with both simulators from the same input drive, checks
that every neuron of every sample spikes the same number of times, and prints seconds
and their ratio (goals: brian2 under 60 s, fast at least 50× faster), plus SNN accuracy
at T = 64 and T = 128 against the ANN. brian2's time includes building its networks and
synapses (part of simulating a batch) but not importing it or generating code (a warm-up
run on two samples, timed separately: with Cython it compiles once per machine, then
brian2's cache serves it); the fast time is the median of three runs after one warm-up.

    python benchmarks/snn_speed.py [--onnx MODEL.onnx] [--timesteps 64] [--codegen auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, default=None)
    parser.add_argument("--timesteps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples-per-network", type=int, default=64)
    parser.add_argument("--codegen", choices=["auto", "cython", "numpy"], default="auto",
                        help="brian2 code generation (auto: cython when a compiler works)")
    args = parser.parse_args()

    import brian2  # noqa: F401  (imported up front: not part of the timing)
    import onnxruntime as ort
    import torch

    from edgenn.frontend.data import load_digits
    from edgenn.targets.snn.brian2_sim import codegen_target, simulate_brian2, sparse_connectivity
    from edgenn.targets.snn.coding import Coding, prepare_drive
    from edgenn.targets.snn.convert import convert_onnx
    from edgenn.targets.snn.fast import simulate_fast

    data = load_digits()
    with tempfile.TemporaryDirectory() as folder:
        model_path = args.onnx or _train_digits_cnn(data, Path(folder) / "cnn.onnx")
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: data.x_test})[0]
        ann = float(np.mean(logits.argmax(1) == data.y_test))
        network = convert_onnx(model_path, data.x_train)
    torch.set_num_threads(args.threads)
    steps = args.timesteps
    drive = prepare_drive(network, data.x_test, steps, Coding.CONSTANT)

    fast = simulate_fast(network, drive, threads=args.threads)  # warm-up: allocations
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fast = simulate_fast(network, drive, threads=args.threads)
        times.append(time.perf_counter() - start)
    fast_s = float(np.median(times))

    codegen = codegen_target(args.codegen)
    warm = prepare_drive(network, data.x_test[:2], 2)  # warm-up: brian2's code generation
    start = time.perf_counter()
    simulate_brian2(network, warm, args.samples_per_network, codegen=codegen)
    compile_s = time.perf_counter() - start  # Cython: compiling, unless cached already
    start = time.perf_counter()
    connectivity = sparse_connectivity(network)
    reference = simulate_brian2(network, drive, args.samples_per_network, connectivity,
                                codegen=codegen)
    brian2_s = time.perf_counter() - start

    identical = all(np.array_equal(a, b) for a, b in zip(fast.counts, reference.counts,
                                                         strict=True))
    neurons = sum(p.size for p in network.populations)
    long_run = simulate_fast(network, prepare_drive(network, data.x_test, 128), args.threads)
    predictions = long_run.predictions_over_time()
    at = {t: float(np.mean(predictions[t - 1] == data.y_test)) for t in (64, 128)}
    n = len(data.x_test)
    print(f"digits test split: {n} samples × {steps} timesteps, {neurons} neurons/sample, "
          f"{args.threads} threads")
    print(f"identical spike counts (every neuron, every sample): {identical}")
    print(f"brian2 ({codegen} codegen, {args.samples_per_network} samples/network): "
          f"{brian2_s:.2f} s   goal < 60 s: {'met' if brian2_s < 60 else 'NOT met'}")
    print(f"brian2 warm-up on 2 samples (code generation; compiling unless cached): "
          f"{compile_s:.1f} s")
    print(f"fast (torch, float32 where exact): {fast_s:.3f} s (median of 3 runs)")
    ratio = brian2_s / fast_s
    print(f"ratio brian2 / fast: {ratio:.1f}×   goal ≥ 50×: {'met' if ratio >= 50 else 'NOT met'}")
    print(f"accuracy: ANN {ann:.4f}; SNN T=64 {at[64]:.4f} ({100 * (at[64] - ann):+.2f} pp), "
          f"T=128 {at[128]:.4f} ({100 * (at[128] - ann):+.2f} pp)")


def _train_digits_cnn(data, path: Path) -> Path:
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    train(model, data, TrainConfig(epochs=15, seed=0))
    return export_onnx(model, data.x_train[:2], path).path


if __name__ == "__main__":
    main()
