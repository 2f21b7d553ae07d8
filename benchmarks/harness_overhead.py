"""Harness overhead: the cpu target's p50 as the harness measures it, against a bare
`session.run` loop on the same model, in the same process. Goal: ratio ≤ 1.03.

Both loops time each call with perf_counter the same way; they alternate over several
rounds so that drift in the machine's speed hits both, and the ratio of medians is
reported per round and overall.

    python benchmarks/harness_overhead.py [--rounds 5] [--runs 2000] [--batch 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits, save_npz
    from edgenn.frontend.zoo import build_model
    from edgenn.run.config import LatencySettings
    from edgenn.run.harness import Job, measure
    from edgenn.targets.cpu import CpuTarget, open_session

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", data.sample_shape, data.num_classes).eval()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        onnx_artifact = export_onnx(model, data.x_val[:4], root / "model.onnx")
        compiled = CpuTarget().compile(onnx_artifact, root)
        test_path = save_npz(root / "test.npz", data.x_test, data.y_test)
        batch = np.ascontiguousarray(np.resize(data.x_test, (args.batch, 1, 8, 8)))
        job = Job(target="cpu", target_options={}, artifact=compiled.to_dict(),
                  data_path=str(test_path), reference_path=None,
                  latency=LatencySettings(warmup=200, runs=args.runs, batch_size=args.batch,
                                          threads=args.threads))
        session = open_session(compiled.path, args.threads)
        name = session.get_inputs()[0].name

        def bare() -> float:
            feeds = {name: batch}
            for _ in range(200):
                session.run(None, feeds)
            samples = []
            clock = time.perf_counter
            for _ in range(args.runs):
                start = clock()
                session.run(None, {name: batch})
                samples.append((clock() - start) * 1000.0)
            return float(np.percentile(samples, 50))

        ratios, harness_p50s, bare_p50s = [], [], []
        for round_index in range(args.rounds):
            bare_p50 = bare()
            row = measure(job)
            assert row.status == "ok", row.reason
            harness_p50 = row.latency_ms["p50"]
            ratios.append(harness_p50 / bare_p50)
            harness_p50s.append(harness_p50)
            bare_p50s.append(bare_p50)
            print(f"round {round_index + 1}: harness p50 {harness_p50 * 1000:.1f} µs · "
                  f"bare session.run p50 {bare_p50 * 1000:.1f} µs · ratio {ratios[-1]:.3f}")
    print(f"\ndigits CNN, batch {args.batch}, {args.threads} threads, {args.runs} runs × "
          f"{args.rounds} rounds")
    print(f"median harness p50 {np.median(harness_p50s) * 1000:.1f} µs, bare "
          f"{np.median(bare_p50s) * 1000:.1f} µs")
    print(f"harness / bare p50 ratio: {np.median(ratios):.3f} (goal ≤ 1.03)")


if __name__ == "__main__":
    main()
