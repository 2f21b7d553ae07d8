"""The README cannot drift from the tool: every command in its shell blocks and every Python
block is executed here, in order, in one working folder.

The folder holds the files the README's examples name (`net.py` with a `build` factory,
`my.npz`, `w.pt`, `model.onnx`), made from the digits data. Commands run as written, with
quick settings appended (`run`, `bench`: few epochs and timed runs, and
`--targets pytorch,cpu --variants int8-dynamic` where the command names none; `simulate`
and `profile`: fewer samples and runs) so the whole README runs in about a minute;
`my.toml`, once `edgenn recipe init` wrote it, is trimmed the same way. A block that
cannot run here says why in an HTML comment right above it:
`<!-- readme-test: skip REASON -->`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s+(?P<reason>\S.*?)\s*-->")
QUICK = {"run": ["--epochs", "2", "--runs", "3", "--warmup", "1", "--no-isolate"],
         "bench": ["--runs", "3", "--warmup", "1", "--no-isolate"],
         "simulate": ["--samples", "24"], "profile": ["--runs", "3"]}
NET = '''
from torch import nn


def build(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, num_classes))
'''


@dataclass
class Block:
    language: str
    text: str
    line: int
    skip: str | None


def blocks(text: str) -> list[Block]:
    """The fenced blocks of the README with their language and skip reason."""
    found, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = SKIP.search(before)
        found.append(Block(fence.group(1), "\n".join(lines[index + 1:end]), index + 1,
                           marker.group("reason") if marker else None))
        index = end + 1
    return found


def commands(block: Block) -> list[list[str]]:
    """The edgenn commands of a shell block, as argv lists (comments dropped)."""
    found = []
    for line in block.text.splitlines():
        line = line.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        if argv and Path(argv[0]).name == "edgenn":
            found.append(argv[1:])
        else:
            raise AssertionError(f"README line {block.line}: `{line}` is not an edgenn "
                                 "command: mark the block <!-- readme-test: skip REASON -->")
    return found


def quick(argv: list[str]) -> list[str]:
    extra = list(QUICK.get(argv[0], [])) if argv else []
    if argv and argv[0] == "run" and "--targets" not in argv:
        extra += ["--targets", "pytorch,cpu"]
    if argv and argv[0] == "run" and "--variants" not in argv:
        extra += ["--variants", "int8-dynamic"]
    return [*argv, *extra]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits):
    import numpy as np
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.train import TrainConfig, train

    root = tmp_path_factory.mktemp("readme")
    (root / "net.py").write_text(NET)
    np.savez(root / "my.npz", x=np.concatenate([digits.x_train, digits.x_val, digits.x_test]),
             y=np.concatenate([digits.y_train, digits.y_val, digits.y_test]))
    namespace: dict = {}
    exec(NET, namespace)
    model = namespace["build"]((1, 8, 8), 10)
    train(model, digits, TrainConfig(epochs=3, seed=0))
    torch.save(model.state_dict(), root / "w.pt")
    export_onnx(model, digits.x_val[:8], root / "model.onnx")
    return root


def _shell(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "edgenn.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _trim_recipe(path: Path) -> None:
    """A quick copy of the default recipe: two epochs, cpu only, no variants, few runs."""
    text = path.read_text()
    text = re.sub(r'(?m)^run = "all".*$', 'run = ["pytorch", "cpu"]', text)
    text = re.sub(r"(?m)^variants = \[.*$", "variants = []", text)
    text = re.sub(r"(?m)^# epochs = \d+", "epochs = 2", text)
    text = re.sub(r"(?m)^runs = \d+", "runs = 3", text)
    text = re.sub(r"(?m)^warmup = \d+", "warmup = 1", text)
    text = re.sub(r"(?m)^(profile|diverge) = true", r"\1 = false", text)
    path.write_text(text)


def test_every_skipped_block_says_why():
    for block in blocks(README.read_text()):
        if block.skip is not None:
            assert len(block.skip) > 10, f"README line {block.line}: say why it is skipped"


def test_the_python_api_example_documents_a_guard():
    python = [b for b in blocks(README.read_text()) if b.language == "python"]
    assert python and all('if __name__ == "__main__":' in b.text for b in python
                          if "run(" in b.text)


@pytest.mark.slow
def test_every_readme_command_and_snippet_runs(folder):
    import time

    ran, took = 0, []
    for block in blocks(README.read_text()):
        if block.skip is not None or block.language not in ("bash", "sh", "python"):
            continue
        if block.language == "python":
            script = folder / f"readme_{block.line}.py"
            script.write_text(block.text)
            done = subprocess.run([sys.executable, str(script)], cwd=folder,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"README line {block.line}:\n{done.stderr[-3000:]}"
            ran += 1
            continue
        for argv in commands(block):
            start = time.perf_counter()
            done = _shell(quick(argv), folder)
            took.append((time.perf_counter() - start, shlex.join(argv)))
            print(f"{took[-1][0]:6.1f} s  edgenn {took[-1][1]}")
            assert done.returncode == 0, \
                f"README line {block.line}: edgenn {shlex.join(argv)}\n{done.stderr[-3000:]}"
            assert "Traceback" not in done.stderr
            if argv[:2] == ["recipe", "init"]:
                _trim_recipe(folder / argv[2])
            ran += 1
    assert ran >= 5
