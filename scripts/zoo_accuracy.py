"""Train every zoo model on the digits with its own defaults; print a markdown table.

Columns: test accuracy, parameters, MACs per sample, epochs run, training seconds (wall
clock on this machine, one thread: compare rows, not machines). Also trains the odd/even
binary task (one logit, BCE) with the CNN, and the models that build 1-D convolutions
(`cnn`'s 1-D variant, `tcn`) on the embedded signals.

    .venv/bin/python scripts/zoo_accuracy.py [OUT.md] [--threads N] [--models a,b]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from edgenn.core import EdgeNNError, atomic_path
from edgenn.frontend.data import load_dataset, load_digits
from edgenn.frontend.train import evaluate, train
from edgenn.frontend.zoo import MODELS, build_model
from edgenn.frontend.zoo.info import default_train_config, describe
from edgenn.frontend.zoo.tasks import BINARY_OUTPUTS, binary_task


def accuracy(model, data) -> float:
    return evaluate(model, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))[1]


def builds_1d(name: str, data) -> bool:
    """Whether the zoo model builds 1-D convolutions for the data's signals."""
    try:
        model = build_model(name, data.sample_shape, data.num_classes)
    except EdgeNNError:  # a model that cannot take signals (an image model)
        return False
    return any(isinstance(m, torch.nn.Conv1d) for m in model.modules())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="markdown file to write (default: stdout)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=None, help="comma-separated subset")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else MODELS.names()
    digits = load_digits()
    lines = ["| model | task | test accuracy | params | MACs | epochs | train s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    jobs = [(name, "digits (10 classes)", digits, digits.num_classes, {}) for name in names]
    jobs.append(("cnn", "odd/even (1 logit, BCE)", binary_task(digits), BINARY_OUTPUTS,
                 {"loss": "bce"}))
    signals = load_dataset("signals")
    jobs += [(name, "signals (8 classes)", signals, signals.num_classes, {})
             for name in names if builds_1d(name, signals)]
    for name, task, data, outputs, overrides in jobs:
        info = describe(name, data.sample_shape, outputs)
        torch.manual_seed(0)  # the same starting weights every run: a reproducible table
        model = build_model(name, data.sample_shape, outputs)
        config = default_train_config(name, threads=args.threads, **overrides)
        start = time.perf_counter()
        result = train(model, data, config)
        seconds = time.perf_counter() - start
        lines.append(f"| {name} | {task} | {accuracy(model, data):.3f} | {info.parameters:,} | "
                     f"{info.macs:,} | {result.epochs_run} | {seconds:.1f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        with atomic_path(Path(args.out)) as tmp:
            Path(tmp).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
