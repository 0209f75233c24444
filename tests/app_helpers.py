"""What the app's test files share: the tiny runs' settings and the AppTest helpers."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(ROOT / "app" / "main.py")
PAGES = ["home", "network_lab", "neuron_lab", "gallery", "lr_sweep"]
TINY_TRAIN = {"dataset": "clusters", "rules": ["ip", "none"], "depth": 3, "width": 8, "epochs": 2, "seeds": 2,
              "subset": 800, "batch_size": 100, "device": "cpu"}  # fmt: skip
SMALL_NEURON = {"dist": "gaussian", "mu": 4.0, "sigma": 1.5, "n": 1000, "iters": 300, "record_every": 10,
                "rules": ["ip", "wd", "infomax"]}  # fmt: skip


# --- fixtures -----------------------------------------------------------------------------------------


def spec_text(chart: Any) -> str:
    """A plotly chart's JSON as text with its non-ASCII characters as themselves: plotly writes "≈" as \\u2248
    unless orjson is installed, so tests search the decoded text, never the raw encoding."""
    return json.dumps(json.loads(chart.proto.spec), ensure_ascii=False, separators=(",", ":"))


def open_app(page: str, query: dict[str, str] | None = None, owner: str | None = None) -> AppTest:
    """The app from its entry point, switched to ``page`` (with ``query`` in the address), run once; ``owner``:
    this browser's key, as its cookie would give it (``app.owner``)."""
    at = AppTest.from_file(MAIN, default_timeout=90)
    if owner is not None:
        at.session_state["owner"] = owner
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py")
    if query:
        at.query_params.update(query)
    return at.run()


def run_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 180) -> AppTest:
    """Rerun the app (as the browser's fragment timer would) until ``done`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"not done within {timeout} s; errors: {[e.value for e in at.error]}")


def finished(at: AppTest) -> bool:
    return any("Finished in" in s.value for s in at.success) or bool(at.error)


def unescape(markdown: str) -> str:
    """The text a Markdown source shows (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def charts_shown(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def no_problems(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
