"""Nothing left behind in the user's working directory (issue 32): every command, run
from an empty folder with its outputs elsewhere, leaves the folder empty — on a model
whose ORT pre-processing fails (symbolic shape inference then writes scratch files into
the current directory), on one whose weights live in external data, and when a variant
fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgenn.cli.program import main

QUICK = ["--runs", "3", "--warmup", "1", "--no-isolate", "--quiet"]


@pytest.fixture
def files(tmp_path, wild_graphs):
    models = tmp_path / "models"
    models.mkdir()
    rng = np.random.default_rng(0)
    made = {
        "incomplete": wild_graphs.incomplete_shapes_net(models / "incomplete.onnx"),
        "external": wild_graphs.conv_net(models / "external.onnx", opset=17, constants=False,
                                         external=True),
        "paddle": wild_graphs.conv_net(models / "paddle.onnx", opset=11, constants=True),
        "vectors": models / "vectors.npz",
        "images": models / "images.npz",
    }
    assert (models / "external.onnx.data").is_file()
    np.savez(made["vectors"], x=rng.normal(size=(120, 16)).astype(np.float32))
    np.savez(made["images"], x=rng.normal(size=(120, 1, 8, 8)).astype(np.float32),
             y=rng.integers(0, 10, 120))
    return {k: str(v) for k, v in made.items()}


def commands(f: dict[str, str], out: Path) -> list[list[str]]:
    int8 = str(out / "q-external" / "external.int8-static.onnx")
    return [
        ["run", f["incomplete"], "--data", f["vectors"], "--targets", "cpu", "--variants",
         "int8-static,int8-dynamic", "--out", str(out / "run-incomplete"), *QUICK],
        ["run", f["external"], "--data", f["images"], "--targets", "cpu", "--variants",
         "int8-static", "--out", str(out / "run-external"), *QUICK],
        ["quantize", "--model", f["incomplete"], "--data", f["vectors"], "--out",
         str(out / "q-incomplete"), "--quiet"],
        ["quantize", "--model", f["external"], "--data", f["images"], "--out",
         str(out / "q-external"), "--quiet"],
        ["quantize", "--model", f["paddle"], "--mode", "dynamic", "--out",
         str(out / "q-paddle"), "--quiet"],
        ["bench", f["external"], "--data", f["images"], "--out", str(out / "bench"),
         "--quiet", "--runs", "3", "--warmup", "1", "--no-isolate"],
        ["profile", f["incomplete"], "--data", f["vectors"], "--runs", "2", "--out",
         str(out / "profile"), "--quiet"],
        ["diverge", f["external"], int8, "--data", f["images"], "--samples", "8", "--out",
         str(out / "diverge"), "--quiet"],
        ["compile", f["external"], "--target", "cpu", "--out", str(out / "compile"),
         "--quiet"],
        ["compile", f["paddle"], "--target", "snn-fast", "--data", f["images"], "--out",
         str(out / "compile-snn"), "--quiet"],
        ["simulate", f["paddle"], "--data", f["images"], "--simulator", "fast",
         "--timesteps", "8", "--out", str(out / "simulate"), "--quiet"],
    ]


def test_every_command_leaves_the_working_directory_empty(files, tmp_path, monkeypatch):
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    out = tmp_path / "outs"
    codes = {}
    for argv in commands(files, out):
        try:
            codes[" ".join(argv[:2])] = main(argv)
        except SystemExit as exc:  # argparse's own errors
            codes[" ".join(argv[:2])] = exc.code
        assert sorted(p.name for p in here.iterdir()) == [], argv
    # the real work happened (a refusal would leave nothing behind trivially)
    assert codes["run " + files["incomplete"]] == 0
    assert codes["quantize --model"] == 0
    assert (out / "q-incomplete" / "incomplete.int8-static.onnx").is_file()
    assert (out / "diverge").is_dir() and (out / "simulate").is_dir()
