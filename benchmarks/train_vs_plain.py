"""Does edgenn's training loop match a plain, well-set PyTorch loop on the same model?

For two zoo models (cnn, mlp) on the digits and one user-style model written here (a
small Conv1d network reading each digit as a 1×64 signal, same split), trains with
edgenn's defaults (TrainConfig plus the model's own `train_defaults`) and with a plain
Adam loop (lr 1e-3, batch 64, the same epoch budget, the final model evaluated; no edgenn
code in it). Both start from the same initial weights and seed. Accuracies are on the
test split, averaged over `--seeds` seeds; `diff pp` is edgenn minus plain, in percentage
points (goal: ≥ -1). `--noise 0.5` adds fixed Gaussian noise to every pixel of every split:
a harder task, where the validation loss turns up long before the accuracy stops
improving. Prints a table; never asserts.

    .venv/bin/python benchmarks/train_vs_plain.py [--seeds 5] [--threads 1] [--noise 0.5]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from edgenn.frontend.data import Dataset, load_digits
from edgenn.frontend.train import TrainConfig, evaluate, train
from edgenn.frontend.zoo import build_model
from edgenn.frontend.zoo.info import default_train_config


class Conv1dNet(nn.Module):
    """What a user might bring: two conv-ReLU-maxpool blocks on a 1-D signal, no BN."""

    def __init__(self, length: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (length // 4), 64), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def as_signals(digits: Dataset) -> Dataset:
    """The same split, each 1×8×8 image read row by row as a 1×64 signal."""
    def flat(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.reshape(len(x), 1, 64))

    return replace(digits, name="digits-1d", x_train=flat(digits.x_train),
                   x_val=flat(digits.x_val), x_test=flat(digits.x_test))


def with_noise(data: Dataset, sigma: float) -> Dataset:
    """Every split plus fixed Gaussian pixel noise of standard deviation `sigma`."""
    rng = np.random.default_rng(0)

    def noisy(x: np.ndarray) -> np.ndarray:
        return (x + rng.normal(0.0, sigma, x.shape)).astype(np.float32)

    return replace(data, name=f"{data.name}+noise{sigma:g}", x_train=noisy(data.x_train),
                   x_val=noisy(data.x_val), x_test=noisy(data.x_test))


def plain_loop(model: nn.Module, data: Dataset, epochs: int, seed: int) -> float:
    """A plain Adam loop: lr 1e-3, batch 64, shuffled, fixed epochs, final model."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.x_test)).argmax(dim=1).numpy()
    return float((predicted == data.y_test).mean())


@dataclass
class Outcome:
    edgenn: list[float]
    plain: list[float]
    epochs_edgenn: list[int]
    budget: int
    seconds_edgenn: float = 0.0
    seconds_plain: float = 0.0


def model_and_config(name: str, data: Dataset, seed: int) -> tuple[nn.Module, TrainConfig]:
    """The model (initial weights from `seed`) and edgenn's default training for it."""
    torch.manual_seed(seed)
    if name == "conv1d":
        return Conv1dNet(data.sample_shape[-1], data.num_classes), TrainConfig(seed=seed)
    model = build_model(name, data.sample_shape, data.num_classes)
    return model, default_train_config(name, seed=seed)


def compare(name: str, data: Dataset, seeds: int) -> Outcome:
    outcome = Outcome([], [], [], 0)
    plain_loop(model_and_config(name, data, 0)[0], data, 1, 0)  # untimed: warms torch up
    for seed in range(seeds):
        model, config = model_and_config(name, data, seed)
        twin = copy.deepcopy(model)  # the same initial weights for both loops
        outcome.budget = config.epochs
        start = time.perf_counter()
        result = train(model, data, config)
        outcome.seconds_edgenn += time.perf_counter() - start
        _, accuracy = evaluate(model, torch.from_numpy(data.x_test),
                               torch.from_numpy(data.y_test))
        outcome.edgenn.append(accuracy)
        outcome.epochs_edgenn.append(result.epochs_run)
        start = time.perf_counter()
        outcome.plain.append(plain_loop(twin, data, config.epochs, seed))
        outcome.seconds_plain += time.perf_counter() - start
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, averaged")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="cnn,mlp,conv1d")
    parser.add_argument("--noise", type=float, default=0.0, help="pixel noise σ (0: none)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    digits = load_digits()
    if args.noise > 0:
        digits = with_noise(digits, args.noise)
    header = ("| model | edgenn test acc | plain test acc | diff pp (min…max) | epochs edgenn / "
              "plain | wall s edgenn / plain |")
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    print(f"{digits.name}, {args.seeds} seed(s), {args.threads} thread(s); plain loop: Adam "
          "lr 1e-3, batch 64, the same epoch budget, final model", file=sys.stderr)
    for name in args.models.split(","):
        data = as_signals(digits) if name == "conv1d" else digits
        outcome = compare(name, data, args.seeds)
        diffs = 100 * (np.array(outcome.edgenn) - np.array(outcome.plain))
        label = "conv1d (user, 1×64)" if name == "conv1d" else name
        lines.append(
            f"| {label} | {np.mean(outcome.edgenn):.4f} | {np.mean(outcome.plain):.4f} | "
            f"{diffs.mean():+.2f} ({diffs.min():+.2f}…{diffs.max():+.2f}) | "
            f"{np.mean(outcome.epochs_edgenn):.1f} / {outcome.budget} | "
            f"{outcome.seconds_edgenn:.1f} / {outcome.seconds_plain:.1f} |")
        print(f"{label}: done", file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
