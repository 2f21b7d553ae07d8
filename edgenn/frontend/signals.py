"""The embedded 1-D data set `signals`: procedural three-axis sensor waveforms in 8 classes.

Nothing is downloaded or shipped: the samples are generated on demand from a fixed seed,
the same on every machine. Each sample is a window of 128 steps on 3 channels (C×L, the
layout of PyTorch's Conv1d), as a three-axis motion sensor (an accelerometer at 128 Hz,
one second) sees a movement:

    x[c, t] = gain · direction[c] · w(t) + offset[c] + drift[c] · (t − ½) + noise[c, t]

- `w(t)`, the class, is one of CLASSES (t in [0, 1), one window):
  sine, square, sawtooth: periodic, 2–7 cycles a window, random phase;
  pulses: as many short pulses (10–25 % of a cycle) a window;
  chirp-up / chirp-down: a sweep between 2–4 and 7–10 cycles a window;
  burst: a 6–12-cycle tone under a Gaussian envelope centred anywhere in the window;
  damped: a 2–5-cycle oscillation that starts anywhere in the first half and decays.
- `direction` is a random unit vector (the sensor's orientation against the movement),
  `gain` 0.5–1.5, `offset` a per-channel bias in ±0.5 (gravity, calibration), `drift` a
  slow per-channel slope in ±0.5, and `noise` white Gaussian noise of a per-sample
  standard deviation 0.2–0.6: frequency and amplitude overlap between classes, the
  noise hides the waveform's shape, so a classifier must learn that shape.

Reproducibility: NumPy guarantees the streams of its bit generators, not those of
`Generator`'s distributions, so every random number comes from PCG64's raw 64-bit output
(`random_raw`), turned into uniforms (53 bits) and normals (Box–Muller) here. Only NumPy's
sin/exp (correct to an ulp or so) can differ between machines, far below the noise.
"""

from __future__ import annotations

import numpy as np

SEED = 19_2026  # fixed: the data set never changes
CHANNELS, LENGTH = 3, 128
PER_CLASS = 500  # 4,000 samples in all
CLASSES = ("sine", "square", "sawtooth", "pulses", "chirp-up", "chirp-down", "burst",
           "damped")


class _Stream:
    """Uniform and normal draws from PCG64's raw output (a stream NumPy keeps stable)."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.PCG64(seed)

    def uniform(self, low: float, high: float, shape) -> np.ndarray:
        raw = self._bits.random_raw(int(np.prod(shape)))
        unit = (raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # [0, 1)
        return (low + (high - low) * unit).reshape(shape)

    def normal(self, shape) -> np.ndarray:
        count = int(np.prod(shape))
        u1 = 1.0 - self.uniform(0.0, 1.0, ((count + 1) // 2,))  # (0, 1]: log is finite
        u2 = self.uniform(0.0, 1.0, ((count + 1) // 2,))
        radius = np.sqrt(-2.0 * np.log(u1))
        pairs = np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])
        return pairs[:count].reshape(shape)


def _waveforms(labels: np.ndarray, stream: _Stream) -> np.ndarray:
    """w(t) per sample (N, LENGTH) for class labels `labels` (N,)."""
    n = len(labels)
    t = np.arange(LENGTH) / LENGTH
    cycles = stream.uniform(2.0, 7.0, (n, 1))
    phase = stream.uniform(0.0, 1.0, (n, 1))  # in cycles
    start = stream.uniform(2.0, 4.0, (n, 1))
    end = stream.uniform(7.0, 10.0, (n, 1))
    tone = stream.uniform(6.0, 12.0, (n, 1))
    centre = stream.uniform(0.2, 0.8, (n, 1))
    width = stream.uniform(0.05, 0.15, (n, 1))
    onset = stream.uniform(0.0, 0.5, (n, 1))
    ring = stream.uniform(2.0, 5.0, (n, 1))
    decay = stream.uniform(0.15, 0.4, (n, 1))
    duty = stream.uniform(0.1, 0.25, (n, 1))
    position = cycles * t + phase  # cycles elapsed
    fraction = position - np.floor(position)
    sweep_up = start * t + (end - start) * t ** 2 / 2 + phase
    sweep_down = end * t + (start - end) * t ** 2 / 2 + phase
    after = np.clip(t - onset, 0.0, None)
    shapes = {
        "sine": np.sin(2 * np.pi * position),
        "square": np.where(fraction < 0.5, 1.0, -1.0),
        "sawtooth": 2.0 * fraction - 1.0,
        "pulses": np.where(fraction < duty, 1.0, 0.0),
        "chirp-up": np.sin(2 * np.pi * sweep_up),
        "chirp-down": np.sin(2 * np.pi * sweep_down),
        "burst": np.sin(2 * np.pi * (tone * t + phase))
        * np.exp(-0.5 * ((t - centre) / width) ** 2),
        "damped": np.where(t >= onset, np.sin(2 * np.pi * ring * after)
                           * np.exp(-after / decay), 0.0),
    }
    waves = np.zeros((n, LENGTH))
    for k, name in enumerate(CLASSES):
        rows = labels == k
        waves[rows] = shapes[name][rows]
    return waves


def generate(per_class: int = PER_CLASS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 (N, 3, 128), y int64 (N,)): `per_class` samples of every class, in a
    fixed interleaved order (0, 1, …, 7, 0, 1, …)."""
    stream = _Stream(seed)
    labels = np.tile(np.arange(len(CLASSES), dtype=np.int64), per_class)
    n = len(labels)
    waves = _waveforms(labels, stream)
    direction = np.abs(stream.normal((n, CHANNELS, 1)))  # one octant: no sign flips
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    gain = stream.uniform(0.5, 1.5, (n, 1, 1))
    offset = stream.uniform(-0.5, 0.5, (n, CHANNELS, 1))
    drift = stream.uniform(-0.5, 0.5, (n, CHANNELS, 1))
    sigma = stream.uniform(0.2, 0.6, (n, 1, 1))
    noise = stream.normal((n, CHANNELS, LENGTH))
    t = np.arange(LENGTH) / LENGTH - 0.5
    x = gain * direction * waves[:, None, :] + offset + drift * t + sigma * noise
    return x.astype(np.float32), labels
