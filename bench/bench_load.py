"""Many people watching at once: a bounded load test of the served app (headless chromium against 127.0.0.1).

One server (``streamlit run app/main.py`` on a free loopback port, its own runs folder). First the same small
network job is trained ``--alone`` times with nobody watching (a tab clicks Train and closes), giving the
job's unwatched running time. Then ``--watchers`` browser sessions (one chromium, one context each) open the
network lab on that setup and each clicks Train; they stay on the page and watch their job (queued, then
live) until it ends. Meanwhile a thread times ``/_stcore/health`` twice a second, and — once every watcher is
watching — a further visitor opens the network lab in a fresh context and the time to its heading and its
Train button is taken, with a timeline of that visit (``time_visitor``: the app's scripts loaded, the connection
open, the server's answer received, the heading drawn), and the same visit once before anyone watches, as the
baseline. Reported: health latency (median, max), the visitor's load time, and each watched
job's running time over the unwatched median (jobs queue — the server runs ``IPCORE_MAX_JOBS`` at once — so
the queueing time is not counted, only the time each job ran).

The browsers run on the server's own machine, where real viewers' browsers would not: with ``--nice-browsers``
(the default) every thread of the watchers' chromium — only the browsers this benchmark started, never another
chromium on a shared machine (``lowest_priority``) — and its scheduler autogroup, runs at the lowest CPU
priority (nice 19; ``lower_autogroup`` says why the group matters) and on the last CPU only, so the browsers
use only what the server leaves idle there and never sit beside a job; the figures describe the server.
``--no-nice-browsers`` shows the same cores shared by server and browsers. The further
visitor gets a browser of its own at normal priority on that CPU (it stands for someone arriving from another
machine, whose browser has a CPU of its own: here it shares the server's evenly, ahead of the watchers'
renderers, and never takes the CPU of the server's jobs); playwright's driver, which relays every page's traffic
and launches that browser, runs the same way.

Every loop here is bounded in count and time; only 127.0.0.1 is contacted.

    python bench/bench_load.py --watchers 8          # about 2-4 minutes on 2 CPU cores
    python bench/bench_load.py --watchers 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.local_server import CHROMIUM, CHROMIUM_ARGS, health_seconds, local_server  # noqa: E402
from ipcore.results.records import list_runs  # noqa: E402

JOB = {"dataset": "clusters", "rules": "ip,none", "depth": "7", "width": "50", "epochs": "16", "seeds": "2",
       "device": "cpu"}  # fmt: skip
MAX_SECONDS = 900  # the whole benchmark stops by itself after this long


def wait_for_records(runs_dir: Path, count: int, deadline: float) -> list[dict]:
    while time.monotonic() < deadline:
        records = list_runs(runs_dir)
        if len(records) >= count:
            return records
        time.sleep(0.5)
    raise TimeoutError(f"only {len(list_runs(runs_dir))} of {count} jobs ended in time")


def click_train(page, url: str, query: dict[str, str]) -> None:
    page.set_default_timeout(240_000)
    page.goto(f"{url}/network_lab?{urlencode(query)}")
    button = page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Train", exact=True)
    button.wait_for(timeout=120_000)
    button.click()
    page.locator('[data-testid="stProgress"], [data-testid="stAlertContentSuccess"]').first.wait_for(timeout=120_000)


BROWSER_CPUS = {max(os.sched_getaffinity(0))} if len(os.sched_getaffinity(0)) > 1 else set()
"""Where the niced browsers may run (see ``lowest_priority``): the last CPU, when there are several."""


def lower_autogroup(process: Path, nice: int) -> None:
    """Give the scheduler's autogroup of ``process`` (a ``/proc/<pid>`` folder) the nice value ``nice``.

    With autogroups on (``/proc/sys/kernel/sched_autogroup_enabled``, the default of most distributions'
    kernels), the CPU is first shared fairly between autogroups — one per session, and playwright starts every
    browser in a session of its own — and a thread's nice value counts only against threads of its own group.
    So the watchers' browser at nice 19 still got half of the last CPU whenever the visitor's browser wanted it
    (measured: the visitor's heading after 3.7–4.0 s, whatever the watchers' nice value or ``SCHED_IDLE``); the
    group's own nice value is what ranks it against the visitor's browser and the server."""
    try:
        group = (process / "autogroup").read_text().split()
        if len(group) >= 3 and group[1] == "nice" and int(group[2]) < nice:
            (process / "autogroup").write_text(str(nice))
    except (OSError, ValueError):  # autogroups off, or the process has ended
        pass


def started_by(pid: int, root: int | None = None) -> bool:
    """Whether process ``pid`` descends from ``root`` (default: this process), following parents in ``/proc``."""
    root = os.getpid() if root is None else root
    while pid > 1:
        try:
            pid = int((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == root:
            return True
    return False


def lowest_priority(process_name: str = "chromium", nice: int | None = 19, cpus: set[int] | None = None) -> int:
    """Renice every thread of every running ``process_name`` process that this benchmark started (a descendant of
    this process: its playwright driver and the browsers that launched) and that runs at a higher priority than
    ``nice`` to ``nice``; returns how many threads. On a shared machine other people's browsers — processes of
    the same name not started here — are left alone. Every thread: on Linux a nice value belongs to one thread, so
    renicing a process id reaches only its main thread, and a browser's compositor, I/O and GPU-process threads,
    started before, would go on at nice 0 beside the server's jobs. Threads and processes started later by a
    reniced thread inherit its value.

    The threads are also kept to ``cpus`` (default ``BROWSER_CPUS``: the last CPU, when there are several):
    browsers of real viewers run on other machines, and a nice value alone still lets the scheduler put a
    browser thread beside a job for a time slice now and then (with nice values only, the job that ran while the
    9th visitor's page was drawn was 1.6–1.7× its unwatched time in three runs, the others at most 1.4×)."""
    cpus = BROWSER_CPUS if cpus is None else cpus
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if process_name not in (entry / "comm").read_text() or not started_by(int(entry.name)):
                    continue
                if nice is not None:
                    lower_autogroup(entry, nice)
                for task in (entry / "task").iterdir():
                    tid = int(task.name)
                    if nice is not None and os.getpriority(os.PRIO_PROCESS, tid) < nice:
                        os.setpriority(os.PRIO_PROCESS, tid, nice)
                        count += 1
                    if cpus and os.sched_getaffinity(tid) != cpus:
                        os.sched_setaffinity(tid, cpus)
            except (OSError, ValueError):
                continue
    return count


def browser_driver_pid() -> int:
    """The process id of playwright's driver (a child of this process named node)."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[1] == me and "node" in (entry / "comm").read_text():
                    return int(entry.name)
            except (OSError, IndexError):
                continue
    raise RuntimeError("playwright's driver process was not found")


HEADING_CLOCK = """
  window.__headingAt = null;
  const look = () => {
    for (const h of document.querySelectorAll('h1')) if (h.textContent.includes('Network lab')) {
      window.__headingAt = performance.now(); return; }
    setTimeout(look, 20);
  };
  look();
"""
"""Notes, on the page's own clock, when the heading is in the document (playwright's driver, which relays every
page's traffic, sees it later when it is busy)."""


RESOURCE_CLOCK = """() => {
  const loaded = performance.getEntriesByType('navigation')[0].loadEventEnd;
  const files = performance.getEntriesByType('resource').filter(r => r.startTime <= loaded);
  return {loaded, heading: window.__headingAt,
          files: files.length,
          files_received: Math.max(0, ...files.map(r => r.responseEnd)),
          server_wait_max: Math.max(0, ...files.map(r => r.responseStart - r.requestStart))};
}"""
"""On the page's clock: its load event, the heading, and the files it fetched before loading (when the last one
had arrived, and the longest a file's first byte took after its request: the server's part of loading)."""


def time_visitor(p, url: str, nice_browsers: bool) -> dict[str, float | None]:
    """A visitor in a fresh browser of its own opens the network lab; seconds from the request, rounded:

    ``files``, ``files_received``, ``server_wait_max`` — the files fetched before the load event, when the last
    had arrived, the longest wait for a file's first byte (``RESOURCE_CLOCK``); ``scripts_loaded`` — the app's
    JavaScript fetched and run (the page's load event); ``socket_opened`` — its
    connection to the server open; ``page_data`` — the last message of the server's first answer (the page's
    script run) received before the heading showed; ``heading_in_page`` — the heading in the document, on the
    page's clock; ``heading``/``ready`` — the heading and the sidebar's Train button as playwright sees them.
    The browser runs at normal priority on the watchers' CPU (``lowest_priority``): a real visitor's browser has
    a CPU of its own, here it shares the server's evenly, ahead of the watchers' renderers."""
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    if nice_browsers:
        lowest_priority(nice=None)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(HEADING_CLOCK)
    started = time.monotonic()
    socket_opened: list[float] = []
    frames: list[float] = []
    page.on(
        "websocket",
        lambda socket: (
            socket_opened.append(time.monotonic() - started),
            socket.on("framereceived", lambda _: frames.append(time.monotonic() - started)),
        ),
    )
    page.goto(f"{url}/network_lab")
    page.get_by_role("heading", name="Network lab").first.wait_for(timeout=240_000)
    heading_s = time.monotonic() - started
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Train", exact=True).wait_for(timeout=240_000)
    ready_s = time.monotonic() - started
    in_page = page.evaluate(RESOURCE_CLOCK)
    heading_in_page = None if in_page["heading"] is None else in_page["heading"] / 1000
    before_heading = [t for t in frames if t <= (heading_in_page or heading_s)]
    context.close()
    browser.close()

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "files": in_page["files"],
        "files_received": rounded(in_page["files_received"] / 1000),
        "server_wait_max": round(in_page["server_wait_max"] / 1000, 3),
        "scripts_loaded": rounded(in_page["loaded"] / 1000),
        "socket_opened": rounded(socket_opened[0] if socket_opened else None),
        "page_data": rounded(before_heading[-1] if before_heading else None),
        "heading_in_page": rounded(heading_in_page),
        "heading": rounded(heading_s),
        "ready": rounded(ready_s),
    }


def run(watchers: int, alone: int, nice_browsers: bool = True) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + MAX_SECONDS
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir = Path(scratch) / "runs"
        runs_dir.mkdir()
        with local_server(Path(scratch) / "streamlit.log", {"IPCORE_RUNS_DIR": str(runs_dir)}) as url:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                if nice_browsers:
                    lowest_priority()
                    # playwright's driver relays every page's traffic (a real server has none of it beside it)
                    # and will launch the visitor's browser, which inherits its priority and CPU
                    lowest_priority(Path(f"/proc/{browser_driver_pid()}/comm").read_text().strip(), nice=None)
                # 1. The job with nobody watching: a tab starts it and leaves.
                for index in range(alone):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    click_train(context.new_page(), url, {**JOB, "seed": str(100 + index)})
                    context.close()
                    wait_for_records(runs_dir, index + 1, deadline)
                unwatched = [float(r["seconds"]) for r in list_runs(runs_dir)]
                idle = time_visitor(p, url, nice_browsers)  # the same visit with nobody watching: the baseline
                # 2. Watchers: each starts the same job and stays on the page.
                probes: list[float] = []
                failed_probes = 0
                stop = threading.Event()

                def probe() -> None:
                    nonlocal failed_probes
                    while not stop.is_set() and time.monotonic() < deadline:
                        took = health_seconds(url, timeout=10)
                        if took is None:
                            failed_probes += 1
                        else:
                            probes.append(took)
                        stop.wait(0.5)

                prober = threading.Thread(target=probe, daemon=True)
                prober.start()
                contexts = []
                for index in range(watchers):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    click_train(context.new_page(), url, {**JOB, "seed": str(index)})
                    contexts.append(context)
                    if nice_browsers:  # processes the browser started for this page, from a thread not yet reniced
                        lowest_priority()
                # 3. A further visitor while everyone watches (see ``time_visitor``).
                loaded = time_visitor(p, url, nice_browsers)
                records = wait_for_records(runs_dir, alone + watchers, deadline)
                stop.set()
                prober.join(timeout=15)
                for context in contexts:
                    context.close()
                browser.close()
        in_order = sorted(records[: len(records) - alone], key=lambda r: r.get("timestamp", 0))
        watched_in_order = [round(float(r["seconds"]), 2) for r in in_order]
        watched = sorted(watched_in_order)
    base = statistics.median(unwatched)
    return {
        "watchers": watchers,
        "browsers_niced": nice_browsers,
        "job": JOB,
        "unwatched_s": [round(s, 2) for s in unwatched],
        "watched_s": [round(s, 2) for s in watched],
        "watched_s_in_start_order": watched_in_order,
        "watched_over_unwatched_max": round(max(watched) / base, 2),
        "watched_over_unwatched_median": round(statistics.median(watched) / base, 2),
        "health_median_s": round(statistics.median(probes), 3) if probes else None,
        "health_max_s": round(max(probes), 3) if probes else None,
        "health_unanswered": failed_probes,
        "visitor_heading_s": loaded["heading"],
        "visitor_ready_s": loaded["ready"],
        "visitor_timeline_s": loaded,
        "idle_visitor_timeline_s": idle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=8, help="browser sessions that each watch a job (1-32)")
    parser.add_argument("--alone", type=int, default=3, help="unwatched runs of the job for the baseline (1-10)")
    parser.add_argument("--nice-browsers", action=argparse.BooleanOptionalAction, default=True,
                        help="run chromium at the lowest CPU priority (default), as remote viewers' browsers would not "
                        "compete with the server at all")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.watchers <= 32 or not 1 <= args.alone <= 10:
        parser.error("--watchers must be 1-32 and --alone 1-10")
    print(json.dumps(run(args.watchers, args.alone, args.nice_browsers), indent=1))


if __name__ == "__main__":
    main()
