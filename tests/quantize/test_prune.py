"""Pruning in PyTorch: structured channels (torch-pruning) and unstructured magnitude."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError


@pytest.fixture(scope="module")
def trained():
    import torch

    from edgenn.frontend.data import load_digits
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", (1, 8, 8), 10)
    train(model, data, TrainConfig(epochs=15))
    return data, model


def _test_accuracy(model, data) -> float:
    from edgenn.frontend.train import predict

    return float(np.mean(predict(model, data.x_test).argmax(1) == data.y_test))


def _fine_tune(data):
    from edgenn.frontend.train import TrainConfig, train

    return lambda module: train(module, data, TrainConfig(epochs=10, lr=1e-3))


def test_structured_half_removes_channels_within_one_point(trained):
    import torch.nn as nn

    from edgenn.quantize.prune import PruneConfig, prune_model

    data, model = trained
    pruned, stats = prune_model(model, data.x_train[:4], PruneConfig(sparsity=0.5),
                                _fine_tune(data))
    convs = [m for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16]
    assert pruned.classifier[-1].out_features == 10  # the output layer keeps its classes
    assert stats.macs_after <= 0.55 * stats.macs_before
    assert stats.params_after < stats.params_before
    assert model.features[0].out_channels == 16  # the original is untouched
    drop = _test_accuracy(model, data) - _test_accuracy(pruned, data)
    assert drop * 100 <= 1.0


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_unstructured_reaches_target_sparsity_and_keeps_it_through_fine_tune(trained, scope):
    from edgenn.quantize.prune import PruneConfig, prune_model

    data, model = trained
    seen = []
    pruned, stats = prune_model(
        model, data.x_train[:4], PruneConfig(method="unstructured", sparsity=0.6, scope=scope),
        lambda module: seen.append(module))
    assert len(seen) == 1
    assert stats.sparsity_before == 0.0
    assert 0.5 <= stats.sparsity_after <= 0.6  # the output layer is not pruned
    assert stats.macs_after == stats.macs_before
    assert stats.nonzero_macs_after < 0.6 * stats.nonzero_macs_before
    assert not any("mask" in name for name, _ in pruned.named_buffers())


def test_mac_count_of_the_digits_cnn():
    import torch

    from edgenn.frontend.zoo import build_model
    from edgenn.quantize.prune import count_model

    counts = count_model(build_model("cnn", (1, 8, 8), 10), torch.zeros(1, 1, 8, 8))
    # conv 1→16 3×3 and 16→32 3×3 on 8×8, Linear 512→64, Linear 64→10
    assert counts["macs"] == 16 * 9 * 64 + 32 * 16 * 9 * 64 + 512 * 64 + 64 * 10


@pytest.mark.parametrize("sparsity", [1.0, -0.1, 1.5])
def test_sparsity_outside_zero_one_is_rejected(sparsity):
    from edgenn.quantize.prune import PruneConfig

    with pytest.raises(BadInputError, match=rf"sparsity must be in \[0, 1\), got {sparsity}"):
        PruneConfig(sparsity=sparsity)


def test_cli_prune_bad_sparsity_exits_2_and_writes_nothing(tmp_path, capsys):
    from edgenn.cli import main

    code = main(["prune", "--checkpoint", str(tmp_path / "none.pt"), "--sparsity", "1",
                 "--out", str(tmp_path / "p"), "-q"])
    assert code == 2
    assert "sparsity must be in [0, 1), got 1.0" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
