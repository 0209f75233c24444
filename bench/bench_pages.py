"""How fast does each page appear? A cold server per page, timed in headless chromium.

For every page: a fresh ``streamlit run app/main.py`` on a free loopback port (``bench.local_server``; nothing
imported or cached yet, as after a deploy), one fresh browser tab on the page, and on the page's own clock:

- ``paint_s`` — first meaningful paint: the page's heading (its ``h1``) is in the document;
- ``settled_s`` — the page has settled: no script run in progress (Streamlit's status widget gone) and no
  loading skeleton left, held for 0.5 s (the time reported is when that quiet began).

Then, in the same tab, a chapter switch: the sidebar's link to the next page is clicked and the same two times
are taken from the click (``switch_paint_s``, ``switch_settled_s``; that page's modules are already imported
when an earlier page imported them). ``--shots DIR`` saves a full-page screenshot of every settled page.

The records shown are the repository's ``cached_runs/`` (the gallery), the runs folder an empty temporary one.
The browser runs on the same machine as the server: on a busy machine both compete for the CPU, so the load
average before and after is printed with the figures. Only 127.0.0.1 is contacted; every wait is bounded.

    python bench/bench_pages.py                      # about 1-2 minutes on 2 CPU cores
    python bench/bench_pages.py --rounds 3 --shots /tmp/shots
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_server import CHROMIUM, CHROMIUM_ARGS, local_server  # noqa: E402

PAGES = {  # url path → (heading, the sidebar link's text for the chapter switch to it)
    "": ("Intrinsic plasticity lab", "Home"),
    "network_lab": ("Network lab", "Network lab"),
    "neuron_lab": ("Neuron lab", "Neuron lab"),
    "gallery": ("Gallery", "Gallery"),
    "lr_sweep": ("Learning-rate sweep", "Learning-rate sweep"),
}
QUIET_S = 0.5  # settled: no script run and no skeleton for this long
TIMEOUT_S = 90

PAGE_CLOCK = """
  window.__ipcore = {heading: null, quietSince: null, settled: null, wanted: null};
  const tick = () => {
    const s = window.__ipcore, now = performance.now();
    if (s.wanted && s.heading === null) {
      for (const h of document.querySelectorAll('h1')) if (h.textContent.includes(s.wanted)) { s.heading = now; break; }
    }
    const busy = document.querySelector('[data-testid="stStatusWidget"] , [data-testid="stSkeleton"]');
    if (busy || s.heading === null) { s.quietSince = null; }
    else if (s.quietSince === null) { s.quietSince = now; }
    else if (s.settled === null && now - s.quietSince >= QUIET_MS) { s.settled = s.quietSince; }
    setTimeout(tick, 20);
  };
  tick();
""".replace("QUIET_MS", str(int(QUIET_S * 1000)))
"""Runs in the page from its first byte: notes, on the page's own clock (ms), when the wanted heading appeared
and when the page became quiet for good."""


def wait_for(page, expression: str, timeout: float = TIMEOUT_S):
    page.wait_for_function(expression, timeout=timeout * 1000, polling=50)
    return page.evaluate(expression)


def measure(browser, url: str, path: str, shots: Path | None, label: str) -> dict[str, float]:
    """One cold visit of ``path`` and a switch to the next page; seconds on the page's clock."""
    heading, _ = PAGES[path]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(PAGE_CLOCK.replace("wanted: null", f"wanted: {json.dumps(heading)}"))
    page.goto(f"{url}/{path}", timeout=TIMEOUT_S * 1000)
    paint = wait_for(page, "window.__ipcore.heading")
    settled = wait_for(page, "window.__ipcore.settled")
    if shots is not None:
        page.screenshot(path=str(shots / f"{label}{path or 'home'}.png"), full_page=True)
    # The chapter switch: the sidebar's link to the next page, timed from the click.
    paths = list(PAGES)
    target = paths[(paths.index(path) + 1) % len(paths)]
    target_heading, link = PAGES[target]
    page.evaluate(
        "([wanted]) => { const s = window.__ipcore; s.wanted = wanted; s.heading = null; s.settled = null;"
        " s.quietSince = null; s.clicked = performance.now(); }",
        [target_heading],
    )
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link, exact=True).click()
    switch_paint = wait_for(page, "window.__ipcore.heading") - page.evaluate("window.__ipcore.clicked")
    switch_settled = wait_for(page, "window.__ipcore.settled") - page.evaluate("window.__ipcore.clicked")
    context.close()
    return {
        "paint_s": round(paint / 1000, 2),
        "settled_s": round(settled / 1000, 2),
        "switch_to": target or "home",
        "switch_paint_s": round(switch_paint / 1000, 2),
        "switch_settled_s": round(switch_settled / 1000, 2),
    }


def run(rounds: int, shots: Path | None) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()[0]
    results: dict[str, list[dict[str, float]]] = {path or "home": [] for path in PAGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for round_index in range(rounds):
                for path in PAGES:
                    with tempfile.TemporaryDirectory() as scratch:
                        runs = Path(scratch) / "runs"
                        runs.mkdir()
                        with local_server(Path(scratch) / "streamlit.log", {"IPCORE_RUNS_DIR": str(runs)}) as url:
                            label = f"r{round_index}-" if rounds > 1 else ""
                            results[path or "home"].append(measure(browser, url, path, shots, label))
        finally:
            browser.close()
    summary = {}
    for page, visits in results.items():
        summary[page] = {
            key: round(statistics.median(v[key] for v in visits), 2)
            for key in ("paint_s", "settled_s", "switch_paint_s", "switch_settled_s")
        } | {"switch_to": visits[0]["switch_to"], "visits": visits}
    return {
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "cpus": len(os.sched_getaffinity(0)),
        "rounds": rounds,
        "pages": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="cold visits per page (1-10); medians are printed")
    parser.add_argument("--shots", type=Path, help="save a screenshot of every settled page in this folder")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be 1-10")
    if args.shots is not None:
        args.shots.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(args.rounds, args.shots), indent=1))


if __name__ == "__main__":
    main()
