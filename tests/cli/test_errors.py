"""Bad input across the whole CLI: one clear line, a documented exit code, no traceback,
and a build directory holding only complete artifacts — Ctrl-C included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EDGENN = [sys.executable, "-m", "edgenn.cli"]


def edgenn(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGENN, *args], capture_output=True, text=True, timeout=300,
                          **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    # Progress lines (prefixed "·") may precede it; the error itself is exactly one line.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("·")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edgenn: error:") and text in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), \
        sorted(map(str, out.rglob("*")))


def test_unknown_model(tmp_path):
    out = tmp_path / "out"
    result = edgenn("run", "--model", "alexnet-9000", "--out", str(out))
    assert_one_line_error(result, 2, "unknown model 'alexnet-9000' (known: ")
    assert_nothing_written(out)


def test_model_file_without_the_factory(tmp_path):
    source = tmp_path / "mine.py"
    source.write_text("import torch\n")
    out = tmp_path / "out"
    result = edgenn("run", "--model", f"{source}:make", "--out", str(out))
    assert_one_line_error(result, 2, "has no callable 'make'")
    assert_nothing_written(out)


def test_unknown_target(tmp_path):
    result = edgenn("run", "--targets", "cpu,tpu", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "unknown target(s): tpu")


def test_missing_data_file(tmp_path):
    out = tmp_path / "out"
    result = edgenn("run", "--data", str(tmp_path / "none.npz"), "--out", str(out))
    assert_one_line_error(result, 2, "data file not found")
    assert_nothing_written(out)


def test_missing_recipe(tmp_path):
    result = edgenn("run", str(tmp_path / "none.toml"))
    assert_one_line_error(result, 2, "recipe not found")


def test_wrong_option_type_is_one_line_exit_2():
    result = edgenn("run", "--runs", "many")
    assert_one_line_error(result, 2, "argument --runs: invalid int value: 'many'")


def test_bad_target_option_value(tmp_path):
    result = edgenn("run", "--target-option", "gpu.provider=metal", "--targets", "gpu",
                    "--variants", "none", "--epochs", "1", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "gpu provider 'metal' is not one of")


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = edgenn("run", "--out", str(blocker / "build"))
    assert_one_line_error(result, 2, "cannot write to output directory")


def test_unknown_command():
    result = edgenn("deploy")
    assert result.returncode == 2 and "invalid choice: 'deploy'" in result.stderr


def test_ctrl_c_exits_130_and_leaves_only_complete_files(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*EDGENN, "run", "--targets", "pytorch,cpu", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    staging = tmp_path / ".out.edgenn-staging"  # a run builds beside OUT (edgenn.core.staging)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (staging / "model").exists():
        time.sleep(0.2)  # interrupt once the run is under way (training)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    # the interrupted build never became OUT, and nothing of it is left beside OUT
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["bench", "--help"],
                                  ["recipe", "--help"], ["compare", "--help"],
                                  ["quantize", "--help"], ["prune", "--help"]])
def test_every_help_page_teaches_with_an_example(argv):
    result = edgenn(*argv)
    assert result.returncode == 0 and "usage: edgenn" in result.stdout
    if argv != ["--help"]:
        assert "xample" in result.stdout, argv


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.zoo import build_model

    path = tmp_path_factory.mktemp("small") / "model.onnx"
    model = build_model("cnn", (1, 8, 8), 10).eval()
    import numpy as np

    export_onnx(model, np.zeros((2, 1, 8, 8), np.float32), path)
    return path


@pytest.mark.parametrize("argv", [["quantize", "--model", "{model}", "--mode", "dynamic"],
                                  ["simulate", "{model}", "--samples", "4"]])
def test_unwritable_out_dir_for_every_writing_command(tmp_path, small_onnx, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = [a.replace("{model}", str(small_onnx)) for a in argv]
    result = edgenn(*args, "--out", str(blocker / "x"))
    assert_one_line_error(result, 2, "cannot write to output directory")


def test_auto_quantize_rejects_settings_it_would_ignore(tmp_path, small_onnx):
    result = edgenn("quantize", "--model", str(small_onnx), "--auto", "--per-tensor",
                    "--out", str(tmp_path / "q"))
    assert_one_line_error(result, 2, "drop --per-tensor or drop --auto")


def test_a_report_of_the_wrong_shape_is_bad_input(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("[]")
    result = edgenn("compare", str(path), str(path))
    assert_one_line_error(result, 2, "not an edgenn report.json")


def test_a_recipe_that_is_not_text_is_bad_input(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    result = edgenn("run", str(path), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 2, "not a text (UTF-8) TOML file")


def test_a_target_named_on_the_command_line_that_cannot_run_is_exit_2(tmp_path):
    """`--targets gpu` without the GPU stack: exit 2 with the reason, nothing written
    (the default "all targets" run keeps a skipped row instead)."""
    from edgenn.core.registry import create_target

    if create_target("gpu").available() is None:
        pytest.skip("a usable GPU here: nothing to refuse")
    out = tmp_path / "out"
    result = edgenn("run", "--targets", "cpu,gpu", "--variants", "none", "--epochs", "1",
                    "--out", str(out))
    assert_one_line_error(result, 2, "target gpu is unavailable here")
    assert not out.exists()


def test_json_stdout_holds_the_report_alone(tmp_path):
    """Whatever the toolchains print (entropy calibration talks on stdout), stdout under
    --json parses as the report."""
    import json

    recipe = tmp_path / "r.toml"
    recipe.write_text('[compression]\nvariants = ["int8-static"]\n'
                      'calibration_method = "entropy"\n')
    result = edgenn("run", str(recipe), "--targets", "cpu", "--epochs", "1", "--runs", "2",
                    "--warmup", "1", "--no-isolate", "--json", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert [r["variant"] for r in report["rows"]] == ["fp32", "int8-static"]
