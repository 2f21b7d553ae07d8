"""Device harness bias and cost: the digits CNN's cpu row measured through a loopback
device (a real sshd on 127.0.0.1, this same machine) against the same compiled model
measured locally the way `edgenn run` does (a freshly spawned process per row).

Since both run on the same CPU, the p50 ratio device/local must be within noise of 1.0:
that is the proof the remote runner adds no bias. The script also prints what the
remote path adds to a row's wall time (probe, copying, ssh and the device's Python
start-up) against the local row's. Rounds alternate local and device so that drift in
the machine's speed hits both.

    python benchmarks/device_loopback.py [--rounds 5] [--runs 2000] [--device NAME]

Without --device it starts its own sshd on a free port with throwaway keys (the test
suite's loopback server, tests/devices/conftest.py; needs scripts/sshd_test.sh); with
--device it measures on that device of `edgenn devices list` instead (then the ratio
compares two machines and is no bias check). Exit 2 when no device can be reached.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def loopback_server(root: Path):
    """The test suite's SshServer, loaded from its file (benchmarks are not a package)."""
    spec = importlib.util.spec_from_file_location("device_fixtures",
                                                  REPO / "tests/devices/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.sshd_path() is None:
        sys.exit("device_loopback: no sshd here; run scripts/sshd_test.sh first")
    return module.SshServer(root / "sshd").start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="a device of `edgenn devices list`")
    args = parser.parse_args()

    import torch

    from edgenn.devices import DeviceError, SshTransport, get_device, probe
    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits, save_npz
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model
    from edgenn.run.config import Hooks, LatencySettings, RunConfig
    from edgenn.run.harness import Job, measure_all
    from edgenn.run.remote import measure_row
    from edgenn.targets.cpu import CpuTarget

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", data.sample_shape, data.num_classes)
    train(model, data, TrainConfig(epochs=3, seed=0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = None
        if args.device:
            device = get_device(args.device)
        else:
            server = loopback_server(root)
            device = server.device(name="loopback")
        try:
            onnx_artifact = export_onnx(model.eval(), data.x_val[:4], root / "model.onnx")
            compiled = CpuTarget().compile(onnx_artifact, root / "compiled")
            test_path = save_npz(root / "test.npz", data.x_test, data.y_test)
            latency = LatencySettings(warmup=args.warmup, runs=args.runs,
                                      threads=args.threads)
            config = RunConfig(out=root, latency=latency)
            job = Job(target="cpu", target_options={}, artifact=compiled.to_dict(),
                      data_path=str(test_path), reference_path=None, latency=latency)
            # as `edgenn run --device` does: one shared SSH connection for the device
            transport = SshTransport(device)
            connection = transport.shared_connection()
            start = time.perf_counter()
            try:
                connection.__enter__()
                info = probe(device, ("onnxruntime", "numpy"), transport)
            except DeviceError as exc:
                print(f"device_loopback: {exc}", file=sys.stderr)
                return 2
            probe_s = time.perf_counter() - start
            local, remote, local_wall, remote_wall, steps = [], [], [], [], []
            for round_index in range(args.rounds):
                start = time.perf_counter()
                [row] = measure_all([job], isolate=True)
                local_wall.append(time.perf_counter() - start)
                start = time.perf_counter()
                device_row = measure_row(device, info, "cpu", compiled, config, test_path,
                                         None, Hooks(), transport)
                remote_wall.append(time.perf_counter() - start)
                if row.status != "ok" or device_row.status != "ok":
                    print(f"failed: {row.reason or device_row.reason}", file=sys.stderr)
                    return 2
                local.append(row.latency_ms["p50"])
                remote.append(device_row.latency_ms["p50"])
                steps.append(device_row.extra["remote_s"])
                print(f"round {round_index + 1}: local p50 {local[-1] * 1000:.2f} µs "
                      f"[{row.latency_ms['p50_ci95_low'] * 1000:.2f}, "
                      f"{row.latency_ms['p50_ci95_high'] * 1000:.2f}], device p50 "
                      f"{remote[-1] * 1000:.2f} µs "
                      f"[{device_row.latency_ms['p50_ci95_low'] * 1000:.2f}, "
                      f"{device_row.latency_ms['p50_ci95_high'] * 1000:.2f}], "
                      f"ratio {remote[-1] / local[-1]:.3f}")
            connection.__exit__(None, None, None)
        finally:
            if server is not None:
                server.stop()
    ratios = [r / q for r, q in zip(remote, local, strict=True)]
    median = statistics.median
    print(f"\ndevice {device.name} ({info.arch}, {info.facts.get('cpu')}), digits CNN, "
          f"batch 1, {args.threads} threads, {args.runs} timed runs × {args.rounds} rounds")
    print(f"p50 device/local: {median(remote) / median(local):.3f} (median of p50s: device "
          f"{median(remote) * 1000:.2f} µs, local {median(local) * 1000:.2f} µs); "
          f"per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    runner = median(s["runner"] for s in steps)
    print(f"wall per row: local {median(local_wall):.2f} s (spawned process), device "
          f"{median(remote_wall):.2f} s = copy {median(s['ship'] for s in steps):.2f} s + "
          f"remote call {median(s['measure'] for s in steps):.2f} s (runner itself "
          f"{runner:.2f} s); the remote path adds "
          f"{median(remote_wall) - median(local_wall):+.2f} s per row, plus "
          f"{probe_s:.2f} s once per device (connection and probe)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
