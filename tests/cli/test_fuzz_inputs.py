"""Malformed input of every kind, through every command, in process: each must end with
its documented exit code and exactly one `edgenn: error:` line on stderr, never a
traceback, and must leave an existing good build directory exactly as it was.

The table (`CASES`) is the corpus: (case id, argv with {placeholders} for the files
`corpus` makes, expected exit code, a fragment of the expected line). A hypothesis test
adds random data files and random recipe values on top.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgenn.cli.program import main

QUICK = ["--targets", "cpu", "--variants", "none", "--epochs", "1", "--runs", "2",
         "--warmup", "0", "--no-isolate", "--quiet"]


def onnx_model(path: Path, *, domain: str = "", op: str = "Relu", opset: int = 17,
               outputs: int = 3) -> Path:
    """A tiny valid ONNX classifier (MatMul + op) of 4 inputs and `outputs` classes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(4, outputs)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node(op, ["h"], ["y"], domain=domain)]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             ["n", outputs])], [weight])
    imports = [helper.make_opsetid("", opset)] + (
        [helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


MODEL_FILES = {
    "raises.py": "def build(input_shape, num_classes):\n    raise ValueError('no such width')\n",
    "exits.py": "import sys\nsys.exit(0)\n",
    "exits_in_factory.py": "import sys\ndef build(input_shape, num_classes):\n"
                           "    sys.exit(3)\n",
    "syntax.py": "def build(:\n",
    "returns_tuple.py": "def build(input_shape, num_classes):\n    return (1, 2)\n",
    "wrong_shape.py": "import torch.nn as nn\ndef build(input_shape, num_classes):\n"
                      "    return nn.Sequential(nn.Flatten(), nn.Linear(999, num_classes))\n",
    "unexportable.py": "import torch, torch.nn as nn\n"
                       "class Net(nn.Module):\n"
                       "    def __init__(self, n):\n        super().__init__()\n"
                       "        self.fc = nn.Linear(4, n)\n"
                       "    def forward(self, x):\n"
                       "        return self.fc(x) + float(x.detach().numpy().sum()) * 0\n"
                       "def build(input_shape, num_classes):\n    return Net(num_classes)\n",
    "data_dependent.py": "import torch.nn as nn\n"
                         "class Net(nn.Module):\n"
                         "    def __init__(self, n):\n        super().__init__()\n"
                         "        self.fc = nn.Linear(4, n)\n"
                         "    def forward(self, x):\n"
                         "        if x.sum() > 0:\n            return self.fc(x)\n"
                         "        return -self.fc(x)\n"
                         "def build(input_shape, num_classes):\n    return Net(num_classes)\n",
    "train_fails.py": "import torch.nn as nn\n"
                      "class Net(nn.Module):\n"
                      "    def __init__(self, n):\n        super().__init__()\n"
                      "        self.fc = nn.Linear(4, n)\n"
                      "    def forward(self, x):\n"
                      "        if self.training:\n"
                      "            raise ValueError('only in training')\n"
                      "        return self.fc(x)\n"
                      "def build(input_shape, num_classes):\n    return Net(num_classes)\n",
    "nan.py": "import torch, torch.nn as nn\n"
              "class Net(nn.Module):\n"
              "    def __init__(self, n):\n        super().__init__()\n"
              "        self.fc = nn.Linear(4, n)\n"
              "    def forward(self, x):\n        return self.fc(x) * float('nan')\n"
              "def build(input_shape, num_classes):\n    return Net(num_classes)\n",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str]:
    import torch

    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    files = {
        "good_npz": npz(root / "good.npz", x=x, y=y),
        "string_labels": npz(root / "strings.npz", x=x, y=np.array(["a", "b", "c"] * 20)),
        "huge_labels": npz(root / "huge.npz", x=x, y=np.where(y == 2, 10**15, y)),
        "float_labels": npz(root / "floaty.npz", x=x, y=y + 0.5),
        "complex_x": npz(root / "complex.npz", x=x + 1j, y=y),
        "complex_y": npz(root / "complexy.npz", x=x, y=y + 0j),
        "one_per_class": npz(root / "one.npz", x=x[:3], y=np.arange(3)),
        "flat_x": npz(root / "flat.npz", x=x[:, 0], y=y),
        "nan_x": npz(root / "nan.npz", x=np.where(x > 1, np.nan, x), y=y),
        "bool_x": npz(root / "bool.npz", x=x > 0, y=y),
        "labels_beyond": npz(root / "beyond.npz", x=x, y=y * 4),  # up to 8; model has 3
        "no_x": npz(root / "nox.npz", y=y),
        "batch_axis_beyond": npz(root / "axis.npz", x=x, y=y, **{"batch_axis.x": np.array(7)}),
        "batch_axis_text": npz(root / "axistext.npz", x=x, y=y,
                               **{"batch_axis.x": np.array("first")}),
        "carry_unknown": npz(root / "carry.npz", x=x, y=y, **{"carry.x": np.array("nope")}),
        "tflite_garbage": root / "garbage.tflite",
        "tflite_text": root / "text.tflite",
        "not_npz": root / "garbage.npz",
        "onnx": onnx_model(root / "tiny.onnx"),
        "custom_domain": onnx_model(root / "custom.onnx", domain="com.example", op="Frob"),
        "future_opset": onnx_model(root / "future.onnx", opset=99),
        "truncated": root / "truncated.onnx",
        "latin1_dir": root / os.fsdecode(b"caf\xe9"),
        "weights_missing": root / "missing.pt",
        "weights_shape": root / "shape.pt",
        "weights_pickle": root / "pickle.pt",
        "weights_text": root / "text.pt",
        "checkpoint_plain": root / "plain-ckpt.pt",
        "onnx_as_pt": root / "renamed-onnx.pt",
        "raw_pickle_pt": root / "raw-pickle.pt",
        "tflite_as_pt": root / "renamed-tflite.pt",
        "npz_as_pt": root / "renamed-npz.pt",
        "recipe_nan": root / "nan.toml",
        "recipe_list_types": root / "list.toml",
        "recipe_table_types": root / "table.toml",
        "recipe_nested_nan": root / "nested.toml",
        "recipe_inf_budget": root / "inf.toml",
        "recipe_seed": root / "seed.toml",
        "report_ok": root / "ok.json",
        "report_strings": root / "strings.json",
        "report_nulls": root / "nulls.json",
        "report_no_rows": root / "norows.json",
        "report_rows_not_list": root / "rowsdict.json",
    }
    files["not_npz"].write_bytes(b"not a zip at all")
    whole = files["onnx"].read_bytes()
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    files["latin1_dir"].mkdir()
    shutil.copy(files["onnx"], files["latin1_dir"] / "tiny.onnx")
    files["latin1_onnx"] = files["latin1_dir"] / "tiny.onnx"
    torch.save({"fc.weight": torch.zeros(3, 4)}, files["weights_missing"])
    torch.save({"0.weight": torch.zeros(5, 5)}, files["weights_shape"])
    torch.save(torch.nn.Linear(4, 3), files["weights_pickle"])
    files["weights_text"].write_text("hello")
    files["tflite_garbage"].write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(range(64)))
    files["tflite_text"].write_text("not a flatbuffer")
    shutil.copy(files["onnx"], files["onnx_as_pt"])
    files["raw_pickle_pt"].write_bytes(pickle.dumps(collections.OrderedDict(a=[1, 2]),
                                                    protocol=4))
    files["tflite_as_pt"].write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    shutil.copy(files["good_npz"], files["npz_as_pt"])
    torch.save({"format": "edgenn-checkpoint/1", "model": {"name": "mlp"}}, files[
        "checkpoint_plain"])
    from edgenn.frontend.checkpoint import ModelConfig, save_checkpoint
    from edgenn.frontend.zoo import build_model

    files["checkpoint_digits"] = save_checkpoint(root / "digits-ckpt.pt",
                                                 build_model("mlp", (1, 8, 8), 10),
                                                 ModelConfig("mlp", (1, 8, 8), 10))
    files["recipe_nan"].write_text("[train]\nlr = nan\n")
    files["recipe_list_types"].write_text('[compression]\nvariants = ["int8-static", 3]\n')
    files["recipe_table_types"].write_text(
        '[targets]\nrun = ["cpu"]\noptions = { cpu = { threads = [1, "x"] } }\n')
    files["recipe_nested_nan"].write_text("[model]\nname = \"mlp\"\noptions = { dropout = nan }\n")
    files["recipe_inf_budget"].write_text("[compression]\nmax_accuracy_drop = inf\n")
    files["recipe_seed"].write_text("[train]\nseed = 4294967296\n")
    row = {"target": "cpu", "variant": "fp32", "status": "ok", "accuracy": 0.9,
           "latency_ms": {"p50": 1.0}, "size_bytes": 100}
    report = {"schema_version": 1, "settings": {}, "environment": {}, "rows": [row]}
    files["report_ok"].write_text(json.dumps(report))
    files["report_strings"].write_text(json.dumps(
        {**report, "rows": [{**row, "accuracy": "0.9", "size_bytes": "big"}]}))
    files["report_nulls"].write_text(json.dumps(
        {**report, "rows": [{**row, "target": None, "latency_ms": None}]}))
    files["report_no_rows"].write_text(json.dumps({**report, "rows": []}))
    files["report_rows_not_list"].write_text(json.dumps({**report, "rows": {"a": 1}}))
    for name, text in MODEL_FILES.items():
        (root / name).write_text(text)
        files["m_" + name[:-3]] = root / name
    return {key: str(value) for key, value in files.items()}


# (case id, argv, exit code, fragment of the one line)
CASES = [
    # data
    ("string labels", ["run", "--model", "mlp", "--data", "{string_labels}"], 2,
     "integer class labels"),
    ("huge labels", ["run", "--model", "mlp", "--data", "{huge_labels}"], 2, "labels"),
    ("fractional labels", ["run", "--model", "mlp", "--data", "{float_labels}"], 2,
     "integer class labels"),
    ("complex x", ["run", "--model", "mlp", "--data", "{complex_x}"], 2, "complex"),
    ("complex y", ["run", "--model", "mlp", "--data", "{complex_y}"], 2, "integer class"),
    ("one sample per class", ["run", "--model", "mlp", "--data", "{one_per_class}"], 2,
     "sample"),
    ("x without a sample axis", ["run", "--model", "mlp", "--data", "{flat_x}"], 2,
     "x must be (samples, ...)"),
    ("nan in x", ["run", "--model", "mlp", "--data", "{nan_x}"], 2, "NaN"),
    ("boolean x", ["run", "--model", "mlp", "--data", "{bool_x}"], 2, "numeric"),
    ("no x", ["run", "--model", "mlp", "--data", "{no_x}"], 2, "missing array"),
    ("not an npz", ["run", "--model", "mlp", "--data", "{not_npz}"], 2, "not a readable .npz"),
    ("bench labels beyond the model's outputs", ["bench", "{onnx}", "--data",
                                                 "{labels_beyond}"], 2, "label"),
    ("bench string labels", ["bench", "{onnx}", "--data", "{string_labels}"], 2,
     "integer class labels"),
    ("bench complex x", ["bench", "{onnx}", "--data", "{complex_x}"], 2, "complex"),
    # weights and checkpoints
    ("weights with missing keys", ["run", "--model", "mlp", "--data", "{good_npz}",
                                   "--weights", "{weights_missing}"], 2, "does not fit"),
    ("weights of another shape", ["run", "--model", "mlp", "--data", "{good_npz}",
                                  "--weights", "{weights_shape}"], 2, "does not fit"),
    ("a pickled module as weights", ["run", "--model", "mlp", "--data", "{good_npz}",
                                     "--weights", "{weights_pickle}"], 2, "state_dict"),
    ("text as weights", ["run", "--model", "mlp", "--data", "{good_npz}",
                         "--weights", "{weights_text}"], 2, "not a PyTorch weights file"),
    ("ONNX renamed .pt as weights", ["run", "--model", "mlp", "--data", "{good_npz}",
                                     "--weights", "{onnx_as_pt}"], 2, "an ONNX model"),
    ("ONNX renamed .pt as a checkpoint", ["export", "--checkpoint", "{onnx_as_pt}"], 2,
     "an ONNX model"),
    ("ONNX renamed .pt to prune", ["prune", "--checkpoint", "{onnx_as_pt}"], 2,
     "an ONNX model"),
    ("raw pickle as weights", ["run", "--model", "mlp", "--data", "{good_npz}",
                               "--weights", "{raw_pickle_pt}"], 2, "state_dict"),
    ("TFLite renamed .pt as weights", ["run", "--model", "mlp", "--data", "{good_npz}",
                                       "--weights", "{tflite_as_pt}"], 2, "TFLite model"),
    ("npz renamed .pt as a checkpoint", ["export", "--checkpoint", "{npz_as_pt}"], 2,
     ".npz archive"),
    ("checkpoint without its keys", ["export", "--checkpoint", "{checkpoint_plain}"], 2,
     "checkpoint"),
    ("checkpoint that is a state dict", ["export", "--checkpoint", "{weights_missing}"], 2,
     "not an edgenn checkpoint"),
    ("pickled checkpoint", ["export", "--checkpoint", "{weights_pickle}"], 2,
     "state_dict"),
    ("export a checkpoint with data of another shape", ["export", "--checkpoint",
                                                        "{checkpoint_digits}", "--data",
                                                        "{good_npz}"], 2, "built for samples"),
    ("prune a checkpoint with data of another shape", ["prune", "--checkpoint",
                                                       "{checkpoint_digits}", "--data",
                                                       "{good_npz}"], 2, "built for samples"),
    ("prune a text checkpoint", ["prune", "--checkpoint", "{weights_text}"], 2,
     "not an edgenn checkpoint"),
    # the user's model file
    ("factory raises", ["run", "--model", "{m_raises}:build", "--data", "{good_npz}"], 2,
     "raises.py"),
    ("sys.exit on import", ["run", "--model", "{m_exits}:build", "--data", "{good_npz}"], 2,
     "exits.py"),
    ("sys.exit in the factory", ["run", "--model", "{m_exits_in_factory}:build",
                                 "--data", "{good_npz}"], 2, "exits_in_factory.py"),
    ("syntax error", ["run", "--model", "{m_syntax}:build", "--data", "{good_npz}"], 2,
     "syntax.py"),
    ("factory returns a tuple", ["run", "--model", "{m_returns_tuple}:build", "--data",
                                 "{good_npz}"], 2, "not a torch.nn.Module"),
    ("model cannot take the data", ["run", "--model", "{m_wrong_shape}:build", "--data",
                                    "{good_npz}"], 2, "cannot take samples"),
    ("model not exportable", ["run", "--model", "{m_unexportable}:build", "--data",
                              "{good_npz}"], 2, "unexportable.py"),
    ("data-dependent control flow", ["export", "--model", "{m_data_dependent}:build",
                                     "--data", "{good_npz}"], 2, "branches on tensor values"),
    ("model fails while training", ["run", "--model", "{m_train_fails}:build", "--data",
                                    "{good_npz}"], 2, "train_fails.py:8)"),
    ("model outputs NaN", ["run", "--model", "{m_nan}:build", "--data", "{good_npz}"], 2,
     "NaN"),
    # ONNX files
    ("custom-domain operator in compile", ["compile", "{custom_domain}", "--target", "cpu"],
     2, "com.example"),
    ("custom-domain operator in quantize", ["quantize", "--model", "{custom_domain}",
                                            "--mode", "dynamic"], 2, "com.example"),
    ("unknown opset in compile", ["compile", "{future_opset}", "--target", "cpu"], 2,
     "opset 99"),
    ("unknown opset in run", ["run", "{future_opset}", "--data", "{good_npz}"], 2, "opset 99"),
    ("truncated ONNX in simulate", ["simulate", "{truncated}"], 2, "not a valid ONNX model"),
    ("bench where nothing can be measured", ["bench", "{onnx}", "--data", "{good_npz}",
                                             "--targets", "tflite", "--runs", "2"], 2,
     "nothing was measured"),
    ("truncated ONNX in bench", ["bench", "{truncated}", "--data", "{good_npz}"], 2,
     "not a valid ONNX model"),
    ("bench a batch axis beyond the input", ["bench", "{onnx}", "--data",
                                             "{batch_axis_beyond}"], 2, "batch_axis.x"),
    ("bench a batch axis that is text", ["bench", "{onnx}", "--data", "{batch_axis_text}"],
     2, "batch_axis.x"),
    ("bench carrying an unknown output", ["bench", "{onnx}", "--data", "{carry_unknown}"], 2,
     "nope"),
    ("run a .tflite of garbage", ["run", "{tflite_garbage}", "--data", "{good_npz}"], 2,
     "not a valid .tflite"),
    ("run a .tflite of text", ["run", "{tflite_text}", "--data", "{good_npz}"], 2,
     "not a valid .tflite"),
    ("text as ONNX", ["compile", "{not_npz}", "--target", "cpu"], 2, "not a valid ONNX"),
    ("spiking compile without data", ["compile", "{onnx}", "--target", "snn-fast"], 2,
     "give --data"),
    ("ONNX at a path that is not UTF-8", ["compile", "{latin1_onnx}", "--target", "cpu"], 2,
     "not valid UTF-8"),
    # options and recipes
    ("nan learning rate in a recipe", ["run", "{recipe_nan}"], 2, "lr"),
    ("wrong type inside a list", ["run", "{recipe_list_types}"], 2, "compression.variants"),
    ("wrong type inside a table", ["run", "{recipe_table_types}"], 2, "threads"),
    ("nan inside a table", ["run", "{recipe_nested_nan}"], 2, "model.options"),
    ("infinite budget", ["run", "{recipe_inf_budget}"], 2, "max_accuracy_drop"),
    ("nan budget", ["run", "--max-accuracy-drop", "nan"], 2, "max_accuracy_drop"),
    ("negative threads in run", ["run", "--threads", "-2"], 2, "threads"),
    ("negative threads in bench", ["bench", "{onnx}", "--data", "{good_npz}", "--threads",
                                   "-1"], 2, "threads"),
    ("negative threads in quantize", ["quantize", "--model", "{onnx}", "--mode", "static",
                                      "--data", "{good_npz}", "--threads", "-1"], 2,
     "threads"),
    ("zero threads in simulate", ["simulate", "{onnx}", "--threads", "0"], 2, "threads"),
    ("negative seed", ["run", "--seed", "-1"], 2, "--seed"),
    ("seed beyond 2**32", ["quantize", "--model", "{onnx}", "--mode", "dynamic", "--seed",
                           "99999999999999999999"], 2, "--seed"),
    ("seed beyond 2**32 in a recipe", ["run", "{recipe_seed}"], 2, "a seed is 0"),
    ("opset beyond the exporter", ["export", "--model", "mlp", "--data", "{good_npz}",
                                   "--opset", "999"], 2, "opset"),
    ("absurd zoo shape", ["zoo", "--shape", "100000,100000,100000"], 2, "shape"),
    ("absurd zoo classes", ["zoo", "--classes", "10000000000"], 2, "classes"),
    # reports
    ("compare reports with strings", ["compare", "{report_ok}", "{report_strings}"], 2,
     "accuracy"),
    ("compare reports with nulls", ["compare", "{report_nulls}", "{report_ok}"], 2,
     "target"),
    ("compare a report without rows", ["compare", "{report_no_rows}", "{report_ok}"], 2,
     "no rows"),
    ("compare rows that are not a list", ["compare", "{report_rows_not_list}", "{report_ok}"],
     2, "rows"),
]


def call(argv: list[str]) -> int:
    """`edgenn ARGV` in this process; argparse's own errors exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def good_build(root: Path) -> Path:
    """A stand-in for an earlier good build: what must survive every failed run."""
    out = root / "build"
    (out / "model").mkdir(parents=True)
    (out / "model" / "checkpoint.pt").write_bytes(b"good weights")
    (out / "report.json").write_text('{"rows": "the good run"}')
    (out / "manifest.json").write_text('{"artifacts": []}')
    return out


def snapshot(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def assert_one_line(code: int, expected: int, stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr and "\x1b[" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines()
             if line.strip() and not line.startswith(("·", "warning", "WARNING"))]
    assert code == expected, (code, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("edgenn: error:"), lines[0]
    assert fragment.lower() in lines[0].lower(), lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_the_build_survives(case, corpus, tmp_path, capsys,
                                                      monkeypatch):
    _, argv, expected, fragment = case
    out = good_build(tmp_path)
    before = snapshot(out)
    argv = [arg.format(**corpus) for arg in argv]
    if argv[0] in ("run", "bench", "export", "quantize", "prune", "compile", "simulate"):
        argv += ["--out", str(out), "--quiet"]
    if argv[0] == "run":
        argv += [a for a in QUICK if a not in argv]
    here = tmp_path / "working-directory"  # nothing may be left in the user's folder
    here.mkdir()
    monkeypatch.chdir(here)
    capsys.readouterr()
    code = call(argv)
    assert_one_line(code, expected, capsys.readouterr().err, fragment)
    assert sorted(p.name for p in here.iterdir()) == []
    if argv[0] in ("run", "bench"):
        assert snapshot(out) == before


@pytest.mark.parametrize("delay", [0.5])
def test_ctrl_c_while_a_measurement_worker_starts(corpus, tmp_path, delay):
    """SIGINT to the whole process group (what a terminal sends) just as the isolated
    worker spawns: exit 130 and edgenn's line, no traceback from the worker, no build."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "edgenn.cli", "bench", corpus["onnx"], "--data",
         corpus["good_npz"], "--out", str(out), "--runs", "20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    ready = tmp_path / ".out.edgenn-staging" / "data" / "test.npz"  # measuring starts next
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("edgenn: interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- property-based: random files at each boundary end as a result or as BadInputError ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

DTYPES = st.sampled_from(["float32", "float64", "float16", "int8", "int64", "uint8", "bool",
                          "complex64", "<U3", "datetime64[s]"])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])



@FUZZ
@given(st.data())
def test_any_npz_loads_or_is_refused_with_bad_input(tmp_path, data):
    from edgenn.core import BadInputError
    from edgenn.frontend.data import load_dataset, read_samples

    keys = data.draw(st.lists(st.sampled_from(["x", "y", "x_train", "y_train", "x_test",
                                               "y_test", "x.a", "x.b", "z"]),
                              min_size=1, max_size=4, unique=True))
    arrays = {key: data.draw(hnp.arrays(data.draw(DTYPES), SHAPES)) for key in keys}
    path = tmp_path / "fuzz.npz"
    np.savez(path, **arrays)
    for reader in (load_dataset, read_samples):
        try:
            reader(path)
        except BadInputError as exc:
            assert "\n" not in str(exc)


RECIPE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() |
    st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)


@FUZZ
@given(st.data())
def test_any_recipe_value_gives_a_config_or_bad_input(data):
    from edgenn.core import BadInputError
    from edgenn.run.recipe import KEYS, build_config

    section = data.draw(st.sampled_from(sorted(KEYS)))
    key = data.draw(st.sampled_from(sorted(KEYS[section])))
    value = data.draw(RECIPE_VALUES)
    if value is None:  # TOML has no null
        return
    try:
        build_config({section: {key: value}})
    except BadInputError as exc:
        assert "\n" not in str(exc) or "\n" in repr(value)


ROW_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | \
    st.lists(st.floats(), max_size=2) | st.dictionaries(st.text(max_size=4), st.floats(),
                                                         max_size=2)


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(
    ["target", "variant", "status", "accuracy", "size_bytes", "latency_ms", "top1_agreement",
     "peak_rss_mb", "lineage", "extra", "latency_samples_ms", "artifact"]), ROW_VALUES),
    max_size=3))
def test_any_report_compares_or_is_refused_with_bad_input(tmp_path, rows):
    from edgenn.core import BadInputError
    from edgenn.report.compare import compare_reports
    from edgenn.report.files import load_report

    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema_version": 1, "rows": rows}))
    try:
        report = load_report(path)
    except BadInputError:
        return
    compare_reports(report, report)


def test_an_opset_11_model_with_constant_weights_quantizes_and_runs(wild_graphs, tmp_path,
                                                                    capsys, monkeypatch):
    """The opset upgrade path from the CLI: exit 0, no traceback, nothing left in the
    working directory."""
    model = wild_graphs.conv_net(tmp_path / "paddle.onnx", opset=11, constants=True)
    rng = np.random.default_rng(0)
    data = npz(tmp_path / "d.npz", x=rng.random((60, 1, 8, 8), dtype=np.float32),
               y=np.repeat(np.arange(10), 6))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for argv in (["quantize", "--model", str(model), "--mode", "static", "--data", str(data),
                  "--out", str(tmp_path / "q")],
                 ["run", str(model), "--data", str(data), "--targets", "cpu", "--variants",
                  "int8-static", "--runs", "3", "--out", str(tmp_path / "r"), "-q"]):
        code = call(argv)
        stderr = capsys.readouterr().err
        assert code == 0 and "Traceback" not in stderr, (argv[0], stderr)
    assert sorted(p.name for p in here.iterdir()) == []


@settings(max_examples=60, deadline=None)
@given(rank=st.integers(0, 4), axis=st.one_of(st.integers(-3, 6), st.floats(-2, 5),
                                                st.text(max_size=3)))
def test_a_declared_batch_axis_is_refused_in_one_line_or_taken(rank, axis):
    """A random `batch_axis.state` against a random state shape: a BadInputError of one
    line naming the key, or the declared axis (None for -1) on the input's spec."""
    from edgenn.core import BadInputError, TensorSpec
    from edgenn.frontend.inputs import declared

    spec = TensorSpec("state", tuple(range(2, 2 + rank)))
    try:
        (taken,) = declared({"batch_axis.state": np.array(axis)}, [spec], "d.npz")
    except BadInputError as exc:
        assert "\n" not in str(exc) and "batch_axis.state" in str(exc)
        return
    assert isinstance(axis, int) and -1 <= axis < rank
    assert taken.batch_axis == (None if axis == -1 else axis)
