"""`edgenn run model.tflite`: a user's .tflite as the run's fp32 source on the tflite
target, with int8-static and int8-dynamic made from it by ai-edge-quantizer, each variant
failing alone, and rows judged by agreement with the fp32 .tflite when there are no labels.

The .tflite is a small MLP converted by litert-torch inside the test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgenn.cli import main

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("ai_edge_litert")

NOT_FROM_TFLITE = {
    "fp16": "fp16 is made from an ONNX model; the source is a .tflite file",
    "pruned": "pruning needs the PyTorch model; the source is a .tflite file",
    "pruned-int8": "pruning needs the PyTorch model; the source is a .tflite file",
}


@pytest.fixture(scope="module")
def user_tflite(tmp_path_factory):
    """(model.tflite, data.npz with labels from the model itself, data without labels)."""
    import litert_torch

    folder = tmp_path_factory.mktemp("user")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 4)).eval()
    path = folder / "mlp.tflite"
    litert_torch.convert(model, (torch.zeros(1, 6),)).export(str(path))
    x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    np.savez(folder / "labelled.npz", x=x, y=y)
    np.savez(folder / "unlabelled.npz", x=x)
    return path, folder / "labelled.npz", folder / "unlabelled.npz"


def quick(*args: str) -> list[str]:
    return [*args, "--runs", "2", "--warmup", "1", "--no-isolate", "-q"]


def rows_of(out) -> tuple[dict, dict]:
    report = json.loads((out / "report.json").read_text())
    return {(r["target"], r["variant"]): r for r in report["rows"]}, report


def test_run_measures_the_tflite_and_its_int8_variants(user_tflite, tmp_path):
    from edgenn.targets.tflite import TfliteRunner

    model, labelled, _ = user_tflite
    out = tmp_path / "out"
    assert main(quick("run", str(model), "--data", str(labelled), "--out", str(out))) == 0
    rows, report = rows_of(out)
    assert {target for target, _ in rows} == {"tflite"}
    for variant in ("fp32", "int8-static", "int8-dynamic"):
        row = rows[("tflite", variant)]
        assert row["status"] == "ok", row["reason"]
        assert row["accuracy"] is not None and row["top1_agreement"] is not None
    fp32 = rows[("tflite", "fp32")]
    assert fp32["lineage"] == ["import:tflite", "compile:tflite"]
    assert fp32["top1_agreement"] == 1.0 and fp32["max_abs_error"] == 0.0
    assert rows[("tflite", "int8-static")]["lineage"] == [
        "import:tflite", "quantize:tflite-int8", "compile:tflite"]
    assert rows[("tflite", "int8-static")]["extra"]["input_dtype"] == "int8"
    assert rows[("tflite", "int8-static")]["accuracy"] >= 0.9
    for variant, reason in NOT_FROM_TFLITE.items():
        assert rows[("tflite", variant)]["status"] == "skipped"
        assert rows[("tflite", variant)]["reason"] == reason
    assert report["extra"]["reference"] == {"target": "tflite", "model": str(model)}
    assert report["extra"]["source"] == {"kind": "tflite", "path": str(model)}
    # the reference is the user's .tflite itself, run by hand on the test split
    with np.load(out / "data" / "test.npz") as test:
        by_hand = TfliteRunner(model, threads=1).run(test["x"])
    np.testing.assert_allclose(np.load(out / "data" / "reference.npy"), by_hand)
    manifest = json.loads((out / "manifest.json").read_text())
    files = {a["path"].split("/")[-1] for a in manifest["artifacts"]}
    assert {"mlp.tflite", "mlp.int8-static.tflite", "mlp.int8-dynamic.tflite",
            "calibration.npz"} <= files


def test_without_labels_rows_are_judged_by_agreement(user_tflite, tmp_path):
    model, _, unlabelled = user_tflite
    out = tmp_path / "out"
    assert main(quick("run", str(model), "--data", str(unlabelled), "--out", str(out),
                      "--variants", "int8-dynamic")) == 0
    rows, _ = rows_of(out)
    assert set(rows) == {("tflite", "fp32"), ("tflite", "int8-dynamic")}
    dynamic = rows[("tflite", "int8-dynamic")]
    assert dynamic["status"] == "ok" and dynamic["accuracy"] is None
    assert dynamic["top1_agreement"] >= 0.9 and dynamic["snr_db"] > 10


def test_an_int8_source_gets_no_variants(user_tflite, tmp_path):
    from edgenn.exporters.tflite import load_tflite_artifact
    from edgenn.quantize.tflite import quantize_tflite_static

    model, labelled, _ = user_tflite
    with np.load(labelled) as arrays:
        x = arrays["x"]
    int8 = quantize_tflite_static(load_tflite_artifact(model), tmp_path / "given.tflite", x)
    out = tmp_path / "out"
    assert main(quick("run", str(int8.path), "--data", str(labelled), "--out", str(out),
                      "--variants", "int8-static,int8-dynamic,fp16")) == 0
    rows, _ = rows_of(out)
    assert rows[("tflite", "int8-static")]["status"] == "ok"  # the source itself
    assert rows[("tflite", "int8-static")]["lineage"][0] == "import:tflite"
    for variant in ("int8-dynamic", "fp16"):
        assert rows[("tflite", variant)]["status"] == "skipped"
        assert rows[("tflite", variant)]["reason"] == "the source model is already int8-static"
    assert len(rows) == 3


def test_a_variant_that_fails_fails_alone(user_tflite, tmp_path, monkeypatch):
    import edgenn.quantize.tflite as passes

    def broken(*_args, **_kwargs):
        raise RuntimeError("calibration exploded\nsecond line")

    monkeypatch.setattr(passes, "quantize_tflite_static", broken)
    model, labelled, _ = user_tflite
    out = tmp_path / "out"
    assert main(quick("run", str(model), "--data", str(labelled), "--out", str(out),
                      "--variants", "int8-static,int8-dynamic")) == 0
    rows, _ = rows_of(out)
    static = rows[("tflite", "int8-static")]
    assert static["status"] == "failed"
    assert static["reason"] == "ai-edge-quantizer: RuntimeError: calibration exploded"
    assert rows[("tflite", "int8-dynamic")]["status"] == "ok"
    assert rows[("tflite", "fp32")]["status"] == "ok"


@pytest.mark.parametrize("problem", ["weights", "corrupt", "inputs"])
def test_bad_input_is_one_line_and_exit_2(user_tflite, tmp_path, capsys, problem):
    model, labelled, _ = user_tflite
    args = ["run", str(model), "--data", str(labelled), "--out", str(tmp_path / "out")]
    if problem == "weights":
        args += ["--weights", str(tmp_path / "w.pt")]
        expected = f"--weights is for a PyTorch model; {model} is a .tflite that holds its own"
    elif problem == "corrupt":
        broken = tmp_path / "broken.tflite"
        broken.write_bytes(model.read_bytes()[:100])
        args[1] = str(broken)
        expected = f"{broken}: not a valid .tflite model"
    else:
        np.savez(tmp_path / "wide.npz", x=np.zeros((20, 7), np.float32))
        args[3] = str(tmp_path / "wide.npz")
        expected = "wide.npz: samples of shape 7 do not fit the model input of shape (batch"
    assert main(quick(*args)) == 2
    error = capsys.readouterr().err
    assert expected in error
    assert error.count("\n") == 1
    assert not (tmp_path / "out").exists()


class TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scores, self.boxes = torch.nn.Linear(6, 4), torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.scores(x), self.boxes(x)


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image, self.extra = torch.nn.Linear(6, 4), torch.nn.Linear(3, 4)

    def forward(self, image, extra):
        return self.image(image) + self.extra(extra)


def test_several_outputs_and_several_inputs(tmp_path):
    import litert_torch

    from edgenn.targets.tflite import TfliteRunner

    torch.manual_seed(0)
    heads = tmp_path / "heads.tflite"
    litert_torch.convert(TwoHeads().eval(), (torch.zeros(1, 6),)).export(str(heads))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)).astype(np.float32)
    np.savez(tmp_path / "heads.npz", x=x, y=TfliteRunner(heads).run(x).argmax(1))
    out = tmp_path / "heads"
    assert main(quick("run", str(heads), "--data", str(tmp_path / "heads.npz"), "--out",
                      str(out), "--variants", "int8-static,int8-dynamic")) == 0
    rows, _ = rows_of(out)
    for variant in ("fp32", "int8-static", "int8-dynamic"):
        row = rows[("tflite", variant)]
        assert row["status"] == "ok", row["reason"]
        assert "edgenn scores the first, serving_default_output_0" in row["extra"]["note"]
    assert rows[("tflite", "fp32")]["accuracy"] == 1.0

    two = tmp_path / "two.tflite"
    litert_torch.convert(TwoInputs().eval(), (torch.zeros(1, 6), torch.zeros(1, 3))).export(
        str(two))
    names = [d["name"] for d in TfliteRunner(two).feeder.inputs]
    np.savez(tmp_path / "two.npz", **{f"x.{names[0]}": x,
                                      f"x.{names[1]}": rng.normal(size=(60, 3)).astype(
                                          np.float32)})
    out = tmp_path / "two"
    assert main(quick("run", str(two), "--data", str(tmp_path / "two.npz"), "--out", str(out),
                      "--variants", "int8-static,int8-dynamic")) == 0
    rows, _ = rows_of(out)
    assert rows[("tflite", "fp32")]["status"] == "ok"
    assert rows[("tflite", "int8-dynamic")]["status"] == "ok"
    assert rows[("tflite", "int8-dynamic")]["top1_agreement"] >= 0.9
    static = rows[("tflite", "int8-static")]
    assert static["status"] == "failed"
    assert static["reason"] == ("edgenn's static int8 TFLite pass calibrates models with one "
                                f"input; this one has 2 ({names[0]}, {names[1]})")
