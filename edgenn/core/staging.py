"""A build directory that a failed run never damages, and that one run writes at a time.

`staged_build(out)` is how `edgenn run` and `edgenn bench` write `--out`:

- a lock (`.<name>.edgenn-lock` beside OUT, `flock`) keeps a second run out of the same
  OUT while the first builds; the second fails at once with one line naming the first's
  process id;
- the run builds into a fresh staging directory beside OUT (`.<name>.edgenn-staging`);
- only when the block completes is OUT replaced: OUT is moved aside
  (`.<name>.edgenn-previous`), the staging directory renamed to OUT, the old build
  removed. Any failure — a bug, bad input found late, Ctrl-C — removes the staging
  directory and leaves the previous OUT exactly as it was. A run killed between the two
  renames leaves the previous build aside; the next run into OUT puts it back first —
  only when its files still match the sha256s sealed into it (`.edgenn-seal.json`, written
  as the build completes); a damaged one is removed with a warning, never put back, and
  the run builds OUT afresh.

Paths a run recorded while it built (a report row's artifact) name the staging
directory; `StagedBuild.relocate` maps them onto OUT.

OUT is replaced only when it is empty or an earlier edgenn build (it holds
`manifest.json`, or only what a build holds): a directory of other files is refused,
never deleted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgenn.core.errors import BadInputError
from edgenn.core.files import sha256_of, write_text_atomic

log = logging.getLogger(__name__)

# What an edgenn build directory holds (run and bench); hidden files are ignored.
BUILD_ENTRIES = frozenset({"manifest.json", "report.json", "report.md", "report.html",
                           "model", "data", "compiled"})
SEAL = ".edgenn-seal.json"  # in a completed build: relative path → sha256 of its every file


@dataclass(frozen=True)
class StagedBuild:
    """Where a run writes (`path`) and where its build ends up (`final`)."""

    path: Path
    final: Path

    def relocate(self, value: Any) -> Any:
        """`value` (str, list, dict, nested) with every path under the staging directory
        rewritten to the same place under the final directory."""
        if isinstance(value, str):
            for staged in {str(self.path), str(self.path.resolve())}:
                if value == staged or value.startswith(staged + os.sep):
                    return str(self.final) + value[len(staged):]
            return value
        if isinstance(value, list):
            return [self.relocate(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.relocate(v) for v in value)
        if isinstance(value, dict):
            return {k: self.relocate(v) for k, v in value.items()}
        return value


def sibling(out: Path, role: str) -> Path:
    """The hidden path beside `out` with this role (lock, staging, previous)."""
    return out.parent / f".{out.name}.edgenn-{role}"


@contextmanager
def staged_build(out: str | os.PathLike[str]) -> Iterator[StagedBuild]:
    """Lock `out`, yield a fresh staging directory, and replace `out` with it only when
    the block completes (see the module docstring)."""
    out = Path(out)
    if out.name in ("", ".", ".."):
        out = Path(os.path.abspath(out))
    _check_replaceable(out)
    with _locked(out):
        previous, staging = sibling(out, "previous"), sibling(out, "staging")
        if previous.is_dir() or previous.is_symlink():  # killed while swapping: put it back
            if out.exists():
                _remove(previous)
            elif not _sealed_intact(previous):
                log.warning("the build a killed run left aside (%s) is damaged (its files do "
                            "not match their hashes): removed, %s is built afresh",
                            previous.name, out)
                _remove(previous)
            else:
                os.replace(previous, out)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(parents=True)
        except OSError as exc:
            raise BadInputError(f"cannot write to output directory {out}: "
                                f"{exc.strerror or exc}") from None
        try:
            yield StagedBuild(staging, out)
            seal(staging)
            _replace(out, staging, previous)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _file_hashes(build: Path) -> dict[str, str]:
    return {str(path.relative_to(build)): sha256_of(path) for path in sorted(build.rglob("*"))
            if path.is_file() and not path.is_symlink() and path.name != SEAL}


def seal(build: Path) -> None:
    """Record the sha256 of every file of a completed `build` in it (`SEAL`)."""
    write_text_atomic(build / SEAL, json.dumps(_file_hashes(build), indent=0, sort_keys=True))


def _sealed_intact(build: Path) -> bool:
    """Whether `build`'s files match its seal; a build without one (written before seals,
    or not a directory) is taken as it is."""
    path = build / SEAL
    if build.is_symlink() or not path.is_file():
        return True
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == _file_hashes(build)


def _replace(out: Path, staging: Path, previous: Path) -> None:
    if out.exists() or out.is_symlink():
        os.replace(out, previous)
    os.replace(staging, out)
    _remove(previous)


def _remove(path: Path) -> None:
    """Remove a directory tree, or only the link when `path` is a symbolic link (an --out
    that was a link: what it pointed to is left alone)."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BadInputError(f"cannot write to output directory {out}: it is a file")
    if not out.is_dir():
        return
    try:
        if Path.cwd().resolve().is_relative_to(out.resolve()):
            raise BadInputError(f"--out {out} holds the current directory; give a build "
                                "directory of its own")
    except OSError:
        pass
    entries = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    foreign = [name for name in entries if name not in BUILD_ENTRIES]
    if foreign and "manifest.json" not in entries:
        raise BadInputError(f"--out {out} holds files that are not an edgenn build "
                            f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}); "
                            "a run replaces its --out: give a new or empty directory")


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on `out` for this process (`flock` on a file
    beside it, removed afterwards; checked to be the file at that path, so a lock file
    removed by its previous holder is never shared)."""
    path = sibling(out, "lock")
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BadInputError(f"cannot write to output directory {out}: "
                                f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BadInputError(f"another edgenn run (process {holder}) is building {out}; "
                                "wait for it to finish or give another --out") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed it as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
