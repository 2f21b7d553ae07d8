"""Pretrained weights from the user's own training code, loaded safely.

`torch.load(..., weights_only=True)` only: a file that needs arbitrary unpickling (a
whole pickled module) is refused with the way out (save `model.state_dict()`). Accepted:
a plain state dict, `{"state_dict": ...}` (PyTorch Lightning and many training scripts),
`{"model": ...}`, and edgenn's own checkpoints; key prefixes added by wrappers
(`module.` from DataParallel, `model.` from Lightning) are removed when that is what it
takes for the keys to match.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
PREFIXES = ("module.", "model.", "_orig_mod.", "net.")


def safe_load(path: str | Path, kind: str = "PyTorch weights file", article: str = "a") -> Any:
    """`torch.load(path, weights_only=True)`, every failure a one-line BadInputError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{kind} not found: {path}")
    try:
        with warnings.catch_warnings():
            # a raw pickle of protocol > 2 draws a warning before the refusal edgenn words
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        kind_found = sniff_file_kind(path)
        if kind_found:
            raise BadInputError(f"{path}: {kind_found}") from None
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # PyTorch colours its advice
        why = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
        if "Unsupported global" in text:
            # a pickled class, not only tensors: edgenn's line, never PyTorch's advice to
            # load it unsafely
            raise BadInputError(
                f"{path}: holds Python objects, not just tensors"
                f"{f' ({why.group(1).strip()[:160]})' if why else ''}; edgenn loads weights "
                "safely (weights_only) — save `model.state_dict()` with torch.save and pass "
                "that file") from None
        first = why.group(1).strip() if why else \
            text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise BadInputError(f"{path}: not {article} {kind} ({first[:200]})") from None


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The state dict stored in `path` (see the module docstring for the layouts)."""
    payload = safe_load(path)
    for _ in range(2):  # e.g. {"state_dict": {...}} or an edgenn checkpoint
        if isinstance(payload, Mapping) and not _is_state_dict(payload):
            inner = next((payload[k] for k in WRAPPER_KEYS if k in payload
                          and isinstance(payload[k], Mapping)), None)
            if inner is None:
                break
            payload = inner
    if not isinstance(payload, Mapping) or not _is_state_dict(payload):
        raise BadInputError(f"{path}: no state dict found (a mapping of parameter names to "
                            "tensors, possibly under 'state_dict' or 'model')")
    return dict(payload)


def load_weights(model, path: str | Path) -> str:
    """Load the state dict in `path` into `model` (strictly: every key, every shape);
    returns the sha256 of the weights as loaded, to prove later they were not changed."""
    model.load_state_dict(fit_state_dict(model, read_state_dict(path), path), strict=True)
    model.eval()
    return weights_digest(model)


def fit_state_dict(model, state: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """`state` with wrapper prefixes removed, checked against `model`: every key, every
    shape; one line naming what does not fit (PyTorch's own error runs to many lines)."""
    import torch

    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise BadInputError(f"{path}: the weights are not a state dict (parameter names "
                            "to tensors)")
    expected = model.state_dict()
    state = _strip_prefix(dict(state), set(expected))
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in sorted(set(state) & set(expected))
              if tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s): {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s): {_few(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): {_few(shapes)}")
        raise BadInputError(f"{path} does not fit the model: " + "; ".join(parts))
    return state


def output_width(path: str | Path) -> int:
    """The output width a state dict implies (the first dimension of its last weight with
    two or more dimensions): for building a model whose data carry no labels."""
    tensors = [t for t in read_state_dict(path).values() if getattr(t, "ndim", 0) >= 2]
    if not tensors:
        raise BadInputError(f"{path}: no weight matrix to read the model's output width from")
    return int(tensors[-1].shape[0])


def weights_digest(model) -> str:
    """sha256 over every parameter and buffer, in state-dict order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _is_state_dict(payload: Mapping) -> bool:
    import torch

    return bool(payload) and all(isinstance(k, str) for k in payload) and all(
        isinstance(v, torch.Tensor) for v in payload.values())


def _strip_prefix(state: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    if set(state) & wanted:
        return state
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix):]: v for k, v in state.items()}
            if set(stripped) & wanted:
                return stripped
    return state


def _few(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def sniff_file_kind(path: str | Path) -> str | None:
    """What a file that torch.load refused is, read from its first bytes, with the way out.

    None when it is none of the formats a user plausibly mixes up with a weights file.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head[4:8] == b"TFL3":
        return ("a TFLite model, not PyTorch weights; give it as the model "
                "(`edgenn run MODEL.tflite --data ...`)")
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array, not PyTorch weights; data goes to --data as an .npz"
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if names and all(name.endswith(".npy") for name in names):
            return "a NumPy .npz archive, not PyTorch weights; data goes to --data"
        return None
    if len(head) >= 8 and 0 < int.from_bytes(head[:8], "little") < 100_000_000 \
            and head[8:9] == b"{":
        return ("a safetensors file, not a torch.save file; load it with "
                "safetensors.torch.load_file and torch.save the state dict")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return ("a raw Python pickle, not a torch.save file of tensors; edgenn loads weights "
                "safely (weights_only) — save `model.state_dict()` with torch.save and pass "
                "that file")
    if _is_onnx(path):
        return ("an ONNX model, not PyTorch weights; give it as the model "
                "(`edgenn run MODEL.onnx --data ...`, `edgenn bench MODEL.onnx`)")
    return None


def _is_onnx(path: Path) -> bool:
    try:
        import onnx

        if path.stat().st_size > 2**31 - 1:
            return False
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception:
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0
