"""One point of a sweep: the run's own pipeline into `OUT/points/<key>/`, and its result.

A point's directory is finished when it holds `result.json` (written atomically, last):
every reader — the summary, a rerun — trusts that file alone. A directory without it is
an interrupted point; it is removed and the point runs again. `result.json` carries the
sha256 of its own content and of every other file the point wrote: a point whose files no
longer match (damaged on disk, edited) is not reused but runs again, with a warning. A
point that fails becomes a result too (status "failed", with its reason), so a rerun does
not repeat it unless asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgenn.core import EdgeNNError, sha256_of, write_text_atomic
from edgenn.run import pipeline
from edgenn.run.config import Hooks
from edgenn.run.recipe import build_config
from edgenn.run.sources import is_tflite
from edgenn.run.tflite_source import run_tflite
from edgenn.sweep.spec import Point

log = logging.getLogger(__name__)

RESULT = "result.json"
POINTS = "points"
CONTENT_HASH = "content_sha256"  # of the result without this field (`_canonical`)
FILE_HASHES = "files_sha256"  # every other file of the point directory: relative path → sha256


def point_dir(out: Path, key: str) -> Path:
    return Path(out) / POINTS / key


def read_result(out: Path, key: str) -> dict[str, Any] | None:
    """The finished result of a point, or None when it has not finished."""
    path = point_dir(out, key) / RESULT
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # not ours or damaged: run the point again
        result = None
    if isinstance(result, dict) and _intact(path.parent, result):
        return result
    log.warning("sweep point %s is damaged (its files do not match their hashes): running "
                "it again", key)
    return None


def _canonical(result: dict[str, Any]) -> bytes:
    body = {key: value for key, value in result.items() if key != CONTENT_HASH}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _file_hashes(directory: Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): sha256_of(path)
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path.name != RESULT}


def _intact(directory: Path, result: dict[str, Any]) -> bool:
    """Whether a point's result and files are as `write_result` recorded them; a result
    written before the hashes were recorded (no content hash) is trusted as it is."""
    if CONTENT_HASH not in result:
        return "key" in result and "status" in result
    return (result[CONTENT_HASH] == hashlib.sha256(_canonical(result)).hexdigest()
            and result.get(FILE_HASHES) == _file_hashes(directory))


def finished_keys(out: Path, retry_failed: bool = False) -> set[str]:
    keys = set()
    root = Path(out) / POINTS
    for path in root.glob(f"*/{RESULT}") if root.is_dir() else ():
        result = read_result(out, path.parent.name)
        if result is not None and not (retry_failed and result["status"] == "failed"):
            keys.add(path.parent.name)
    return keys


def remove_unfinished(out: Path, keep: set[str] = frozenset()) -> list[str]:
    """Remove point directories that never finished (an interrupted sweep's)."""
    root = Path(out) / POINTS
    removed = []
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        if path.is_dir() and path.name not in keep and not (path / RESULT).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def run_point(point: Point, out: Path,
              measure_rows: Callable[..., list] | None = None) -> dict[str, Any]:
    """Build and measure one point into OUT/points/<key>/; return its result (never
    raises for a failing point: the failure is the result). Ctrl-C removes the point's
    unfinished directory and is raised on."""
    directory = point_dir(out, point.key)
    if directory.exists():  # a retried or interrupted attempt: start clean
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    hooks = Hooks()
    hooks.measure_rows = measure_rows
    result: dict[str, Any] = {"key": point.key, "values": point.values,
                              "recipe": point.recipe, "host": socket.gethostname(),
                              "pid": os.getpid()}
    try:
        config = build_config(point.recipe, directory)
        job = run_tflite if is_tflite(config.model) else pipeline.run  # a .tflite source
        report = job(config, hooks)
        write_text_atomic(directory / "report.json", report.to_json())
        result.update(status="ok", reason="", report=report.to_dict())
    except KeyboardInterrupt:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    except Exception as exc:  # every failure of a point is its row, with the reason
        if not isinstance(exc, EdgeNNError):
            log.debug("point %s failed", point.key, exc_info=True)
        reason = str(exc) if isinstance(exc, EdgeNNError) else f"{type(exc).__name__}: {exc}"
        result.update(status="failed", reason=reason.strip().splitlines()[0][:500],
                      report=None, traceback=None if isinstance(exc, EdgeNNError)
                      else traceback.format_exc(limit=8))
    result["seconds"] = round(time.perf_counter() - started, 2)
    write_result(out, result)
    return result


def write_result(out: Path, result: dict[str, Any]) -> None:
    """Record a point as finished (its result.json, atomically), with the sha256 of its
    content and of every file the point wrote."""
    directory = point_dir(out, result["key"])
    result = json.loads(json.dumps(result, default=str))  # as it reads back
    result[FILE_HASHES] = _file_hashes(directory)
    result[CONTENT_HASH] = hashlib.sha256(_canonical(result)).hexdigest()
    write_text_atomic(directory / RESULT, json.dumps(result, indent=1))
