"""The app on a loopback port, for the browser tests and the benchmarks: start, wait until healthy, stop.

``streamlit run app/main.py`` on a free 127.0.0.1 port with its own runs folder, the output in a log file;
``chromium_args`` are the flags headless Debian chromium needs on these machines (no network beyond loopback).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from app import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health_seconds(url: str, timeout: float = 30) -> float | None:
    """Seconds until ``/_stcore/health`` answered ``ok`` (None: no answer within ``timeout``)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            ok = response.read().strip() == b"ok"
    except OSError:
        return None
    return time.monotonic() - started if ok else None


@contextmanager
def local_server(log: Path, env: Mapping[str, str] | None = None, timeout: float = 120) -> Iterator[str]:
    """A streamlit server of the app on a free loopback port, its output in ``log``; yields its base URL and
    always stops it (SIGTERM to its process group, SIGKILL if it lingers)."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while health_seconds(url, timeout=2) is None:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy in {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
