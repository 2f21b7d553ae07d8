"""The runner edgenn ships to a device: it runs there under the device's own Python.

Self-contained on purpose: the standard library, NumPy and the runtime (ONNX Runtime, or
LiteRT / tflite-runtime for .tflite), never edgenn
(the device does not have it). Two uses:

    python - probe SCRATCH_BASE [RUNTIME ...]  (this file on stdin) → what the device has
    python remote_runner.py measure JOB  (in the run's scratch folder) → one measurement

Either prints one line `EDGENN-RESULT {json}` as the last line of stdout; whatever the
runtime prints goes to stderr. The measurement follows the host harness
(`edgenn.run.harness.measure`) step for step: load (untimed), the test split through
`run` for the outputs the host scores, warm-up, timed runs of `run` alone, peak resident
memory (VmHWM). Accuracy and agreement are computed on the host from the outputs.

While it measures, a thread waits for end-of-file on stdin, which the host holds open:
if the connection drops, the runner stops at once and its scratch folder is removed by
the shell that started it (no orphan burning the device's CPU).
"""

import base64
import io
import json
import os
import platform
import shutil
import sys
import threading
import time

RESULT = "EDGENN-RESULT "
# runtime name → modules that provide it, in order of preference
RUNTIMES = {"onnxruntime": ("onnxruntime",), "tflite": ("ai_edge_litert", "tflite_runtime"),
            "brian2": ("brian2",), "numpy": ("numpy",)}
INSTALL = {"onnxruntime": "onnxruntime", "tflite": "ai-edge-litert", "brian2": "brian2",
           "numpy": "numpy"}
DROPPED_EXIT = 75  # the host went away


def module_version(module):
    """The version of an importable module, or None when it cannot be imported."""
    try:
        imported = __import__(module)
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return None
    return str(getattr(imported, "__version__", "installed"))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe(base, wanted=()):
    """What the device has: OS, CPU, Python and the runtimes in `wanted` (default: all)."""
    runtimes = {}
    for name, modules in RUNTIMES.items():
        if wanted and name not in wanted:
            continue
        found = [(m, module_version(m)) for m in modules]
        usable = [(m, v) for m, v in found if v is not None]
        runtimes[name] = {"module": usable[0][0], "version": usable[0][1]} if usable else None
    try:
        free = shutil.disk_usage(base).free if os.path.isdir(base) else None
    except OSError:
        free = None
    return {"system": platform.system(), "release": platform.release(),
            "arch": platform.machine(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "python": platform.python_version(), "executable": sys.executable,
            "runtimes": runtimes, "install": INSTALL, "scratch_free_bytes": free}


def memory_mb(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw / (1024 * 1024) if sys.platform == "darwin" else raw / 1024


class OrtRunner:
    """ONNX Runtime with the session settings of the host's cpu/ort-mobile runners."""

    def __init__(self, np, path, threads, ort_format):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        if ort_format:
            options.add_session_config_entry("session.load_model_format", "ORT")
        self.np = np
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        types = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                 "tensor(double)": np.float64, "tensor(int64)": np.int64,
                 "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
        self.inputs = [(i.name, np.dtype(types.get(i.type, np.float32)))
                       for i in self.session.get_inputs()]
        first = self.session.get_inputs()[0].shape
        self.batch_size = first[0] if first and isinstance(first[0], int) and first[0] > 0 \
            else None
        self.input_name, self.input_dtype = self.inputs[0]
        self._session_run = self.session.run  # bound once: run() sits in the timed loop
        self.version = ort.__version__

    def run(self, batch):
        if self.batch_size is None and not isinstance(batch, dict):
            if batch.dtype is not self.input_dtype and batch.dtype != self.input_dtype:
                batch = batch.astype(self.input_dtype)
            return self._session_run(None, {self.input_name: batch})[0]
        return self._fixed_batches(batch)

    def _feed(self, batch):
        if not isinstance(batch, dict):
            batch = {self.input_name: batch}
        return {name: batch[name].astype(dtype, copy=False) for name, dtype in self.inputs}

    def _fixed_batches(self, batch):
        np, size = self.np, self.batch_size
        rows = count(batch)
        if size is None or rows == size:
            return self._session_run(None, self._feed(batch))[0]
        outputs = []
        for start in range(0, rows, size):
            chunk = take(batch, slice(start, start + size))
            real = count(chunk)
            if real != size:
                chunk = take(chunk, np.arange(size) % real)
            outputs.append(self._session_run(None, self._feed(chunk))[0][:real])
        return np.concatenate(outputs)

    def metrics(self):
        return {"providers": self.session.get_providers()}


class TfliteRunner:
    """A LiteRT/TFLite interpreter as the host's tflite runner drives it: int8 inputs and
    outputs quantized with their per-tensor scale, a fixed batch fed in chunks, several
    inputs fed from a dict by tensor name, the first output returned."""

    def __init__(self, np, path, threads, xnnpack):
        self.module_name = first_importable(RUNTIMES["tflite"])
        if self.module_name == "ai_edge_litert":
            from ai_edge_litert import interpreter as module
        else:
            from tflite_runtime import interpreter as module
        resolver = module.OpResolverType
        self.interpreter = module.Interpreter(
            model_path=path, num_threads=threads, experimental_op_resolver_type=(
                resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        self.interpreter.allocate_tensors()
        self.inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if not self.inputs or not outputs:
            raise ValueError(f"the .tflite model has {len(self.inputs)} input(s) and "
                             f"{len(outputs)} output(s); edgenn needs at least one of each")
        self.np, self.xnnpack = np, xnnpack
        self.input, self.output = self.inputs[0], outputs[0]  # the first output is scored
        self.batch_size = int(self.input["shape"][0])
        float_input = np.dtype(self.input["dtype"]).kind == "f"
        if self.module_name == "tflite_runtime" and float_input and any(
                np.dtype(t["dtype"]) == np.int8
                and len(t.get("quantization_parameters", {}).get("scales", ())) > 1
                for t in self.interpreter.get_tensor_details()):
            raise ValueError("a dynamic-range int8 model runs wrong under tflite-runtime "
                             "2.14; install ai-edge-litert on the device")
        self.input_qs = [self._scale(d) for d in self.inputs]
        self.output_q = self._scale(self.output)
        self.version = module_version(self.module_name)

    def _scale(self, detail):
        if self.np.dtype(detail["dtype"]).kind == "f":
            return None
        scale, zero_point = detail.get("quantization", (0.0, 0))
        if not scale:
            raise ValueError("an integer input or output without a per-tensor scale")
        return float(scale), int(zero_point)

    def _quantized(self, batch, detail, quantization):
        np = self.np
        dtype = np.dtype(detail["dtype"])
        if quantization is None:
            return batch.astype(dtype, copy=False)
        info = np.iinfo(dtype)
        scaled = np.round(batch.astype(np.float32) / quantization[0]) + quantization[1]
        return np.clip(scaled, info.min, info.max).astype(dtype)

    def run(self, batch):
        np, interpreter = self.np, self.interpreter
        if isinstance(batch, dict):
            arrays = [batch[d["name"]] for d in self.inputs]
        elif len(self.inputs) != 1:
            raise ValueError(f"the model takes {len(self.inputs)} inputs: give one array per "
                             "input, named x.<input>")
        else:
            arrays = [batch]
        # (no zip(strict=): the device's Python may be older than 3.10)
        feeds = [self._quantized(arrays[i], self.inputs[i], self.input_qs[i])
                 for i in range(len(self.inputs))]
        size, results = self.batch_size, []
        for start in range(0, len(feeds[0]), size):
            rows = min(size, len(feeds[0]) - start)
            for detail, feed in [(self.inputs[i], feeds[i]) for i in range(len(feeds))]:
                chunk = feed[start:start + size]
                if rows < size:  # the last, short chunk: pad with zeros, drop their outputs
                    chunk = np.concatenate([chunk, np.zeros((size - rows, *chunk.shape[1:]),
                                                            dtype=chunk.dtype)])
                interpreter.set_tensor(detail["index"], np.ascontiguousarray(chunk))
            interpreter.invoke()
            results.append(interpreter.get_tensor(self.output["index"])[:rows].copy())
        raw = np.concatenate(results)
        if self.output_q is None:
            return raw.astype(np.float32, copy=False)
        return ((raw.astype(np.float32) - self.output_q[1])
                * np.float32(self.output_q[0])).astype(np.float32)

    def metrics(self):
        return {"runtime": self.module_name, "xnnpack": self.xnnpack,
                "tflite_batch": self.batch_size}


def first_importable(modules):
    found = [m for m in modules if module_version(m) is not None]
    return found[0] if found else None


def count(x):
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x, index):
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def load_samples(np, path):
    with np.load(path, allow_pickle=False) as archive:
        named = [k for k in archive.files if k.startswith("x.")]
        x = {k[2:]: archive[k] for k in named} if named else archive["x"]
    if not isinstance(x, dict):
        x = x.astype(np.float32)
    return x


def resize(np, x, rows):
    def one(array):
        return np.ascontiguousarray(np.resize(array, (rows, *array.shape[1:])))

    return {k: one(v) for k, v in x.items()} if isinstance(x, dict) else one(x)


def measure(job):
    try:
        import numpy as np
    except ImportError:
        return {"ok": False, "fault": "runtime_missing", "missing": ["numpy"],
                "message": "numpy is not installed"}
    runtime = job.get("runtime", "onnxruntime")
    if first_importable(RUNTIMES[runtime]) is None:
        return {"ok": False, "fault": "runtime_missing", "missing": [runtime],
                "message": f"{runtime} cannot be imported"}
    started = time.perf_counter()
    x = load_samples(np, job["data"])
    before = memory_mb("VmRSS")
    if runtime == "tflite":
        runner = TfliteRunner(np, job["model"], job["threads"], job.get("xnnpack", True))
    else:
        runner = OrtRunner(np, job["model"], job["threads"], job.get("ort_format", False))
    load_rss = memory_mb("VmRSS") - before
    rows, eval_batch = count(x), job["eval_batch"]
    chunks = [x] if rows <= eval_batch else [take(x, slice(i, i + eval_batch))
                                             for i in range(0, rows, eval_batch)]
    outputs = np.concatenate([np.asarray(runner.run(chunk)) for chunk in chunks])
    batch = resize(np, x, job["batch_size"])
    run = runner.run
    for _ in range(job["warmup"]):
        run(batch)
    timings = []
    clock = time.perf_counter
    for _ in range(job["runs"]):
        start = clock()
        run(batch)
        timings.append((clock() - start) * 1000.0)
    buffer = io.BytesIO()
    np.save(buffer, outputs, allow_pickle=False)
    return {"ok": True, "outputs_npy": base64.b64encode(buffer.getvalue()).decode("ascii"),
            "samples": rows, "latency_samples_ms": [round(t, 5) for t in timings],
            "peak_rss_mb": round(memory_mb("VmHWM"), 2), "load_rss_mb": round(load_rss, 2),
            "runtime": {"name": runtime, "version": runner.version},
            "metrics": runner.metrics(), "runner_s": round(time.perf_counter() - started, 4)}


def watch_stdin():
    """End-of-file on stdin: the host side is gone; stop now."""
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except OSError:
        pass
    os._exit(DROPPED_EXIT)


def main(argv):
    result_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # runtimes' prints go to stderr: stdout carries the result alone
    if argv[1:2] == ["probe"]:
        result = probe(argv[2] if len(argv) > 2 else "/tmp", tuple(argv[3:]))
    elif argv[1:2] == ["measure"]:
        with open(argv[2]) as handle:
            job = json.load(handle)
        threading.Thread(target=watch_stdin, daemon=True).start()
        try:
            result = measure(job)
        except Exception as exc:  # noqa: BLE001 - the runtime's own error, sent back whole
            result = {"ok": False, "fault": "failed", "message": f"{type(exc).__name__}: {exc}"}
    else:
        result = {"ok": False, "fault": "failed", "message": f"unknown command {argv[1:]}"}
    result_stream.write(RESULT + json.dumps(result) + "\n")
    result_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
