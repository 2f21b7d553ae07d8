""".tflite files as people ship them: several outputs (the first is scored, as for ONNX,
and the row says which) and several inputs (fed by name, `x.<input>` in the .npz).

Each model is a tiny torch module converted by litert-torch inside the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgenn.core import BadInputError, RunOptions
from edgenn.run.config import LatencySettings, RunConfig

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

BATCH = 2  # the batch the .tflite files are traced at


class TwoHeads(torch.nn.Module):
    """Scores (5 classes) first, then a 3-wide regressor: like mediapipe's detectors."""

    def __init__(self) -> None:
        super().__init__()
        self.scores, self.boxes = torch.nn.Linear(4, 5), torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.scores(x), self.boxes(x) * 10.0


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image, self.extra = torch.nn.Linear(4, 3), torch.nn.Linear(2, 3)

    def forward(self, image, extra):
        return self.image(image) + self.extra(extra)


def _convert(module: torch.nn.Module, examples: tuple, path: Path) -> Path:
    import litert_torch

    torch.manual_seed(0)
    module.eval()
    litert_torch.convert(module, examples).export(str(path))
    return path


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("two_heads")
    return _convert(TwoHeads(), (torch.zeros(BATCH, 4),), folder / "two_heads.tflite")


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("two_inputs")
    return _convert(TwoInputs(), (torch.zeros(BATCH, 4), torch.zeros(BATCH, 2)),
                    folder / "two_inputs.tflite")


def _by_hand(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Every output of the interpreter, run one fixed batch at a time, in its own order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    results: list[list[np.ndarray]] = [[] for _ in outputs]
    for start in range(0, len(feeds[0]), BATCH):
        for detail, feed in zip(inputs, feeds, strict=True):
            interpreter.set_tensor(detail["index"], feed[start:start + BATCH])
        interpreter.invoke()
        for i, detail in enumerate(outputs):
            results[i].append(interpreter.get_tensor(detail["index"]).copy())
    return [np.concatenate(r) for r in results]


def test_the_interpreter_keeps_the_models_output_order(two_heads):
    """What the runner takes as "first" is the module's first output, and the signature's
    output_0 names the same tensor."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(two_heads))
    outputs = interpreter.get_output_details()
    assert [tuple(o["shape"]) for o in outputs] == [(BATCH, 5), (BATCH, 3)]
    runner = interpreter.get_signature_runner()
    by_signature = runner.get_output_details()
    assert by_signature["output_0"]["index"] == outputs[0]["index"]


def test_several_outputs_score_the_first(two_heads, tmp_path):
    from edgenn.exporters.tflite import load_tflite_artifact
    from edgenn.targets.tflite import TfliteRunner

    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    artifact = load_tflite_artifact(two_heads)
    assert [o.shape for o in artifact.outputs] == [(BATCH, 5), (BATCH, 3)]
    first = artifact.outputs[0].name
    assert artifact.metadata["notes"] == [
        f"the model has 2 outputs ({first}, {artifact.outputs[1].name}); edgenn scores the "
        f"first, {first}"]
    padded = np.concatenate([x, x[:1]])  # 8 rows: whole batches for the hand-run
    want = _by_hand(two_heads, [padded])[0][:7]
    got = TfliteRunner(two_heads, threads=1).run(x)
    np.testing.assert_array_equal(got, want)
    assert TfliteRunner(two_heads).metrics()["scored_output"] == first


def test_bench_scores_the_first_output_through_the_cli(two_heads, tmp_path):
    from edgenn.cli import main

    x = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    scores = _by_hand(two_heads, [x])[0]
    np.savez(tmp_path / "d.npz", x=x, y=scores.argmax(1))
    out = tmp_path / "out"
    code = main(["bench", str(two_heads), "--data", str(tmp_path / "d.npz"), "--out", str(out),
                 "--runs", "3", "--warmup", "1", "--no-isolate", "--quiet"])
    assert code == 0
    [row] = json.loads((out / "report.json").read_text())["rows"]
    assert row["target"] == "tflite" and row["status"] == "ok"
    assert row["accuracy"] == 1.0 and row["samples"] == 10
    assert "edgenn scores the first, serving_default_output_0" in row["extra"]["note"]
    assert row["extra"]["scored_output"].startswith("serving_default_output_0")


def test_bench_api_with_several_outputs(two_heads, tmp_path):
    from edgenn.api import bench

    x = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)  # no labels: latency and size only
    report = bench(two_heads, tmp_path / "d.npz",
                   RunConfig(out=tmp_path / "out", isolate=False,
                             latency=LatencySettings(runs=3, warmup=1)))
    [row] = report.rows
    assert row.status == "ok" and row.samples == 6


def test_several_inputs_fed_by_name(two_inputs, tmp_path):
    from edgenn.api import bench
    from edgenn.exporters.tflite import load_tflite_artifact
    from edgenn.targets.tflite import TfliteRunner, TfliteTarget

    artifact = load_tflite_artifact(two_inputs)
    names = [spec.name for spec in artifact.inputs]
    assert len(names) == 2 and "notes" not in artifact.metadata
    rng = np.random.default_rng(3)
    image = rng.normal(size=(6, 4)).astype(np.float32)
    extra = rng.normal(size=(6, 2)).astype(np.float32)
    want = _by_hand(two_inputs, [image, extra])[0]
    runner = TfliteTarget().load(artifact, RunOptions(threads=1))
    np.testing.assert_array_equal(runner.run({names[0]: image, names[1]: extra}), want)

    with pytest.raises(BadInputError) as one_array:
        runner.run(image)
    assert str(one_array.value) == (
        f"two_inputs.tflite: the model takes 2 inputs ({names[0]}, {names[1]}); give one "
        f"array per input, named x.<input> (x.{names[0]}, …)")
    with pytest.raises(BadInputError, match=r"missing \['" + names[1]):
        TfliteRunner(two_inputs).run({names[0]: image})

    np.savez(tmp_path / "d.npz", **{f"x.{names[0]}": image, f"x.{names[1]}": extra},
             y=want.argmax(1))
    report = bench(two_inputs, tmp_path / "d.npz",
                   RunConfig(out=tmp_path / "out", isolate=False,
                             latency=LatencySettings(runs=3, warmup=1)))
    [row] = report.rows
    assert row.status == "ok" and row.accuracy == 1.0


def test_several_inputs_with_one_array_is_one_line(two_inputs, tmp_path, capsys):
    from edgenn.cli import main

    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4), np.float32))
    code = main(["bench", str(two_inputs), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    error = capsys.readouterr().err
    assert "the model takes 2 inputs (serving_default_args_0, serving_default_args_1); give " \
           "one array per input, named x.<input>" in error
    assert error.count("\n") == 1
