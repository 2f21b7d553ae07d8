"""The build's record: the machine a run used (`environment`) and `manifest.json`, each
artifact's files, format, lineage, bytes and sha256, so any report row can be traced to
the exact file that produced it."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from edgenn.core import Artifact, jsonable, sha256_of, write_text_atomic

VERSIONED_PACKAGES = ("edgenn", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "numpy",
                      "onnxscript", "brian2", "nir", "litert-torch", "ai-edge-litert",
                      "ai-edge-quantizer", "tflite-runtime", "torch-pruning")


def environment() -> dict[str, Any]:
    """Python, platform and the versions of every toolchain that is installed."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": _cpu_count(),
        "versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def write_manifest(path: Path, artifacts: Sequence[Artifact], env: dict[str, Any]) -> Path:
    """manifest.json: each artifact's files, format, lineage, bytes and sha256."""
    root = path.parent
    entries = []
    seen: set[Path] = set()
    for artifact in artifacts:
        if artifact.path in seen or not artifact.path.exists():
            continue
        seen.add(artifact.path)
        files = [{"path": _relative(p, root), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in artifact.files() if p.exists()]  # files[0] is artifact.path
        entries.append({
            "path": files[0]["path"],
            "format": artifact.format,
            "variant": artifact.variant,
            "lineage": list(artifact.lineage),
            "bytes": sum(f["bytes"] for f in files),
            "sha256": files[0]["sha256"],
            "files": files,
        })
    payload = {"environment": env, "artifacts": entries}
    return write_text_atomic(path, json.dumps(jsonable(payload), indent=2))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
