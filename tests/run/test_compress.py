"""The accuracy budget: a deliberately sensitive layer breaks static int8 and the
sensitivity fallback repairs it by keeping that layer in float; CPU format selection."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgenn.core import BudgetExceededError


@pytest.fixture(scope="module")
def sensitive(tmp_path_factory):
    """An MLP whose first layer has ±500 weights on pixels that are 0 in every image.

    The float model never sees them (0 × 500 = 0), but per-channel int8 scales each row
    to its ±500 outlier, so every ordinary weight rounds to zero: int8 destroys the layer.
    """
    import torch
    from torch import nn

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits
    from edgenn.frontend.train import TrainConfig, train

    data = load_digits()
    every = np.concatenate([data.x_train, data.x_val, data.x_test]).reshape(-1, 64)
    dead_pixel = int(np.flatnonzero(every.max(axis=0) == 0)[0])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 48),
                          nn.ReLU(), nn.Linear(48, 10))
    train(model, data, TrainConfig(epochs=15, keep="last"))
    with torch.no_grad():
        model[1].weight[:, dead_pixel] = torch.where(torch.arange(48) % 2 == 0, 500.0, -500.0)
    path = tmp_path_factory.mktemp("sensitive") / "model.onnx"
    return data, export_onnx(model, data.x_train[:2], path)


def _sensitive_node(artifact) -> str:
    import onnx

    return next(n.name for n in onnx.load(str(artifact.path)).graph.node if n.op_type == "Gemm")


def test_sensitivity_ranks_the_broken_layer_first(sensitive):
    from edgenn.quantize.onnx_int8 import quantize_static
    from edgenn.quantize.sensitivity import node_sensitivity

    data, fp32 = sensitive
    int8 = quantize_static(fp32, fp32.path.parent / "rank.int8.onnx", data.x_train[:128])
    ranking = node_sensitivity(fp32, int8, data.x_train[:32])
    assert ranking[0].node == _sensitive_node(fp32)
    assert ranking[0].loss_db > 20 > ranking[1].loss_db


def test_fallback_keeps_the_sensitive_layer_in_float_and_meets_the_budget(sensitive, tmp_path):
    from edgenn.run.compress import calibration_set, require_budget
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, choose_static

    data, fp32 = sensitive
    evaluator = Evaluator(data.x_val, data.y_val, latency_runs=10)
    config = CompressionConfig(max_accuracy_drop=0.5)
    result = choose_static(fp32, tmp_path / "m.int8.onnx",
                           calibration_set(data.x_train, 128), evaluator, config)
    budget = result.metadata["budget"]
    # Without the fallback the int8 model is near chance level.
    assert min(c["drop_pp"] for c in result.metadata["selection"]["candidates"]) > 50
    assert budget["met"] and budget["drop_pp"] <= 0.5
    assert budget["kept_in_float"] == [_sensitive_node(fp32)]
    assert any(_sensitive_node(fp32) in note for note in result.metadata["notes"])
    assert result.metadata["quantization"]["nodes_to_exclude"] == [_sensitive_node(fp32)]
    evaluator._cache.clear()
    assert 100 * (evaluator.accuracy(fp32) - evaluator.accuracy(result)) <= 0.5
    require_budget([result])  # does not raise
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.int8.onnx"]


def test_budget_that_cannot_be_met_raises_exit_code_3(sensitive, tmp_path):
    from edgenn.run.compress import calibration_set, require_budget
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, choose_static

    data, fp32 = sensitive
    config = CompressionConfig(max_accuracy_drop=0.5, max_float_nodes=0)
    result = choose_static(fp32, tmp_path / "m.onnx", calibration_set(data.x_train, 64),
                           Evaluator(data.x_val, data.y_val, latency_runs=5), config)
    assert result.metadata["budget"]["met"] is False
    with pytest.raises(BudgetExceededError, match="no variant meets the accuracy budget "
                                                  "of 0.5 pp") as caught:
        require_budget([result])
    assert caught.value.exit_code == 3


@pytest.mark.slow
def test_build_variants_on_digits(tmp_path):
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits
    from edgenn.frontend.train import train
    from edgenn.frontend.zoo import build_model
    from edgenn.frontend.zoo.info import default_train_config
    from edgenn.run.compress import build_variants, calibration_set
    from edgenn.run.config import CompressionConfig

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", (1, 8, 8), 10)
    train(model, data, default_train_config("cnn", epochs=15))
    fp32 = export_onnx(model, data.x_train[:2], tmp_path / "model.onnx")
    made = build_variants(model, data, fp32, tmp_path / "v",
                          CompressionConfig(max_accuracy_drop=1.0, latency_runs=20),
                          calibration_set(data.x_train, 256))
    variants = made.artifacts
    by_name = {a.variant: a for a in variants}
    assert sorted(by_name) == sorted(["int8-dynamic", "int8-static", "fp16", "pruned",
                                      "pruned-int8"])
    static = by_name["int8-static"]
    chosen = static.metadata["selection"]["chosen"]
    assert chosen in {c["name"] for c in static.metadata["selection"]["candidates"]}
    # the search's timings stay in `selection`, never in the notes the report prints
    assert not any("slower" in n for n in static.metadata.get("notes", []))
    assert by_name["pruned"].metadata["prune"]["macs_ratio"] <= 0.55
    assert by_name["pruned-int8"].size_bytes() < by_name["pruned"].size_bytes()
    assert all(a.metadata["budget"]["met"] for a in variants)
    # the pruned module is handed on as a .pt2 program, loadable without its class
    assert made.pruned_program.format == "torch" and made.pruned_program.path.exists()


def test_the_int8_choice_never_trades_accuracy_for_noise():
    from edgenn.run.int8_search import pick_candidate

    rows = [{"name": "fast-lossy", "p50_ms": 1.00, "val_accuracy": 0.90, "meets_budget": True},
            {"name": "close-exact", "p50_ms": 1.05, "val_accuracy": 0.95, "meets_budget": True},
            {"name": "slow-exact", "p50_ms": 2.00, "val_accuracy": 0.96, "meets_budget": True}]
    best, reason = pick_candidate(rows, noise=0.1)
    assert best["name"] == "close-exact" and "most accurate" in reason
    best, reason = pick_candidate(rows, noise=0.0)  # no noise allowed: the fastest
    assert best["name"] == "fast-lossy" and reason == "fastest candidate that meets the budget"
    rows[0]["meets_budget"] = rows[1]["meets_budget"] = False
    assert pick_candidate(rows, noise=0.1)[0]["name"] == "slow-exact"
    # none meets it: the float fallback takes the fastest by the same noise rule —
    # close-exact (fast-lossy is within 10 % of it and less accurate)
    rows[2]["meets_budget"] = False
    assert pick_candidate(rows, noise=0.1)[0]["name"] == "close-exact"
    assert pick_candidate(rows, noise=0.0)[0]["name"] == "fast-lossy"


@pytest.mark.slow
def test_pruning_over_budget_retries_at_lower_sparsity(tmp_path, digits, trained_cnn,
                                                       cnn_artifacts):
    from edgenn.quantize.prune import PruneConfig
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, budget_record
    from edgenn.run.pruning import pruned_within_budget

    onnx = next(a for a in cnn_artifacts if a.format == "onnx")
    config = CompressionConfig(max_accuracy_drop=0.0, fine_tune_epochs=1,
                               prune=PruneConfig(sparsity=0.9))
    evaluator = Evaluator(digits.x_val, digits.y_val, 1)
    reference = evaluator.accuracy(onnx)

    def judged(artifact):
        record = budget_record(reference, evaluator.accuracy(artifact), 0.0)
        return dataclasses.replace(artifact, metadata={**artifact.metadata, "budget": record})

    _, _, pruned = pruned_within_budget(trained_cnn, digits, onnx, tmp_path, config, judged)
    tried = pruned.metadata["prune_fallback"]
    assert [t["sparsity"] for t in tried][:2] == [0.9, 0.45]  # 90 % loses accuracy
    assert tried[0]["met"] is False and len(tried) <= 3
    assert pruned.metadata["prune"]["target_sparsity"] == tried[-1]["sparsity"]
    assert "sparsity lowered to" in pruned.metadata["notes"][-1]
