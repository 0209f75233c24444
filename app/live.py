"""How often live views refresh: a server-wide budget shared by everyone watching a job.

Every browser session that watches a running job redraws its charts from time to time. On a small machine many
watchers at a fixed 1 Hz starve the training and the server itself (measured before this module: 8 sessions
kept a core at 100 %, the health check took 7–14 s and a 9th visitor could not load the page). So the cost of
watching is bounded as a whole: the chart refreshes of all watchers together may use about ``CPU_SHARE`` of one
core. Each refresh's cost is measured; with ``n`` sessions watching a running job, each refreshes its charts
every ``n × cost / CPU_SHARE`` seconds (at least ``MIN_CHART_S``, at most ``MAX_CHART_S``), stretched further
when the machine's load exceeds its cores. The progress bar refreshes on its own, cheaply, every second; queued
jobs, whose charts cannot change, every few seconds.

Pure Python (no streamlit): ``app.views`` keeps one ``LiveBudget`` per server process.
"""

from __future__ import annotations

import math
import os
import threading
import time

CPU_SHARE = 0.25
"""Share of one core that all chart refreshes together may use."""
MIN_CHART_S, MAX_CHART_S = 1.0, 30.0
PROGRESS_S = 1.0
QUEUED_S = 5.0
STARTING_S = 0.25
"""How often a view looks again while its job is about to start (queued with a free slot) or has recorded nothing
yet: the first points are drawn within a fraction of a second of the first flush, then the budget decides."""
WATCH_WINDOW_S = 30.0
"""A session counts as watching while it has refreshed within this many seconds."""
RETUNE_RATIO = 1.5
"""A session re-registers its chart timer once the interval it should use differs by this factor."""


class LiveBudget:
    """Who is watching, what a chart refresh costs, and hence how often each watcher may refresh. Thread-safe."""

    def __init__(self, cpu_share: float = CPU_SHARE, clock=time.monotonic):
        self.cpu_share = cpu_share
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._cost = 0.1  # seconds per chart refresh until measured (a 7-layer network run's charts)

    def watching(self, session: str) -> None:
        """``session`` is watching a running job now."""
        with self._lock:
            now = self._clock()
            self._seen[session] = now
            for other in [s for s, t in self._seen.items() if now - t > WATCH_WINDOW_S]:
                del self._seen[other]

    def left(self, session: str) -> None:
        """``session`` no longer watches (its job ended, or it moved on)."""
        with self._lock:
            self._seen.pop(session, None)

    def measured(self, seconds: float) -> None:
        """One chart refresh took ``seconds`` (an exponential average keeps the estimate current)."""
        if math.isfinite(seconds) and seconds >= 0:
            with self._lock:
                self._cost = 0.8 * self._cost + 0.2 * seconds

    def watchers(self) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._seen.values() if now - t <= WATCH_WINDOW_S)

    def chart_interval(self) -> float:
        """Seconds between one watcher's chart refreshes."""
        with self._lock:
            cost = self._cost
        interval = max(MIN_CHART_S, max(1, self.watchers()) * cost / self.cpu_share)
        return float(min(MAX_CHART_S, interval * load_factor()))


def load_factor() -> float:
    """How much busier than its cores the machine is (1 when it is not): the 1-minute load average / cores."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return 1.0
    return max(1.0, load / max(1, os.cpu_count() or 1))


def needs_retune(current: float | None, wanted: float) -> bool:
    """Whether a chart timer registered at ``current`` seconds should be re-registered at ``wanted``."""
    if current is None:
        return True
    ratio = max(current, wanted) / max(min(current, wanted), 1e-9)
    return ratio >= RETUNE_RATIO
