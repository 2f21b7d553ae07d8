"""Does edgenn's CPU int8 pay off? MobileNetV2-style net, 3×224×224, batch 1, 2 threads.

Prints p50 ratios measured in this one run: edgenn's chosen static int8 artifact against
fp32 (goal ≥ 2.0×) and against onnxruntime's default quantize_static settings (edgenn
must be faster), and 50 % structured pruning + int8 against fp32 (goal ≥ 3.0×).
Random weights (BatchNorm statistics set from random batches so activations are sane).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgenn.exporters.onnx import export_onnx
from edgenn.quantize.onnx_int8 import LIBRARY_DEFAULT, quantize_static
from edgenn.quantize.prune import PruneConfig, prune_model
from edgenn.run.config import DEFAULT_CANDIDATES, CompressionConfig
from edgenn.run.int8_search import Evaluator, choose_static


def block(cin: int, cout: int, stride: int, expand: int) -> nn.Module:
    hidden = cin * expand
    layers = [] if expand == 1 else [nn.Conv2d(cin, hidden, 1, bias=False),
                                      nn.BatchNorm2d(hidden), nn.ReLU6()]
    layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
               nn.BatchNorm2d(hidden), nn.ReLU6(),
               nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
    return InvertedResidual(nn.Sequential(*layers), stride == 1 and cin == cout)


class InvertedResidual(nn.Module):
    def __init__(self, body: nn.Module, residual: bool) -> None:
        super().__init__()
        self.body, self.residual = body, residual

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2(classes: int = 1000) -> nn.Module:
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32),
                               nn.ReLU6()]
    cin = 32
    for expand, cout, repeats, stride in settings:
        for i in range(repeats):
            layers.append(block(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes)]
    return nn.Sequential(*layers)


def main() -> int:
    start = time.time()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = mobilenet_v2()
    model.train()
    with torch.no_grad():  # BatchNorm running statistics from random images
        for _ in range(3):
            model(torch.rand(8, 3, 224, 224))
    model.eval()
    x = rng.random((8, 3, 224, 224), dtype=np.float32)
    evaluator = Evaluator(x[:2], np.zeros(2, np.int64), threads=2, latency_runs=60)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fp32 = export_onnx(model, x[:1], work / "mnv2.onnx")
        config = CompressionConfig(latency_runs=60, candidates=DEFAULT_CANDIDATES)
        chosen = choose_static(fp32, work / "mnv2.int8.onnx", x, evaluator, config)
        library = quantize_static(fp32, work / "mnv2.library.onnx", x, LIBRARY_DEFAULT)
        pruned_model, stats = prune_model(model, x[:1], PruneConfig(sparsity=0.5))
        pruned = export_onnx(pruned_model, x[:1], work / "mnv2.pruned.onnx")
        pruned_int8 = quantize_static(pruned, work / "mnv2.pruned.int8.onnx", x,
                                      dict((c.name, c.config) for c in DEFAULT_CANDIDATES)
                                      [chosen.metadata["selection"]["chosen"]])
        p50 = {name: evaluator.p50_ms(a) for name, a in [
            ("fp32", fp32), ("chosen", chosen), ("library", library),
            ("pruned", pruned), ("pruned_int8", pruned_int8)]}
    selection = chosen.metadata["selection"]
    print("MobileNetV2-style 3×224×224, batch 1, 2 threads, onnxruntime CPU")
    for row in selection["candidates"]:
        print(f"  candidate {row['name']:<28} p50 {row['p50_ms']:7.2f} ms "
              f"({row['speedup_vs_fp32']:.2f}× fp32)")
    print(f"edgenn chose: {selection['chosen']}")
    print("p50 ms: " + ", ".join(f"{k} {v:.2f}" for k, v in p50.items()))
    print(f"chosen int8 vs fp32:            {p50['fp32'] / p50['chosen']:.2f}× faster "
          f"(goal ≥ 2.0)")
    print(f"chosen int8 vs library default: {p50['library'] / p50['chosen']:.2f}× faster "
          f"(goal > 1.0)")
    print(f"pruned 50% + int8 vs fp32:      {p50['fp32'] / p50['pruned_int8']:.2f}× faster "
          f"(goal ≥ 3.0; MACs {stats.macs_ratio:.2f}× of fp32)")
    print(f"total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
