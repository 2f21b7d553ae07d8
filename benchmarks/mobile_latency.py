"""Mobile latency on a MobileNetV2-style network at 224×224, batch 1.

Prints, from one run: TFLite (XNNPACK) int8 against fp32 p50 (goal ≥ 1.8× faster),
dynamic-range int8, and TFLite side by side with ONNX Runtime CPU (fp32 and QDQ int8)
and ONNX Runtime Mobile (.ort). Weights are random (latency does not depend on them);
int8 variants are calibrated on random images.

Each (runtime, model) is measured alone, in a freshly spawned process of its own: runtimes
sharing one process interfere (ONNX Runtime's intra-op threads spin after each run and
take the cores from the TFLite interpreter that runs next — interleaved, TFLite fp32 read
23 ms where alone it takes 6.3 ms). Inside that process the row is measured twice, in
alternating rounds: by edgenn's harness (`edgenn.run.harness.measure`, as `edgenn run`
does) and by hand, a plain timed loop over the runtime's own API (TFLite `set_tensor`/
`invoke`/`get_tensor`, ONNX Runtime `session.run`) on the same file with the same
threads. Every ratio is printed beside the same ratio from the by-hand loops, so each can
be checked against a figure that owes nothing to edgenn; `harn/hand` near 1 says the
harness adds nothing. Run it alone: other processes on the cores move every figure.

    .venv/bin/python benchmarks/mobile_latency.py [--threads 2] [--runs 200]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

# CPU features that decide which int8/fp32 kernels the runtimes can use.
INTERESTING_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                     "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16",
                     "asimd", "asimddp", "i8mm", "sve")


def cpu_description() -> str:
    """The CPU's model name and which of INTERESTING_FLAGS it has (Linux /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                model = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    present = [f for f in INTERESTING_FLAGS if f in flags]
    absent = [f for f in INTERESTING_FLAGS if f not in flags]
    return (f"CPU: {model}; {multiprocessing.cpu_count()} cores visible; has "
            f"{' '.join(present) or 'none of the listed'}; lacks {' '.join(absent) or '–'}")


# ---------------------------------------------------------------------------------------
# The model (built in the parent only: the workers never import torch)
# ---------------------------------------------------------------------------------------


def mobilenet_v2(num_classes: int = 1000):
    """MobileNetV2 (width 1.0): the standard (expand, channels, repeats, stride) table."""
    from torch import nn

    def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                act: bool = True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                            bias=False), nn.BatchNorm2d(cout)]
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


def build_artifacts(folder: Path, images: np.ndarray) -> dict[str, tuple[str, Any]]:
    """{row label: (target, artifact)} for every (runtime, model) pair measured."""
    import torch

    from edgenn.core.registry import create_target
    from edgenn.exporters.onnx import export_onnx
    from edgenn.exporters.tflite import export_tflite
    from edgenn.quantize.tflite import (
        TfliteStaticQuantConfig,
        quantize_tflite_dynamic,
        quantize_tflite_static,
    )

    torch.manual_seed(0)
    model = mobilenet_v2()
    fp32 = export_tflite(model, images[:1], folder / "mnv2.tflite")
    int8 = quantize_tflite_static(fp32, folder / "mnv2.int8.tflite", images,
                                  TfliteStaticQuantConfig(calibration_samples=len(images)))
    dynamic = quantize_tflite_dynamic(fp32, folder / "mnv2.dynamic.tflite")
    onnx = export_onnx(model, images[:2], folder / "mnv2.onnx")
    onnx_int8 = _ort_int8(onnx, images, folder / "mnv2.int8.onnx")
    cpu, ort_mobile = create_target("cpu"), create_target("ort-mobile")
    return {
        "tflite fp32": ("tflite", fp32),
        "tflite int8": ("tflite", int8),
        "tflite dynamic": ("tflite", dynamic),
        "ort-cpu fp32": ("cpu", cpu.compile(onnx, folder / "cpu")),
        "ort-cpu int8 (QDQ)": ("cpu", cpu.compile(onnx_int8, folder / "cpu")),
        "ort-mobile fp32": ("ort-mobile", ort_mobile.compile(onnx, folder / "ort")),
        "ort-mobile int8": ("ort-mobile", ort_mobile.compile(onnx_int8, folder / "ort")),
    }


def _ort_int8(onnx, images: np.ndarray, path: Path):
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


# ---------------------------------------------------------------------------------------
# One (runtime, model) in a process of its own
# ---------------------------------------------------------------------------------------


def measure_alone(target: str, artifact: dict, data_path: str, threads: int, runs: int,
                  warmup: int, rounds: int = 4) -> dict[str, Any]:
    """In a fresh process: the harness's p50 of this row, and a by-hand p50 of the same
    file through the runtime's own API, same threads, same input. The two alternate in
    `rounds` rounds (by hand, harness, by hand, harness, ..., by hand) of `runs / rounds`
    timed runs each, so that a change in the load of a shared machine during the row hits
    both figures alike; each p50 is the median of all its rounds' runs."""
    from edgenn.run.config import LatencySettings
    from edgenn.run.harness import Job, latency_stats, measure

    share = max(1, runs // rounds)
    job = Job(target=target, target_options={}, artifact=artifact, data_path=data_path,
              reference_path=None,
              latency=LatencySettings(warmup=warmup, runs=share, batch_size=1, threads=threads))
    x = np.load(data_path)["x"][:1].astype(np.float32)
    loop = _by_hand_tflite if target == "tflite" else _by_hand_ort
    try:
        by_hand = loop(artifact["path"], x, threads, target == "ort-mobile")
    except Exception as exc:  # the harness's row says why, in its own words
        by_hand, failure = None, f"by-hand loop: {type(exc).__name__}: {exc}"
    hand, harness, row = [], [], None
    for _ in range(rounds):
        hand += _timed(by_hand, share, warmup) if by_hand else []
        row = measure(job)
        if row.status != "ok" or by_hand is None:
            return {"status": row.status if row.status != "ok" else "failed",
                    "reason": row.reason or failure}
        harness += row.latency_samples_ms
    hand += _timed(by_hand, share, warmup)
    stats = latency_stats(harness)
    return {"status": "ok", "harness_p50": stats["p50"],
            "harness_ci": (stats["p50_ci95_low"], stats["p50_ci95_high"]),
            "by_hand_p50": float(np.median(hand)), "size": row.size_bytes,
            "pid": os.getpid(), "peak_mb": row.peak_rss_mb}


def _timed(call, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000.0)
    return timings


def _by_hand_tflite(path: str, x: np.ndarray, threads: int, _: bool):
    """TFLite's own API: XNNPACK (the interpreter's default delegate). A full-integer
    model takes int8 in and gives int8 out: each run quantizes the float image with the
    input tensor's scale and zero point and dequantizes the logits, as an app with float
    camera input must (and as the tflite target's `run` does)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    set_tensor, invoke, get = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    scale, zero_point = source["quantization"]
    out_scale, out_zero_point = target["quantization"]
    dtype = np.dtype(source["dtype"])
    if not scale:
        feed = np.ascontiguousarray(x.astype(dtype))

        def once():
            set_tensor(source["index"], feed)
            invoke()
            return get(target["index"])

        return once
    limits = np.iinfo(dtype)

    def once_quantized():
        quantized = np.clip(np.round(x / scale) + zero_point, limits.min, limits.max)
        set_tensor(source["index"], np.ascontiguousarray(quantized.astype(dtype)))
        invoke()
        raw = get(target["index"])
        return (raw.astype(np.float32) - out_zero_point) * np.float32(out_scale or 1.0)

    return once_quantized


def _by_hand_ort(path: str, x: np.ndarray, threads: int, ort_format: bool):
    """ONNX Runtime's own API: one CPU session, intra-op threads as given."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if ort_format:
        options.add_session_config_entry("session.load_model_format", "ORT")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    run, feed = session.run, {session.get_inputs()[0].name: x}
    return lambda: run(None, feed)


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating by-hand/harness rounds per row (default 4)")
    args = parser.parse_args()
    print(cpu_description())
    print("load average at start (1, 5, 15 min): "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    rng = np.random.default_rng(0)
    images = rng.random((32, 3, 224, 224), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        pairs = build_artifacts(folder, images)
        data = folder / "data.npz"
        np.savez(data, x=images[:2], y=np.zeros(2, dtype=np.int64))
        results = measure_rows(pairs, data, args.threads, args.runs, args.warmup,
                               args.rounds)
    report(results, args)


def measure_rows(pairs: dict[str, tuple[str, Any]], data: Path, threads: int, runs: int,
                 warmup: int, rounds: int = 4) -> dict[str, dict[str, Any]]:
    """`measure_alone` for each {label: (target, artifact)}, each in a new spawned process,
    one after the other (never two at once: they would share the cores)."""
    results = {}
    spawn = multiprocessing.get_context("spawn")
    for label, (target, artifact) in pairs.items():
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            results[label] = pool.submit(measure_alone, target, artifact.to_dict(), str(data),
                                         threads, runs, warmup, rounds).result()
    return results


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"MobileNetV2-style 224×224, batch 1, {args.threads} threads, p50 latency of "
          f"{args.runs} runs per figure in {args.rounds} alternating rounds (each after "
          f"{args.warmup} warm-up); each row alone in its own process")
    print(f"{'variant':<20}{'harness ms':>11}{'95% CI':>17}{'by hand ms':>12}{'harn/hand':>10}"
          f"{'size MB':>9}{'vs tflite fp32':>16}{'(by hand)':>10}")
    ok = {label: r for label, r in results.items() if r["status"] == "ok"}
    base = ok.get("tflite fp32")
    for label, r in results.items():
        if r["status"] != "ok":
            print(f"{label:<20}{r['status']}: {r['reason']}")
            continue
        low, high = r["harness_ci"]
        versus = (f"{base['harness_p50'] / r['harness_p50']:>15.2f}×"
                  f"{base['by_hand_p50'] / r['by_hand_p50']:>9.2f}×") if base else ""
        print(f"{label:<20}{r['harness_p50']:>11.2f}{f'{low:.2f}–{high:.2f}':>17}"
              f"{r['by_hand_p50']:>12.2f}{r['harness_p50'] / r['by_hand_p50']:>10.3f}"
              f"{r['size'] / 1e6:>9.2f}{versus}")
    ratios = [("tflite int8 vs fp32", "tflite fp32", "tflite int8", " (goal ≥ 1.8×: {})", 1.8),
              ("tflite fp32 vs ort-cpu fp32", "ort-cpu fp32", "tflite fp32",
               " (>1: TFLite faster)", None),
              ("tflite int8 vs ort-cpu int8 (QDQ)", "ort-cpu int8 (QDQ)", "tflite int8",
               " (>1: TFLite faster)", None)]
    for name, slow, fast, suffix, goal in ratios:
        if slow not in ok or fast not in ok:
            print(f"{name}: not measured")
            continue
        harness = ok[slow]["harness_p50"] / ok[fast]["harness_p50"]
        by_hand = ok[slow]["by_hand_p50"] / ok[fast]["by_hand_p50"]
        verdict = suffix.format("met" if goal and harness >= goal else "NOT met")
        print(f"{name}: {harness:.2f}× (by hand {by_hand:.2f}×){verdict}")
    pids = {r["pid"] for r in ok.values()}
    print(f"{len(ok)} rows measured in {len(pids)} separate processes; load average at end: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
