"""The model zoo: every registered model builds from several data shapes, trains, exports
to ONNX with parity, reports its parameters and MACs; `edgenn zoo`; a user's file.py:factory.

The test list is generated from the registry: a model registered without an entry in
`FLAT_INPUT` below fails `test_every_registered_model_is_classified`.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from edgenn.core import BadInputError
from edgenn.frontend.train import (
    ModelConfig,
    TrainConfig,
    evaluate,
    load_checkpoint,
    predict,
    save_checkpoint,
    train,
)
from edgenn.frontend.zoo import MODELS, build_model
from edgenn.frontend.zoo.info import count_macs, count_parameters, default_train_config, describe

NAMES = MODELS.names()
# Whether the model takes flat (N, F) vectors; image models refuse them with a clear error
# (`cnn` builds its 1-D variant for them: tests/frontend/zoo/test_signal.py).
FLAT_INPUT = {
    "cnn": True, "tcn": True, "mlp": True, "mlp-sigmoid": True, "mlp-tanh": True,
    "mlp-leakyrelu": True,
    "resnet": False, "densenet": False, "mobilenet": False, "vit": False,
    "lstm": True, "gru": True, "transformer": True,
}
SHAPES = [(1, 8, 8), (3, 16, 16), (64,), (8, 8)]


def test_every_registered_model_is_classified():
    assert sorted(NAMES) == sorted(FLAT_INPUT), "register the new model in FLAT_INPUT"


@pytest.mark.parametrize("name", NAMES)
def test_factory_has_a_description_and_valid_train_defaults(name):
    factory = MODELS.load(name)
    assert (factory.__doc__ or "").strip(), f"{name}: the factory needs a one-line docstring"
    config = default_train_config(name)
    for key, value in getattr(factory, "train_defaults", {}).items():
        assert getattr(config, key) == value
    assert default_train_config(name, epochs=2).epochs == 2  # the user's setting wins


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", NAMES)
def test_builds_runs_and_trains_from_the_data_shape(name, shape):
    torch.manual_seed(0)
    if len(shape) == 1 and not FLAT_INPUT[name]:
        with pytest.raises(BadInputError, match=f"{name} needs images C×H×W or sequences T×F"):
            build_model(name, shape, 7)
        return
    model = build_model(name, shape, 7)
    x = torch.rand(4, *shape)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), torch.arange(4))
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters outside the graph: {no_grad}"
    model.eval()
    with torch.no_grad():
        out = model(x)
        single = model(x[:1])
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    torch.testing.assert_close(single, out[:1], atol=1e-5, rtol=1e-4)  # batch-independent


@pytest.mark.parametrize("shape", [(1, 7, 7), (3, 5, 9), (1, 28, 28), (2, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_image_models_follow_odd_and_tiny_sizes(shape):
    for name in NAMES:
        if name == "cnn" and shape == (2, 1, 1):
            with pytest.raises(BadInputError, match="at least 2×2, got 1×1"):
                build_model(name, shape, 3)
            continue
        model = build_model(name, shape, 3).eval()
        with torch.no_grad():
            assert model(torch.rand(2, *shape)).shape == (2, 3), name


@pytest.mark.parametrize("name", NAMES)
def test_exports_to_onnx_with_dynamic_batch_and_parity(name, tmp_path, digits):
    import onnxruntime as ort

    from edgenn.exporters.onnx import export_onnx

    torch.manual_seed(0)
    model = build_model(name, digits.sample_shape, digits.num_classes).eval()
    artifact = export_onnx(model, digits.x_val[:4], tmp_path / f"{name}.onnx",
                           parity_batches=[digits.x_val[:64]])
    session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        got = session.run(None, {"input": digits.x_test[:n]})[0]
        want = model(torch.from_numpy(digits.x_test[:n])).detach().numpy()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize(("name", "shape"), [("vit", (3, 16, 16)), ("transformer", (64,))])
def test_exports_other_shapes(name, shape, tmp_path):
    from edgenn.exporters.onnx import export_onnx

    torch.manual_seed(0)
    model = build_model(name, shape, 4).eval()
    x = np.random.default_rng(0).random((6, *shape), dtype=np.float32)
    artifact = export_onnx(model, x[:2], tmp_path / "m.onnx", parity_batches=[x])
    assert artifact.inputs[0].shape[1:] == shape


def test_sequence_models_read_an_image_row_by_row():
    """An LSTM built for 1×8×8 images equals the same LSTM fed the 8 rows as a sequence,
    and a multi-channel image's step t holds every channel's row t side by side."""
    from edgenn.frontend.zoo.layers import ToSequence

    torch.manual_seed(0)
    images = build_model("lstm", (1, 8, 8), 10).eval()
    rows = build_model("lstm", (8, 8), 10).eval()
    rows.load_state_dict(images.state_dict())
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(images(x), rows(x[:, 0]))
    colour = torch.rand(2, 3, 5, 4)
    sequence = ToSequence((3, 5, 4), "test")(colour)
    assert sequence.shape == (2, 5, 12)
    torch.testing.assert_close(sequence[1, 2], torch.cat([colour[1, c, 2] for c in range(3)]))
    assert ToSequence((64,), "test")(torch.rand(2, 64)).shape == (2, 64, 1)


def test_macs_and_parameters_match_hand_counts():
    cnn = build_model("cnn", (1, 8, 8), 10)
    # conv 1→16 and 16→32 at 8×8 (3×3 kernels), then 512→64→10
    assert count_macs(cnn, (1, 8, 8)) == 16 * 9 * 64 + 32 * 16 * 9 * 64 + 512 * 64 + 64 * 10
    assert count_parameters(cnn) == sum(p.numel() for p in cnn.parameters())
    lstm = build_model("lstm", (1, 8, 8), 10)
    # 8 steps × 4 gates × 64 hidden × (8 inputs + 64 recurrent), then the 64→10 head
    assert count_macs(lstm, (1, 8, 8)) == 8 * 4 * 64 * (8 + 64) + 64 * 10
    info = describe("mlp", (64,), 10)
    assert (info.parameters, info.macs) == (17226, 64 * 128 + 128 * 64 + 64 * 10)
    assert info.description.startswith("MLP")


def test_mlp_activation_option():
    for activation, kind in (("sigmoid", torch.nn.Sigmoid), ("tanh", torch.nn.Tanh),
                             ("leakyrelu", torch.nn.LeakyReLU), ("relu", torch.nn.ReLU)):
        model = build_model("mlp", (64,), 10, activation=activation)
        assert any(isinstance(m, kind) for m in model.modules())
    assert any(isinstance(m, torch.nn.Tanh) for m in build_model("mlp-tanh", (64,), 3).modules())
    with pytest.raises(BadInputError, match="activation 'swish' is not one of: relu, sigmoid"):
        build_model("mlp", (64,), 10, activation="swish")
    with pytest.raises(BadInputError, match="model 'resnet' could not be built"):
        build_model("resnet", (1, 8, 8), 10, no_such_option=1)


# ---------------------------------------------------------------------------------------
# `edgenn zoo`
# ---------------------------------------------------------------------------------------


def test_zoo_command_lists_every_model_with_params_and_macs(capsys):
    from edgenn.cli import main

    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    cnn = describe("cnn")
    assert f"{cnn.parameters:,}" in out and f"{cnn.macs:,}" in out


def test_zoo_command_json_for_flat_data_names_what_cannot_take_it(capsys):
    from edgenn.cli import main

    assert main(["zoo", "--shape", "64", "--classes", "3", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in listing["models"]}
    assert listing["shape"] == [64] and set(rows) == set(NAMES)
    assert rows["mlp"]["macs"] == 64 * 128 + 128 * 64 + 64 * 3
    assert "resnet needs images" in rows["resnet"]["error"] and rows["resnet"]["macs"] is None
    assert rows["cnn"]["description"].startswith("1-D CNN") and rows["cnn"]["macs"] > 0


def test_zoo_command_rejects_a_bad_shape(capsys):
    from edgenn.cli import main

    assert main(["zoo", "--shape", "8,x0"]) == 2
    assert "--shape '8,x0' must be positive integers" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Bring your own model: path/to/file.py:factory
# ---------------------------------------------------------------------------------------

USER_MODEL = textwrap.dedent("""\
    import math
    import torch.nn as nn

    def factory(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 32), nn.ReLU(),
                             nn.Linear(32, num_classes))

    def fixed():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def not_a_model(input_shape, num_classes):
        return "model"
""")


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(USER_MODEL)
    return path


def test_user_factory_builds_trains_and_round_trips_a_checkpoint(user_file, tmp_path, digits):
    name = f"{user_file}:factory"
    model = build_model(name, digits.sample_shape, digits.num_classes)
    assert isinstance(build_model(f"{user_file}:fixed", (1, 8, 8), 10), torch.nn.Module)
    assert default_train_config(name).epochs == TrainConfig().epochs  # no defaults: plain
    result = train(model, digits, TrainConfig(epochs=5, lr=1e-2, threads=1))
    assert result.val_accuracy > 0.85
    config = ModelConfig(name, digits.sample_shape, digits.num_classes)
    save_checkpoint(tmp_path / "ckpt.pt", model, config)
    rebuilt, rebuilt_config, _ = load_checkpoint(tmp_path / "ckpt.pt")
    assert rebuilt_config == config
    np.testing.assert_array_equal(predict(rebuilt, digits.x_test), predict(model, digits.x_test))


def test_user_factory_errors_name_the_problem(user_file, tmp_path):
    cases = [
        (f"{tmp_path}/absent.py:factory", "model file not found"),
        (f"{user_file}:missing", "has no callable 'missing'"),
        (f"{user_file}:not_a_model", "factory returned str, not a torch.nn.Module"),
    ]
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    cases.append((f"{broken}:factory", rf"failed to import: RuntimeError: boom \(at {broken}:1\)"))
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\n\ndef factory():\n    sys.exit(0)\n")
    cases.append((f"{exits}:factory", rf"could not be built .*sys.exit\(0\) \(at {exits}:4\)"))
    for spec, message in cases:
        with pytest.raises(BadInputError, match=message):
            build_model(spec, (1, 8, 8), 10)


# Model classes and factories in the other shapes users write them: a class, keyword
# parameters in any order and spelling, (module, example_input) returns, no parameters.
USER_CONVENTIONS = textwrap.dedent("""\
    import math

    import numpy as np
    import torch
    from torch import nn

    class Net(nn.Module):
        \"\"\"A user's network class.\"\"\"

        train_defaults = {"epochs": 7, "keep": "last"}

        def __init__(self, input_shape, num_classes, hidden=16):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden),
                                      nn.ReLU(), nn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.body(x)

    def keywords_reversed(num_classes, input_shape):
        return Net(input_shape, num_classes)
    def keyword_only(*, n_classes, sample_shape, hidden=8):
        return Net(sample_shape, n_classes, hidden), torch.zeros(1, *sample_shape)
    def fixed_with_example():
        return Net((1, 8, 8), 10), np.zeros((1, 1, 8, 8), dtype=np.float32)
    def fixed_for_other_data():
        return Net((64,), 10), torch.zeros(1, 64)
    def example_is_a_list():
        return Net((1, 8, 8), 10), [[0.0] * 64]
    def one_unnamed_argument(size):
        return Net(size, 10)
""")


@pytest.fixture()
def conventions_file(tmp_path):
    path = tmp_path / "conventions.py"
    path.write_text(USER_CONVENTIONS)
    return path


@pytest.mark.parametrize("factory", ["Net", "keywords_reversed", "keyword_only"])
def test_user_factories_get_the_shape_and_class_count_by_position_or_name(
        factory, conventions_file):
    model = build_model(f"{conventions_file}:{factory}", (3, 4, 5), 7)
    first, last = model.body[1], model.body[-1]
    assert (first.in_features, last.out_features) == (3 * 4 * 5, 7)
    assert model(torch.rand(2, 3, 4, 5)).shape == (2, 7)
    if factory != "keywords_reversed":  # options reach the factory as keywords
        with_options = build_model(f"{conventions_file}:{factory}", (3, 4, 5), 7, hidden=5)
        assert with_options.body[1].out_features == 5


def test_a_model_class_keeps_its_description_and_train_defaults(conventions_file):
    assert default_train_config(f"{conventions_file}:Net").keep.value == "last"
    assert describe(f"{conventions_file}:Net").description == "A user's network class."


def test_factory_returning_module_and_example_trains_and_round_trips(conventions_file,
                                                                    tmp_path, digits):
    name = f"{conventions_file}:fixed_with_example"
    model = build_model(name, digits.sample_shape, digits.num_classes)
    assert isinstance(model, torch.nn.Module)
    result = train(model, digits, TrainConfig(epochs=5, lr=1e-2, threads=1))
    assert result.val_accuracy > 0.8
    config = ModelConfig(name, digits.sample_shape, digits.num_classes)
    save_checkpoint(tmp_path / "ckpt.pt", model, config)
    rebuilt, _, _ = load_checkpoint(tmp_path / "ckpt.pt")
    np.testing.assert_array_equal(predict(rebuilt, digits.x_test), predict(model, digits.x_test))


def test_user_factory_conventions_refuse_what_does_not_fit(conventions_file):
    cases = [
        ("fixed_for_other_data", r"its example input has per-sample shape \(64,\) \(batch "
                                 r"\(1, 64\)\), but the data's samples have shape \(1, 8, 8\)"),
        ("example_is_a_list", "the example input is list, not a tensor or array"),
        ("one_unnamed_argument", r"cannot tell what to pass as size in "
                                 r"one_unnamed_argument\(size\)"),
    ]
    for factory, message in cases:
        with pytest.raises(BadInputError, match=message):
            build_model(f"{conventions_file}:{factory}", (1, 8, 8), 10)


def test_run_with_a_user_model_and_user_data(user_file, tmp_path, digits, capsys):
    """`edgenn run --model file.py:factory --data my.npz` on flat vectors, end to end."""
    from edgenn.cli import main

    data = tmp_path / "flat.npz"
    x = np.concatenate([digits.x_train, digits.x_val, digits.x_test]).reshape(-1, 64)
    y = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    np.savez(data, x=x, y=y)
    out = tmp_path / "out"
    code = main(["run", "--model", f"{user_file}:factory", "--data", str(data),
                 "--targets", "pytorch", "--epochs", "3", "--runs", "3", "--warmup", "1",
                 "--no-isolate", "--out", str(out), "-q", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (out / "model" / "model.onnx").is_file()
    assert "factory" in json.dumps(report)


# ---------------------------------------------------------------------------------------
# Every zoo model learns the digits with its own defaults
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_model_reaches_090_on_digits_with_its_defaults(name, digits):
    model = build_model(name, digits.sample_shape, digits.num_classes)
    train(model, digits, default_train_config(name, threads=1))
    _, accuracy = evaluate(model, torch.from_numpy(digits.x_test),
                           torch.from_numpy(digits.y_test))
    assert accuracy >= 0.90, f"{name}: test accuracy {accuracy:.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_structured_pruning_respects_the_models_fixed_width_layers(name):
    """torch-pruning (as quantize/prune.py drives it) halves channels without breaking
    the forward pass once a model's `pruning_ignored_layers()` are left alone."""
    import torch_pruning as tp

    from edgenn.quantize.prune import output_layer

    torch.manual_seed(0)
    model = build_model(name, (1, 8, 8), 10).eval()
    example = torch.rand(1, 1, 8, 8)
    ignored = [output_layer(model, example)]
    ignored += getattr(model, "pruning_ignored_layers", list)()
    before = count_parameters(model)
    tp.pruner.MetaPruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                         pruning_ratio=0.5, ignored_layers=ignored).step()
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    if name not in ("lstm", "gru"):  # recurrent layers are kept whole
        assert count_parameters(model) < 0.8 * before


def test_default_train_config_names_a_bad_setting():
    with pytest.raises(BadInputError, match="model 'mlp': bad training setting"):
        default_train_config("mlp", learning_rate=0.1)
