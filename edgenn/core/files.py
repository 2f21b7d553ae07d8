"""Safe file writes and file facts: nothing is ever half-written under its final name."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgenn.core.errors import BadInputError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success.

    Writers never leave a half-written file under the final name: on any exception
    (Ctrl-C included) the temporary file is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give them the usual umask permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Silence file descriptor 2 for the block: native libraries (TFLite, absl, XNNPACK)
    log INFO lines there that Python cannot filter. Python exceptions are unaffected."""
    if not enabled:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` through a temporary file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_out_dir(out: Path) -> Path:
    """Create the build directory, failing with a clear error when it is not writable."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".edgenn-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInputError(f"cannot write to output directory {out}: "
                            f"{exc.strerror or exc}") from None
    return out


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C held back until the block ends, then raised: nothing in it is cut in the
    middle (matplotlib's C extension aborts Python when interrupted while it loads). Off
    the main thread, where no signal arrives, the block simply runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def external_files(proto, directory: Path) -> list[Path]:
    """Files holding the model's external data, relative to `directory`."""
    found: list[Path] = []
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                candidate = directory / entry.value
                if candidate not in found:
                    found.append(candidate)
    return found
