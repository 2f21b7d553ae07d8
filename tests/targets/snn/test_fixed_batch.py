"""A model whose ONNX input fixes the batch at 1 runs in the spiking path like in the
others: conversion's parity check and `edgenn simulate`'s ANN accuracy feed it one sample
at a time, and `edgenn bench --targets snn-fast` gives an ok row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgenn.cli.program import main


@pytest.fixture(scope="module")
def batch_one(snn, tmp_path_factory):
    """The digits CNN's ONNX with its input's (and output's) first dimension fixed at 1."""
    import onnx

    model = onnx.load(str(snn.onnx))
    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    path = tmp_path_factory.mktemp("batch-one") / "cnn_b1.onnx"
    onnx.save(model, str(path))
    data = path.with_name("test.npz")
    np.savez(data, x=snn.x[:60], y=snn.y[:60])
    return path, data


def test_simulate_feeds_a_batch_one_model_one_sample_at_a_time(snn, batch_one, tmp_path,
                                                                 capsys):
    path, data = batch_one
    code = main(["simulate", str(path), "--data", str(data), "--timesteps", "16",
                 "--simulator", "fast", "--out", str(tmp_path / "b1"), "--json"])
    assert code == 0, capsys.readouterr().err
    fixed = json.loads(capsys.readouterr().out)
    code = main(["simulate", str(snn.onnx), "--data", str(data), "--timesteps", "16",
                 "--simulator", "fast", "--out", str(tmp_path / "any"), "--json"])
    assert code == 0
    dynamic = json.loads(capsys.readouterr().out)
    assert fixed["ann_accuracy"] == dynamic["ann_accuracy"]
    assert fixed["accuracy_vs_timesteps"] == dynamic["accuracy_vs_timesteps"]


def test_bench_snn_fast_on_a_batch_one_model_gives_an_ok_row(batch_one, tmp_path, capsys):
    path, data = batch_one
    out = tmp_path / "bench"
    code = main(["bench", str(path), "--data", str(data), "--targets", "snn-fast",
                 "--out", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [(r["target"], r["status"]) for r in rows] == [("snn-fast", "ok")]
