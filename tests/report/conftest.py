"""Fixtures of the report tests: hand-built reports with every kind of row, and a real
headless browser (Debian's chromium) driven over the DevTools protocol, which can lay a
page out at a phone's width (headless chromium's window cannot be narrower than 500 px,
so `--window-size` alone cannot show a 420 px screen).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgenn.core.results import Measurement, Report

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def make_row(target: str, variant: str, accuracy: float, p50: float, size: int,
             seed: int = 0, **extra: Any) -> Measurement:
    rng = np.random.default_rng(seed)
    samples = (p50 * (1 + 0.1 * rng.standard_exponential(60))).tolist()
    return Measurement(
        target=target, variant=variant, accuracy=accuracy, samples=360,
        top1_agreement=0.99, max_abs_error=1e-3, snr_db=40.0, size_bytes=size,
        latency_ms={"p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.5, "mean": p50 * 1.1,
                    "p50_ci95_low": p50 * 0.98, "p50_ci95_high": p50 * 1.02},
        latency_samples_ms=samples, batch_size=1, threads=2, peak_rss_mb=80.0, extra=extra)


def build_sample_report() -> Report:
    """Every kind of row the pipeline makes: ok, quantized, spiking, skipped, failed."""
    confusion = (np.eye(10, dtype=int) * 35 + np.eye(10, k=1, dtype=int)).tolist()
    rows = [
        make_row("pytorch", "fp32", 0.9861, 0.170, 160_659, 1, confusion_matrix=confusion,
                 class_names=[str(i) for i in range(10)]),
        make_row("cpu", "fp32", 0.9861, 0.016, 155_482, 2),
        make_row("cpu", "int8-static", 0.9833, 0.012, 45_100, 3),
        make_row("cpu", "fp16", 0.9861, 0.030, 80_000, 4),
        make_row("tflite", "int8-static", 0.9833, 0.010, 48_000, 5),
        make_row("snn-fast", "fp32", 0.9722, 1.900, 158_000, 6,
                 accuracy_vs_timesteps={"8": 0.61, "16": 0.88, "32": 0.95, "64": 0.9722},
                 spikes_per_layer={"conv1": 5120.0, "conv2": 3011.0, "fc1": 812.0,
                                   "fc2": 95.0},
                 note="outputs are spike counts: max error and SNR do not apply"),
        make_row("snn-brian2", "fp32", 0.9694, 250.0, 158_000, 7,
                 accuracy_vs_timesteps=[{"timesteps": 16, "accuracy": 0.85},
                                        {"timesteps": 64, "accuracy": 0.9694}],
                 spikes_per_layer=[{"layer": "conv1", "rate": 0.12},
                                   {"layer": "fc2", "rate": 0.3}]),
        Measurement("gpu", "fp32", status="skipped",
                    reason="no CUDA device: pip install 'edgenn[gpu]' <and> a GPU"),
        Measurement("ort-mobile", "fp32", status="failed", reason="UnsupportedOperatorError: X"),
    ]
    return Report(rows=rows, settings={"model": "cnn", "data": "digits", "batch_size": 1,
                                       "threads": 2, "warmup": 20, "runs": 60},
                  environment={"python": "3.11", "platform": "Linux", "cpu_count": 2,
                               "versions": {"numpy": "2.3.5"}, "created": "2025-01-01"})


def add_verdicts(report: Report) -> Report:
    """The fields the run adds for issue 13, on every measured row: a confusion matrix,
    the change against the same target's fp32 row, the budget verdict and energy; and
    the report's recommendation per target and budget verdict."""
    fp32 = {r.target: r for r in report.rows if r.variant == "fp32" and r.status == "ok"}
    for index, row in enumerate(r for r in report.rows if r.status == "ok"):
        matrix = np.eye(10, dtype=int) * 35
        matrix[index % 10, (index + 1) % 10] = index  # each row its own confusion
        row.extra["confusion_matrix"] = matrix.tolist()
        base = fp32.get(row.target, row)
        row.extra["relative"] = {
            "baseline": "fp32", "accuracy_pp": 100 * (row.accuracy - base.accuracy),
            "speedup": base.latency_ms["p50"] / row.latency_ms["p50"],
            "speedup_significant": row.variant != "fp16",
            "size_ratio": row.size_bytes / base.size_bytes}
        drop = 100 * (report.rows[0].accuracy - row.accuracy)
        row.extra["budget"] = {"max_drop_pp": 0.2, "drop_pp": drop, "met": drop <= 0.2,
                               "split": "test"}
        row.extra["energy_uj"] = 0.5 + index
        row.extra["energy_basis"] = "45 nm: 4.6 pJ per MAC (fp32)"
    report.extra["recommended"] = {
        "cpu": {"variant": "int8-static", "reason": "fastest within the 0.2 pp budget"},
        "tflite": {"variant": "int8-static", "reason": "the only variant"}}
    over = [r.label for r in report.rows if r.extra.get("budget", {}).get("met") is False]
    report.extra["budget"] = {"max_drop_pp": 0.2, "met": not over, "rows_over": over,
                              "message": f"{len(over)} rows lose more than 0.2 pp"}
    return report


class PageParser(HTMLParser):
    """Images, links, external scripts, the comparison table's body rows (`body_rows`),
    and the cells (`td` attributes) of every table by its id or class."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.body_rows: list[dict[str, str]] = []
        self.cells: list[tuple[str, dict[str, str]]] = []  # (table id or class, td attrs)
        self.links: list[str] = []
        self.scripts_with_src = 0
        self._tables: list[str] = []
        self._in_tbody = False

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(attributes)
        elif tag == "table":
            self._tables.append(attributes.get("id") or attributes.get("class", ""))
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody and self._tables[-1:] == ["comparison-table"]:
            self.body_rows.append(attributes)
        elif tag == "td" and self._tables:
            self.cells.append((self._tables[-1], attributes))
        elif tag == "link":
            self.links.append(attributes.get("href", ""))
        elif tag == "script" and "src" in attributes:
            self.scripts_with_src += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False
        elif tag == "table" and self._tables:
            self._tables.pop()


def parse_page(page: str) -> PageParser:
    """The images, body rows, links and external scripts of a page."""
    parser = PageParser()
    parser.feed(page)
    return parser


@pytest.fixture(name="parse_page")
def parse_page_fixture() -> Callable[[str], PageParser]:
    return parse_page


@pytest.fixture(name="make_row")
def make_row_fixture() -> Callable[..., Measurement]:
    return make_row


@pytest.fixture
def sample_report() -> Report:
    return build_sample_report()


@pytest.fixture
def verdict_report() -> Report:
    return add_verdicts(build_sample_report())


# ---------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------


def chromium_binary() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed but CI is set: run "
                        "scripts/install_chromium.sh before the tests")
        pytest.skip("chromium is not installed (scripts/install_chromium.sh installs it)")
    return binary


class DevTools:
    """Chromium started with --remote-debugging-pipe: JSON messages, NUL-terminated, in on
    fd 3 and out on fd 4 (the protocol's pipe transport)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_read, to_write = os.pipe()
        from_read, from_write = os.pipe()
        # Above 10 so that moving them to 3 and 4 in the child never overwrites another.
        child_in = fcntl.fcntl(to_read, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_write, fcntl.F_DUPFD, 10)
        os.close(to_read)
        os.close(from_write)

        def plumb() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"], preexec_fn=plumb, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(profile)})
        os.close(child_in)
        os.close(child_out)
        self.write_fd, self.read_fd = to_write, from_read
        self.buffer, self.last_id, self.events = b"", 0, []

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str, session: str, timeout: float = 60) -> dict:
        """The next `event` of one tab's session (events of other tabs are dropped)."""
        def wanted(message: dict) -> bool:
            return message.get("method") == event and message.get("sessionId") == session

        for index, seen in enumerate(self.events):
            if wanted(seen):
                return self.events.pop(index)
        while True:
            message = self._read(timeout)
            if wanted(message):
                return message
            if message.get("sessionId") == session:
                self.events.append(message)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("chromium did not answer over the DevTools pipe")
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str, width: int, height: int, mobile: bool,
             screenshot: Path | None = None, then: str | None = None) -> dict[str, Any]:
        """Load `url` in a fresh tab laid out `width` CSS pixels wide (as a phone when
        `mobile`), and return the data-* attributes the page's script set on <body>;
        with `then`, that JavaScript expression's value is added as "then"."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1,
                   "mobile": mobile}, session)
        self.call("Page.enable", {}, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        expression = "JSON.stringify(Object.assign({}, document.body.dataset))"
        for _ in range(50):  # the page's load listener runs right after the event
            result = self.call("Runtime.evaluate", {"expression": expression,
                                                    "returnByValue": True}, session)
            data = json.loads(result["result"]["value"])
            if "viewportWidth" in data:
                break
            time.sleep(0.1)
        if then is not None:
            data["then"] = self.call("Runtime.evaluate", {"expression": then,
                                                          "returnByValue": True},
                                     session)["result"].get("value")
        if screenshot is not None:
            shot = self.call("Page.captureScreenshot",
                             {"format": "png", "captureBeyondViewport": True}, session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        self.call("Target.closeTarget", {"targetId": target})
        return data

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, TimeoutError, EOFError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


@pytest.fixture(scope="module")
def devtools(tmp_path_factory) -> Iterator[DevTools]:
    browser = DevTools(chromium_binary(), tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def find_chromium() -> Callable[[], str]:
    return chromium_binary


@pytest.fixture
def browse() -> Callable[..., subprocess.CompletedProcess]:
    """Run chromium once with arguments (e.g. --dump-dom URL) and return the result."""
    binary = chromium_binary()

    def run(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments]
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              check=False, env={**os.environ, "HOME": str(profile)})

    return run
