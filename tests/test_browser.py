"""The app in a real browser: ``streamlit run app/main.py`` on a free localhost port, every page opened in
headless Debian chromium (driven by playwright), a small single-neuron comparison run by clicking, and
screenshots saved under ``test-output/``. Skips only where /usr/bin/chromium (or playwright) is absent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {  # url path → text the page must show
    "": "Intrinsic plasticity lab",
    "network_lab": "Network lab",
    "neuron_lab": "Neuron lab",
    "gallery": "Gallery",
    "lr_sweep": "Learning-rate sweep",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A streamlit server on a free port with its own empty runs folder; always stopped afterwards."""
    runs = tmp_path_factory.mktemp("runs")
    log = tmp_path_factory.mktemp("log") / "streamlit.log"
    port = free_port()
    # No dataset folder: the app must behave as it does offline on a fresh machine (synthetic sets, and
    # Fashion-MNIST only where Debian's package is installed).
    no_data = tmp_path_factory.mktemp("no-data")
    env = {**os.environ, "IPCORE_RUNS_DIR": str(runs), "IPCORE_DATA": str(no_data), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "streamlit", "run", "app/main.py",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url, runs
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def settled(page, timeout: float = 60) -> None:
    """Wait until the script run has finished and every element has been drawn (no loading placeholders)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        busy = (
            page.locator('[data-testid="stStatusWidget"]').count() + page.locator('[data-testid="stSkeleton"]').count()
        )
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{page.url} did not settle within {timeout} s")


def open_page(browser, url: str, text: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("heading", name=text).first.wait_for()
    settled(page)
    return page


def snap(page, name: str) -> None:
    """A screenshot of the whole page: the viewport grows to the app's content height (the app scrolls inside)."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], section, div')]"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 40, 8000))})
    settled(page)
    page.screenshot(path=str(OUTPUT / name), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def assert_no_exception(page, where: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{where} shows an exception: {exceptions.first.inner_text()[:2000]}"


def test_every_page_renders(server, browser) -> None:
    url, _ = server
    OUTPUT.mkdir(exist_ok=True)
    for path, heading in PAGES.items():
        page = open_page(browser, f"{url}/{path}", heading)
        assert_no_exception(page, path or "home")
        snap(page, f"page-{path or 'home'}.png")
        if path == "":
            assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1, "home page: the IP picture is missing"
        page.close()


def test_neuron_comparison_by_clicking(server, browser) -> None:
    url, runs = server
    OUTPUT.mkdir(exist_ok=True)
    # A small setup from the address (also checks that a copied address restores the setup) …
    page = open_page(
        browser, f"{url}/neuron_lab?dist=gaussian&mu=4&sigma=1.5&n=2000&iters=1000&rules=ip,wd", "Neuron lab"
    )
    assert_no_exception(page, "neuron lab")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("2,000").count() >= 1, "the sample size from the address is not shown"
    # … then run it by clicking and wait for the charts.
    sidebar.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Finished in").first.wait_for(timeout=120_000)
    settled(page)
    page.locator('[data-testid="stPlotlyChart"]').nth(5).wait_for()
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 6  # preview + five result charts
    assert_no_exception(page, "neuron lab after the run")
    snap(page, "neuron-lab-after-run.png")
    page.close()
    saved = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(saved) == 1 and "neuron" in saved[0].name, f"the finished run was not saved: {saved}"
    # The saved run shows up in the gallery as one of "my runs".
    page = open_page(browser, f"{url}/gallery?view=runs", "Gallery")
    page.get_by_text(saved[0].name).first.wait_for(state="attached")  # a grid cell (drawn on a canvas)
    snap(page, "gallery-my-runs.png")
    page.close()


def test_offline_defaults_and_a_figure_export(server, browser) -> None:
    url, runs = server
    OUTPUT.mkdir(exist_ok=True)
    page = open_page(browser, f"{url}/network_lab", "Network lab")
    assert_no_exception(page, "network lab offline")
    sidebar = page.locator('[data-testid="stSidebar"]')
    train = sidebar.get_by_role("button", name="Train", exact=True)
    dataset = sidebar.locator('[data-testid="stSelectbox"]').first
    assert "dataset=" in page.url and "dataset=mnist" not in page.url, page.url  # opened on a present dataset
    shown = dataset.locator("input").first.input_value() or dataset.inner_text()
    assert "✓" in shown, f"the dataset shown is not one that is here: {shown!r}"
    assert train.is_enabled(), "the default dataset is present, so Train must be on"
    snap(page, "network-lab-offline.png")
    dataset.click()
    page.get_by_role("option", name="mnist — not found here").click()
    page.get_by_text("is not on this machine, so").first.wait_for()
    settled(page)
    assert train.is_disabled(), "Train must be off for a dataset that is not here"
    assert "IPCORE_DATA" in page.locator('[data-testid="stAlert"]').first.inner_text()
    snap(page, "network-lab-offline-missing-mnist.png")
    page.close()
    trained = [p for p in runs.iterdir() if p.is_dir() and "-train-" in p.name]
    assert not trained, f"no network run may have started: {trained}"
    # Every chart exports as SVG (kaleido with the system chromium, offline), named after what it shows.
    page = open_page(browser, f"{url}/", "Intrinsic plasticity lab")
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="SVG").first.click()
    assert download.value.suggested_filename == "ip-illustration.svg"
    target = OUTPUT / "export-ip-illustration.svg"
    download.value.save_as(target)
    assert target.read_bytes().lstrip().startswith(b"<svg")
    page.close()
