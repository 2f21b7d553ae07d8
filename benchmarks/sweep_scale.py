"""A sweep on the digits CNN, on Ray and sequentially, in one run: wall time of each, the
front found, and whether latency measured inside a sweep agrees with the plain harness.

    python benchmarks/sweep_scale.py                  # 24 points: 2 calibration sizes ×
                                                      # 3 sparsities × 2 calibration
                                                      # methods × 2 fine-tuning lengths
    python benchmarks/sweep_scale.py --points 12      # the first 12: one calibration size
    python benchmarks/sweep_scale.py --dry-run 1000   # only the split of a 1,000-point plan

Every point trains the same CNN (same seed and settings), so its `cpu fp32` row is one
model measured again in every point: the spread of those p50s inside the Ray sweep is set
against the same ONNX file measured the same number of times by the plain harness
(`measure_all`, one spawned process per measurement), one after the other, afterwards.
Goal: the Ray sweep's median p50 within the plain harness's p50 spread (noise), and a Ray
wall time no worse than sequential (on 2 cores, builds overlap but measurements cannot).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

BASE = {
    "model": {"name": "cnn"},
    "train": {"epochs": 3},
    "compression": {"variants": ["int8-dynamic", "int8-static", "pruned", "pruned-int8"]},
    "targets": {"run": ["cpu"]},
    "latency": {"runs": 100, "warmup": 10},
}
# calibration_samples first: the grid's first 12 points cover the other three keys
SPACE = {"compression": {"calibration_samples": [32, 128],
                         "prune_sparsity": [0.25, 0.5, 0.75],
                         "calibration_method": ["minmax", "percentile"],
                         "fine_tune_epochs": [0, 1]}}


def fixed(sweep, count: int | None = None):
    """The same sweep with its points expanded once (the first `count` of them)."""
    from edgenn.sweep import Sweep

    chosen = sweep.points()[:count]

    class Fixed(Sweep):
        def points(self):
            return chosen
    return Fixed(sweep.settings, sweep.base, sweep.space, sweep.where)


def sweep_for(points: int):
    from edgenn.sweep import parse_sweep

    return fixed(parse_sweep({**BASE, "space": SPACE}), points)


def timed_sweep(sweep, out: Path, use_ray: bool):
    from edgenn.sweep import execute
    from edgenn.sweep.summary import summarize, write_summary

    start = time.perf_counter()
    outcome = execute(sweep, out, use_ray=use_ray)
    wall = time.perf_counter() - start
    summary = summarize(sweep, outcome)
    write_summary(summary, out)
    return wall, summary


def fp32_p50s(summary) -> list[float]:
    return [r["p50_ms"] for r in summary["rows"]
            if r["target"] == "cpu" and r["variant"] == "fp32" and r["status"] == "ok"]


def plain_harness_p50s(out: Path, point: str, times: int) -> list[float]:
    """The first point's compiled fp32 ONNX measured `times` times by the harness alone."""
    from edgenn.core import Artifact
    from edgenn.run.config import LatencySettings
    from edgenn.run.harness import Job, measure_all

    root = out / "points" / point
    manifest = json.loads((root / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"]
                 if "compile:cpu" in a["lineage"] and a["variant"] == "fp32")
    artifact = Artifact(root / entry["path"], entry["format"], lineage=tuple(entry["lineage"]),
                        metadata={"variant": "fp32"})
    job = Job(target="cpu", target_options={}, artifact=artifact.to_dict(),
              data_path=str(root / "data" / "test.npz"),
              reference_path=str(root / "data" / "reference.npy"),
              latency=LatencySettings(runs=BASE["latency"]["runs"],
                                      warmup=BASE["latency"]["warmup"]))
    rows = measure_all([job] * times, isolate=True)
    return [row.latency_ms["p50"] for row in rows if row.status == "ok"]


def spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return (f"median {statistics.median(values):.4f} ms, IQR {quartiles[0]:.4f}–"
            f"{quartiles[2]:.4f}, range {min(values):.4f}–{max(values):.4f} (n={len(values)})")


def front_text(summary) -> list[str]:
    lines = []
    for target, indices in summary["front"].items():
        for i in sorted(indices, key=lambda i: summary["rows"][i]["p50_ms"]):
            r = summary["rows"][i]
            settings = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["values"].items())
            mark = " ← recommended" if summary["recommended"].get(target) == i else ""
            lines.append(f"  {target} {r['variant']:<13} acc {r['accuracy']:.4f} "
                         f"({-r['drop_pp']:+.2f} pp) p50 {r['p50_ms']:.4f} ms "
                         f"{r['size_bytes'] / 1024:.1f} KiB  [{settings}]{mark}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=24)
    parser.add_argument("--dry-run", type=int, default=None, metavar="N",
                        help="only the plan of an N-point sweep (no build)")
    parser.add_argument("--out", default=None, help="keep the builds here (default: temp)")
    args = parser.parse_args()
    if args.dry_run:
        return dry_run(args.dry_run)
    out = Path(args.out or tempfile.mkdtemp(prefix="edgenn-sweep-bench-"))
    sweep = sweep_for(args.points)
    ray_wall, on_ray = timed_sweep(sweep, out / "ray", use_ray=True)
    seq_wall, sequential = timed_sweep(sweep, out / "sequential", use_ray=False)
    ray_p50 = fp32_p50s(on_ray)
    plain = plain_harness_p50s(out / "ray", on_ray["rows"][0]["point"], len(ray_p50))
    print(f"{len(sweep.points())} points, {len(on_ray['rows'])} rows, "
          f"{on_ray['failed']} failed (Ray), {sequential['failed']} failed (sequential)")
    print(f"wall: Ray {ray_wall:.1f} s, sequential {seq_wall:.1f} s: "
          f"ratio sequential/Ray {seq_wall / ray_wall:.2f}")
    print(f"cpu fp32 p50 inside the Ray sweep:        {spread(ray_p50)}")
    print(f"cpu fp32 p50 inside the sequential sweep: {spread(fp32_p50s(sequential))}")
    print(f"cpu fp32 p50 by the plain harness:        {spread(plain)}")
    print(f"ratio of medians Ray sweep / plain harness: "
          f"{statistics.median(ray_p50) / statistics.median(plain):.3f}")
    print("Pareto front (Ray sweep), fastest first:")
    print("\n".join(front_text(on_ray)))
    print(f"builds kept in {out}")


def dry_run(points: int) -> None:
    from edgenn.sweep import parse_sweep
    from edgenn.sweep.dryrun import dry_run as plan
    from edgenn.sweep.dryrun import dry_run_text

    raw = {**BASE, "sweep": {"method": "random", "samples": points, "seed": 0},
           "space": {"compression": {"prune_sparsity": {"uniform": [0.1, 0.9]},
                                     "calibration_method": ["minmax", "entropy",
                                                            "percentile"],
                                     "calibration_samples": {"int": [16, 512]},
                                     "fine_tune_epochs": {"int": [0, 5]}}}}
    start = time.perf_counter()
    sweep = fixed(parse_sweep(raw))
    expanded = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        for shape in (None, (4, 16), (32, 64)):
            print(dry_run_text(plan(sweep, out, cluster=shape)))
    print(f"{len(sweep.points())} points expanded and keyed in {expanded:.1f} s; three splits "
          f"in {time.perf_counter() - start - expanded:.1f} s")


if __name__ == "__main__":
    main()
