"""The run's source model as users have it: an ONNX file made elsewhere (TorchScript
exporter, external data), a PyTorch model with pretrained weights (never retrained), and
data with an explicit split or a separate test file (never re-split)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from edgenn.cli import main
from edgenn.frontend.data import load_digits

USER_MODEL = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, shape, classes):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(shape[0] * shape[1] * shape[2], 32),
                                  nn.ReLU(), nn.Linear(32, classes))

    def forward(self, x):
        return self.body(x)


def build(input_shape, num_classes):
    return Net(input_shape, num_classes)
'''


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def split_npz(tmp_path_factory):
    """digits as a user keeps them: an explicit train/test split in one .npz."""
    data = load_digits()
    path = tmp_path_factory.mktemp("data") / "split.npz"
    np.savez(path, x_train=np.concatenate([data.x_train, data.x_val]),
             y_train=np.concatenate([data.y_train, data.y_val]),
             x_test=data.x_test[:200], y_test=data.y_test[:200])
    return path


def quick(*args: str) -> list[str]:
    return [*args, "--runs", "2", "--warmup", "1", "--no-isolate", "-q"]


def rows_of(out) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {(r["target"], r["variant"]): r for r in report["rows"]}, report


def test_a_pretrained_model_is_measured_as_trained_not_retrained(tmp_path, split_npz):
    source = tmp_path / "net.py"
    source.write_text(USER_MODEL)
    namespace: dict = {}
    exec(USER_MODEL, namespace)  # the user's own training code, outside edgenn
    torch.manual_seed(1)
    model = namespace["build"]((1, 8, 8), 10)
    with np.load(split_npz) as arrays:
        x, y = torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"])
        x_test, y_test = arrays["x_test"], arrays["y_test"]
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        own_accuracy = float((model(torch.from_numpy(x_test)).argmax(1).numpy()
                              == y_test).mean())
    weights = tmp_path / "weights.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
               weights)  # a wrapped layout, as Lightning/DataParallel write it
    before = sha256(weights)
    out = tmp_path / "out"
    assert main(quick("run", "--model", f"{source}:build", "--weights", str(weights),
                      "--data", str(split_npz), "--targets", "pytorch,cpu",
                      "--variants", "int8-static", "--out", str(out))) == 0
    rows, report = rows_of(out)
    assert rows[("pytorch", "fp32")]["accuracy"] == pytest.approx(own_accuracy, abs=1e-12)
    assert rows[("pytorch", "fp32")]["samples"] == 200  # the given test set, not re-split
    assert rows[("cpu", "fp32")]["top1_agreement"] == 1.0
    assert report["extra"]["source"]["kind"] == "pretrained"
    assert report["extra"]["source"]["unchanged"] is True and "training" not in report["extra"]
    assert sha256(weights) == before
    saved = torch.load(out / "model" / "checkpoint.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("layout, message", [
    ("mismatch", "does not fit the model: missing"),
    ("pickled", "holds Python objects, not just tensors"),
])
def test_weights_that_do_not_fit_are_one_clear_error(tmp_path, capsys, layout, message):
    source = tmp_path / "net.py"
    source.write_text(USER_MODEL)
    weights = tmp_path / "w.pt"
    if layout == "mismatch":
        torch.save({"other.weight": torch.zeros(2, 2)}, weights)
    else:
        torch.save(nn.Linear(2, 2), weights)  # a whole pickled module
    out = tmp_path / "out"
    assert main(quick("run", "--model", f"{source}:build", "--weights", str(weights),
                      "--targets", "cpu", "--out", str(out))) == 2
    assert message in capsys.readouterr().err and not out.exists()


def _torchscript_onnx(tmp_path, external: bool = False):
    """A small CNN exported by the TorchScript exporter (not dynamo), batch dynamic."""
    import onnx

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 64, 10)).eval()
    path = tmp_path / "user.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                      input_names=["pixels"], output_names=["scores"],
                      dynamic_axes={"pixels": {0: "n"}, "scores": {0: "n"}})
    if external:
        proto = onnx.load(str(path))
        onnx.save_model(proto, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="user.onnx.data",
                        size_threshold=0)
    return model, path


@pytest.mark.parametrize("external", [False, True], ids=["plain", "external-data"])
def test_an_onnx_file_is_a_source_without_pytorch(tmp_path, split_npz, external):
    model, path = _torchscript_onnx(tmp_path, external)
    out = tmp_path / "out"
    assert main(quick("run", str(path), "--data", str(split_npz), "--out", str(out),
                      "--targets", "pytorch,cpu,tflite",
                      "--variants", "int8-static,fp16,pruned")) == 0
    rows, report = rows_of(out)
    assert rows[("cpu", "fp32")]["status"] == "ok"
    assert rows[("cpu", "fp32")]["top1_agreement"] == 1.0  # the reference is the source
    assert rows[("cpu", "int8-static")]["status"] == "ok"
    for key in [("pytorch", "fp32"), ("cpu", "pruned"), ("tflite", "–")]:
        assert rows[key]["status"] == "skipped" and "needs the PyTorch model" in \
            rows[key]["reason"], key
    assert report["extra"]["source"] == {"kind": "onnx", "path": str(path)}
    with torch.no_grad():  # the user's own model agrees with the reference edgenn used
        ours = np.load(out / "data" / "reference.npy")
        with np.load(split_npz) as arrays:
            theirs = model(torch.from_numpy(arrays["x_test"])).numpy()
    assert np.allclose(ours, theirs, atol=1e-4)
    if external:
        assert (out / "model" / "user.onnx.data").exists()
        manifest = json.loads((out / "manifest.json").read_text())
        source = next(a for a in manifest["artifacts"] if a["path"] == "model/user.onnx")
        assert len(source["files"]) == 2


def test_a_separate_test_file_is_kept_as_given(tmp_path):
    from edgenn.frontend.data import load_dataset

    data = load_digits()
    train, test = tmp_path / "train.npz", tmp_path / "test.npz"
    np.savez(train, x=data.x_train, y=data.y_train)
    np.savez(test, x=data.x_test[:50], y=data.y_test[:50])
    loaded = load_dataset(train, test)
    assert np.array_equal(loaded.x_test, data.x_test[:50])
    assert len(loaded.x_train) + len(loaded.x_val) == len(data.x_train)
    explicit = tmp_path / "explicit.npz"
    np.savez(explicit, x_train=data.x_train, y_train=data.y_train, x_val=data.x_val,
             y_val=data.y_val, x_test=data.x_test, y_test=data.y_test)
    again = load_dataset(explicit)
    assert np.array_equal(again.x_val, data.x_val) and np.array_equal(again.y_test, data.y_test)


def test_a_model_without_labels_is_measured_by_agreement(tmp_path):
    """A regression network with an image output, data without y: no accuracy, but max
    error, SNR and cosine similarity against the fp32 reference, for every variant."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 1, 3, padding=1)).eval()
    path = tmp_path / "denoise.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                      input_names=["image"], output_names=["clean"],
                      dynamic_axes={"image": {0: "n"}, "clean": {0: "n"}})
    data = tmp_path / "images.npz"
    np.savez(data, x=load_digits().x_test[:150])
    out = tmp_path / "out"
    assert main(quick("run", str(path), "--data", str(data), "--out", str(out),
                      "--targets", "cpu,ort-mobile", "--variants", "int8-static,fp16")) == 0
    rows, report = rows_of(out)
    fp32, int8 = rows[("cpu", "fp32")], rows[("cpu", "int8-static")]
    assert fp32["status"] == int8["status"] == "ok"
    assert fp32["accuracy"] is None and fp32["top1_agreement"] is None
    assert fp32["cosine_similarity"] == pytest.approx(1.0) and fp32["max_abs_error"] < 1e-5
    assert 0.9 < int8["cosine_similarity"] < 1.0 and int8["snr_db"] > 10
    assert "confusion_matrix" not in report["extra"]


def test_training_without_labels_is_refused_before_anything_is_written(tmp_path, capsys):
    data = tmp_path / "x.npz"
    np.savez(data, x=load_digits().x_test[:50])
    out = tmp_path / "out"
    assert main(quick("run", "--data", str(data), "--out", str(out))) == 2
    assert "no labels (y) to train" in capsys.readouterr().err and not out.exists()


class TwoInputs(nn.Module):
    """An image and a vector of side information, one class score vector out."""

    def __init__(self):
        super().__init__()
        self.image = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(4 * 64 + 3, 10)

    def forward(self, image, meta):
        return self.head(torch.cat([self.image(image), meta], dim=1))


def test_a_model_with_two_inputs_takes_its_data_by_input_name(tmp_path):
    torch.manual_seed(0)
    model = TwoInputs().eval()
    path = tmp_path / "two.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8), torch.zeros(1, 3)), str(path),
                      dynamo=False, input_names=["image", "meta"], output_names=["scores"],
                      dynamic_axes={"image": {0: "n"}, "meta": {0: "n"}, "scores": {0: "n"}})
    digits = load_digits()
    images = digits.x_test[:160]
    meta = np.random.default_rng(0).normal(size=(160, 3)).astype(np.float32)
    with torch.no_grad():
        labels = model(torch.from_numpy(images), torch.from_numpy(meta)).argmax(1).numpy()
    data = tmp_path / "two.npz"
    np.savez(data, **{"x.image": images, "x.meta": meta, "y": labels})
    out = tmp_path / "out"
    assert main(quick("run", str(path), "--data", str(data), "--out", str(out),
                      "--targets", "cpu,ort-mobile,snn-fast",
                      "--variants", "int8-dynamic,int8-static,fp16")) == 0
    rows, _ = rows_of(out)
    for key in [("cpu", "fp32"), ("cpu", "int8-dynamic"), ("cpu", "int8-static"),
                ("ort-mobile", "fp32")]:
        assert rows[key]["status"] == "ok", (key, rows[key]["reason"])
    assert rows[("cpu", "fp32")]["accuracy"] == 1.0  # labels are the model's own decisions
    assert rows[("snn-fast", "fp32")]["status"] == "failed"
    assert "one input population" in rows[("snn-fast", "fp32")]["reason"]
    bench = tmp_path / "bench"
    assert main(quick("bench", str(path), "--data", str(data), "--out", str(bench))) == 0
    bench_rows, _ = rows_of(bench)
    assert bench_rows[("cpu", "fp32")]["samples"] == 160


def test_data_that_misses_an_input_is_refused_by_name(tmp_path, capsys):
    path = tmp_path / "two.onnx"
    torch.onnx.export(TwoInputs().eval(), (torch.zeros(1, 1, 8, 8), torch.zeros(1, 3)),
                      str(path), dynamo=False, input_names=["image", "meta"],
                      dynamic_axes={"image": {0: "n"}, "meta": {0: "n"}})
    data = tmp_path / "one.npz"
    np.savez(data, **{"x.image": load_digits().x_test[:20]})
    assert main(quick("run", str(path), "--data", str(data), "--out",
                      str(tmp_path / "out"))) == 2
    assert "missing ['meta']" in capsys.readouterr().err


def _cli_error(capsys, argv, fragment, out):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_inputs_a_pytorch_model_cannot_take_fail_before_anything_is_written(tmp_path, capsys):
    source = tmp_path / "net.py"
    source.write_text(USER_MODEL)
    wide = tmp_path / "wide.npz"
    np.savez(wide, x=np.zeros((40, 1, 9, 9), np.float32), y=np.arange(40) % 4)
    out = tmp_path / "out"
    # a model whose layers fix the input size: the first forward pass says so
    fixed = tmp_path / "fixed.py"
    fixed.write_text(USER_MODEL.replace("shape[0] * shape[1] * shape[2]", "64"))
    _cli_error(capsys, quick("run", "--model", f"{fixed}:build", "--data", str(wide),
                             "--targets", "cpu", "--out", str(out)), "cannot take samples", out)
    named = tmp_path / "named.npz"
    np.savez(named, **{"x.a": np.zeros((40, 1, 8, 8), np.float32), "y": np.arange(40) % 4})
    _cli_error(capsys, quick("run", "--model", f"{source}:build", "--data", str(named),
                             "--out", str(out)), "inputs by name (x.<input>) are for ONNX", out)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nweights = ""\n')
    _cli_error(capsys, quick("run", str(recipe), "--out", str(out)), "empty string", out)


def test_pretrained_weights_on_data_without_labels_take_the_width_from_the_weights(tmp_path):
    source = tmp_path / "net.py"
    source.write_text(USER_MODEL)
    namespace: dict = {}
    exec(USER_MODEL, namespace)
    torch.manual_seed(0)
    model = namespace["build"]((1, 8, 8), 3).eval()  # 3 outputs, a regression head
    weights = tmp_path / "w.pt"
    torch.save(model.state_dict(), weights)
    data = tmp_path / "x.npz"
    np.savez(data, x=load_digits().x_test[:100])
    out = tmp_path / "out"
    assert main(quick("run", "--model", f"{source}:build", "--weights", str(weights),
                      "--data", str(data), "--targets", "pytorch,cpu", "--out", str(out))) == 0
    rows, _ = rows_of(out)
    assert rows[("cpu", "fp32")]["cosine_similarity"] == pytest.approx(1.0)
    assert rows[("cpu", "pruned")]["status"] == "skipped"  # fine-tuning needs labels
    assert "no labels" in rows[("cpu", "pruned")]["reason"]


def test_an_onnx_source_that_is_already_compressed_or_takes_ids(tmp_path, capsys):
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.quantize.fp16 import convert_fp16

    _, path = _torchscript_onnx(tmp_path)
    half = convert_fp16(load_onnx_artifact(path), tmp_path / "half.onnx")
    data = tmp_path / "d.npz"
    digits = load_digits()
    np.savez(data, x=digits.x_test[:120], y=digits.y_test[:120])
    out = tmp_path / "out"
    assert main(quick("run", str(half.path), "--data", str(data), "--out", str(out),
                      "--targets", "cpu")) == 0
    rows, _ = rows_of(out)
    assert rows[("cpu", "int8-static")]["status"] == "skipped"
    assert "already fp16" in rows[("cpu", "int8-static")]["reason"]
    # token ids in, scores out; three classes where the labels only use two
    ids = nn.Sequential(nn.Embedding(20, 4), nn.Flatten(), nn.Linear(24, 3)).eval()
    ids_path = tmp_path / "ids.onnx"
    torch.onnx.export(ids, (torch.zeros(1, 6, dtype=torch.int64),), str(ids_path),
                      dynamo=False, input_names=["ids"], dynamic_axes={"ids": {0: "n"}})
    tokens = tmp_path / "tokens.npz"
    rng = np.random.default_rng(0)
    np.savez(tokens, x=rng.integers(0, 20, (90, 6)), y=rng.integers(0, 2, 90))
    out2 = tmp_path / "out2"
    assert main(quick("run", str(ids_path), "--data", str(tokens), "--out", str(out2),
                      "--targets", "cpu", "--variants", "int8-dynamic,int8-static")) == 0
    rows, report = rows_of(out2)
    assert rows[("cpu", "int8-static")]["status"] == "ok", rows[("cpu", "int8-static")]
    assert len(report["extra"]["confusion_matrix"]) == 3
