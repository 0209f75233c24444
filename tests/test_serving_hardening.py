"""Serving the app to others (issue 28, items 2, 8 and 9) against a real server and browser: the shipped
Streamlit settings (no parent origins, known hosts only), the reverse proxy's rules (docs/nginx-ipcore.conf), a
framed app covered, a hostile run name drawn as text in Compare's legend, and the owner's Delete button kept
across a reload. The browser checks skip only where /usr/bin/chromium (or playwright) is absent.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from bench.local_server import CHROMIUM, CHROMIUM_ARGS, local_server  # noqa: E402
from ipcore.config import NeuronConfig  # noqa: E402
from ipcore.results.records import owner_digest, save_run  # noqa: E402
from ipcore.training.neuron import simulate  # noqa: E402

HOSTILE = '<a href="https:evil.example">CLICKME <b>BOLD<br><span style="font-size:60px">BIG'
CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
PROXY = (ROOT / "docs" / "nginx-ipcore.conf").read_text()


# --- the shipped settings and the proxy's rules -------------------------------------------------------------


def test_the_shipped_streamlit_settings_close_what_streamlit_can() -> None:
    server, client = CONFIG["server"], CONFIG["client"]
    assert server["address"] == "127.0.0.1" and server["enableXsrfProtection"] and server["enableCORS"]
    assert set(server["allowedHosts"]) >= {"localhost", "127.0.0.1"} and "*" not in server["allowedHosts"]
    assert server["enableAgentApi"] is False
    assert client["allowedOrigins"] == []  # Streamlit's default trusts https://*.streamlit.app
    assert client["showErrorDetails"] == "none" and client["toolbarMode"] == "viewer"
    assert CONFIG["browser"]["gatherUsageStats"] is False


def test_the_proxy_config_adds_what_streamlit_cannot() -> None:
    assert "add_header Content-Security-Policy \"frame-ancestors 'none'\" always;" in PROXY
    assert 'add_header X-Frame-Options "DENY" always;' in PROXY
    metrics = PROXY[PROXY.index("location = /_stcore/metrics") :]
    assert metrics[: metrics.index("}")].split("{")[1].strip() == "return 404;"
    host_config = PROXY[PROXY.index("location = /_stcore/host-config") :]
    body = host_config[host_config.index("return 200 '") + len("return 200 '") :]
    assert json.loads(body[: body.index("'")])["allowedOrigins"] == []
    assert "proxy_set_header Upgrade $http_upgrade;" in PROXY  # the app's WebSocket passes
    assert "(nginx-ipcore.conf)" in (ROOT / "docs" / "serving.md").read_text()  # the docs point to it


# --- a real server ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    runs = tmp_path_factory.mktemp("runs")
    log = tmp_path_factory.mktemp("log") / "streamlit.log"
    env = {"IPCORE_RUNS_DIR": str(runs), "IPCORE_GALLERY_DIR": str(runs), "IPCORE_DATA": str(runs)}
    with local_server(log, env) as url:
        yield url, runs


def websocket_status(url: str, host: str) -> str:
    """The status line the app's WebSocket route answers to an upgrade request naming ``host``."""
    port = int(url.rsplit(":", 1)[1])
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(request.encode())
        return connection.recv(200).split(b"\r\n")[0].decode()


@pytest.mark.slow  # starts the app
def test_the_server_trusts_no_parent_origin_and_no_foreign_host(server) -> None:
    url, _ = server
    with urllib.request.urlopen(f"{url}/_stcore/host-config", timeout=20) as response:
        assert json.loads(response.read())["allowedOrigins"] == []
    port = url.rsplit(":", 1)[1]
    assert " 101 " in websocket_status(url, f"127.0.0.1:{port}") + " "
    assert " 101 " in websocket_status(url, f"localhost:{port}") + " "
    assert " 403 " in websocket_status(url, "evil.example") + " "  # DNS rebinding to this machine is refused


# --- in a browser -------------------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent")


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def neuron_run():
    return simulate(NeuronConfig(dist="gaussian", mu=3.0, sigma=1.0, n=400, iters=60, record_every=10, rules=["ip"]))


def wait_for(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.25)


@pytest.mark.browser
@needs_chromium
def test_compare_draws_a_hostile_name_as_text(server, browser, neuron_run) -> None:
    url, runs = server
    hostile = save_run(runs, neuron_run, name=HOSTILE)
    plain = save_run(runs, neuron_run, name="plain run")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{url}/gallery?view=compare&cmp={hostile},{plain}")
        legend = page.locator(".js-plotly-plot .legend").first
        legend.wait_for()
        wait_for(lambda: "CLICKME" in (legend.text_content() or ""))
        assert HOSTILE in legend.text_content()  # the characters as typed …
        assert page.locator(".js-plotly-plot .legend a").count() == 0  # … no live link
        big = '.js-plotly-plot .legend [style*="font-size:60px"], .js-plotly-plot .legend [style*="font-size: 60px"]'
        assert page.locator(big).count() == 0  # … no 60 px text
    finally:
        page.close()


@pytest.mark.browser
@needs_chromium
def test_a_framed_app_is_covered_and_a_top_level_one_is_not(server, browser) -> None:
    url, _ = server
    page = browser.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(url)
        page.get_by_text("Intrinsic plasticity lab").first.wait_for()
        page.wait_for_timeout(1500)
        assert page.locator("#ipcore-framed").count() == 0
        page.set_content(f'<iframe src="{url}" width="1000" height="700"></iframe>')  # another page frames it
        frame = page.frame_locator("iframe")
        frame.locator("#ipcore-framed").wait_for()
        assert "may not be shown inside another site" in frame.locator("#ipcore-framed").text_content()
    finally:
        page.close()


@pytest.mark.browser
@needs_chromium
def test_the_owner_keeps_delete_across_a_reload_and_another_browser_does_not_get_it(
    server, browser, neuron_run
) -> None:
    url, runs = server
    mine = browser.new_context()
    page = mine.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(url)
        page.get_by_text("Intrinsic plasticity lab").first.wait_for()
        wait_for(lambda: any(c["name"] == "ipcore_owner" for c in mine.cookies()))
        (cookie,) = [c for c in mine.cookies() if c["name"] == "ipcore_owner"]
        assert len(cookie["value"]) == 32 and cookie["sameSite"] == "Strict"
        run_id = save_run(runs, neuron_run, name="mine", extra={"owner": owner_digest(cookie["value"])})
        delete = page.get_by_role("button", name="Delete this run")
        page.goto(f"{url}/gallery?view=runs&run={run_id}")
        delete.wait_for()
        page.reload()  # a new session: the key comes back from the cookie
        delete.wait_for()
        other = browser.new_page()  # another visitor (a fresh browser context, no cookie)
        try:
            other.goto(f"{url}/gallery?view=runs&run={run_id}")
            other.get_by_role("button", name="Load this setup into the lab").wait_for(timeout=90_000)
            assert other.get_by_role("button", name="Delete this run").count() == 0
        finally:
            other.close()
    finally:
        mine.close()


def test_no_key_or_digest_is_shown(tmp_path: Path, neuron_run) -> None:
    """The record's owner digest is metadata: the viewer's config and summary and the run download omit it."""
    from app.text import public_record

    run_id = save_run(tmp_path, neuron_run, extra={"owner": owner_digest("c" * 32)})
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    assert owner_digest("c" * 32) not in json.dumps(public_record(summary["summary"]))
