"""How fast is the app? First paint of every page, and what a live view costs while a network trains.

1. Script time per page (``streamlit.testing.v1.AppTest``, no browser): the first run in a fresh process
   (cold: imports, the record listing, the gallery's assessments) and a second run (warm caches).
2. With ``--browser`` (needs /usr/bin/chromium and playwright): ``streamlit run app/main.py`` on a free port,
   then each page opened in a fresh headless-chromium tab, twice: time until the page's heading shows (first
   paint) and until the script run has finished and every chart is drawn. The very first request after the
   server starts is reported separately (cold server).
3. Live refresh: the network lab while a synthetic job trains (depth 7, width 50, 3 rules × 3 seeds): the time
   of one full rerun with the live fragment (an upper bound of one fragment refresh), polled at 1 Hz as the
   browser's timer would; and the job's wall time with that 1 Hz reader divided by its time with no reader
   (interleaved repeats; 1.00 = watching costs the training nothing).

    python bench/bench_app.py                         # 1 and 3, ~2 minutes on 2 CPU cores
    python bench/bench_app.py --browser --runs-dir cached_runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MAIN = str(ROOT / "app" / "main.py")

from bench.local_server import CHROMIUM, CHROMIUM_ARGS, local_server  # noqa: E402

PAGES = {"home": "Intrinsic plasticity lab", "network_lab": "Network lab", "neuron_lab": "Neuron lab",
         "gallery": "Gallery", "lr_sweep": "Learning-rate sweep"}  # fmt: skip
LIVE_JOB = {"dataset": "clusters", "rules": "ip,none,wd", "depth": "7", "width": "50", "epochs": "25", "seeds": "3"}


def app_at(page: str, query: dict[str, str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN, default_timeout=300)
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py")
    at.query_params.update(query or {})
    return at


def script_times() -> dict[str, dict[str, float]]:
    out = {}
    for page in PAGES:
        times = []
        for _ in range(2):
            at = app_at(page)
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
            assert not at.exception, [e.value for e in at.exception]
        out[page] = {"first_s": round(times[0], 3), "warm_s": round(times[1], 3)}
    return out


def live_refresh(repeats: int) -> dict[str, float]:
    """Full reruns of the network lab while its job trains, and the job's slowdown from being watched."""
    from ipcore.config import TrainConfig
    from ipcore.jobs.manager import JobManager

    reruns, watched, alone = [], [], []
    config = TrainConfig.from_flat(LIVE_JOB)
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:  # unwatched: the same job through a bare JobManager
            manager = JobManager(runs_dir=folder)
            job = manager.submit(config)
            alone.append(manager.wait(job)["elapsed_s"])
            manager.shutdown()
        at = app_at("network_lab", LIVE_JOB)
        at.run()
        next(b for b in at.button if b.label == "Train").click().run()
        while True:
            started = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - started)
            done = [s.value for s in at.success if "Finished in" in s.value]
            if done or at.error:
                break
            time.sleep(max(0.0, 1.0 - reruns[-1]))
        from app.jobs import manager_for

        watched.append(manager_for(os.environ["IPCORE_RUNS_DIR"]).status(at.session_state["net.job"])["elapsed_s"])
    return {
        "rerun_median_s": round(statistics.median(reruns), 3),
        "rerun_p90_s": round(sorted(reruns)[int(0.9 * (len(reruns) - 1))], 3),
        "reruns": len(reruns),
        "job_alone_s": round(statistics.median(alone), 2),
        "job_watched_s": round(statistics.median(watched), 2),
        "watched_over_alone": round(statistics.median(watched) / statistics.median(alone), 3),
    }


def browser_paint(runs_dir: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        with local_server(Path(scratch) / "streamlit.log", {"IPCORE_RUNS_DIR": runs_dir}) as url:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

                def visit(page_name: str) -> tuple[float, float]:
                    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                    path = "" if page_name == "home" else page_name
                    started = time.monotonic()
                    tab.goto(f"{url}/{path}", timeout=120_000)
                    tab.get_by_role("heading", name=PAGES[page_name]).first.wait_for(timeout=120_000)
                    heading = time.monotonic() - started
                    tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                          timeout=120_000)  # fmt: skip
                    charts = tab.locator('[data-testid="stPlotlyChart"]').count()
                    if charts:
                        tab.wait_for_function(
                            f"() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= {charts}",
                            timeout=120_000,
                        )
                    complete = time.monotonic() - started
                    tab.close()
                    return round(heading, 2), round(complete, 2)

                out["cold_server_home"] = visit("home")
                pages = {}
                for name in PAGES:
                    first, second = visit(name), visit(name)
                    pages[name] = {
                        "first_paint_s": max(first[0], second[0]),
                        "charts_drawn_s": max(first[1], second[1]),
                    }
                out["pages"] = pages
                browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default=None, help="records the pages read (default: a fresh empty folder)")
    parser.add_argument("--browser", action="store_true", help="also time first paint in headless chromium")
    parser.add_argument("--repeats", type=int, default=2, help="live-refresh repeats (interleaved)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = args.runs_dir or str(Path(scratch) / "runs")
        os.environ["IPCORE_RUNS_DIR"] = runs_dir
        result: dict[str, object] = {"runs_dir": runs_dir, "script": script_times()}
        if args.browser:
            result["browser"] = browser_paint(runs_dir)
        os.environ["IPCORE_RUNS_DIR"] = str(Path(scratch) / "live")
        result["live"] = live_refresh(args.repeats)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
