"""A sweep small enough for tests: a tiny user model on digits, one epoch, the cpu target,
a few timed runs in-process. The model's factory can kill its own (Ray worker) process or
raise KeyboardInterrupt, once each, to play a crashed worker and a Ctrl-C."""

from __future__ import annotations

import os

import pytest

TINY_MODEL = '''
import os
import signal

import torch.nn as nn


def _first_time(marker):
    """True for exactly one caller across processes (the marker is created atomically)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def build(input_shape, num_classes, width=4, kill_marker="", driver_pid=0,
          interrupt_marker=""):
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    if kill_marker and os.getpid() != driver_pid and _first_time(kill_marker):
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-point
    if interrupt_marker and _first_time(interrupt_marker):
        raise KeyboardInterrupt
    channels, height, width_px = input_shape
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(width * height * width_px, num_classes))
'''


def sweep_text(model: str, options: list[str], *, extra: str = "") -> str:
    """A sweep over the model's options and two calibration sizes."""
    return f'''
[sweep]
max_accuracy_drop = 5.0
max_retries = 2
{extra}
[model]
name = "{model}:build"

[train]
epochs = 1

[compression]
variants = ["int8-dynamic"]
calibration_samples = 16

[targets]
run = ["cpu"]

[latency]
runs = 10
warmup = 1
isolate = false

[space.model]
options = [{", ".join(options)}]
'''


@pytest.fixture
def write_sweep(tmp_path):
    """write_sweep(options) → a sweep file over those `model.options` inline tables."""
    model = tmp_path / "tiny.py"
    model.write_text(TINY_MODEL)

    def write(options: list[str]):
        path = tmp_path / "sweep.toml"
        path.write_text(sweep_text(str(model), options))
        return path
    return write


@pytest.fixture
def driver_pid():
    return os.getpid()
