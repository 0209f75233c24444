"""torch's intra-op thread count while runs are in progress.

torch's count is one process-wide setting, so concurrent runs (the app's jobs are threads) must share it: the
first run to enter sets it, and the count from before is restored when the last one leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_users = 0
_before = 0


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads (0 leaves the count alone); see the module docstring for concurrency."""
    global _users, _before
    if count <= 0:
        yield
        return
    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(count)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)


class ThreadShare:
    """Drops a run's torch threads when they no longer get their cores.

    OpenMP threads wait for the next parallel operation by spinning for a while (libgomp's default). On idle
    cores that makes a multi-threaded step fast — the thesis's deep MNIST step took 11–15 ms with two threads on
    the 2-core machine this was built on, against 20–23 ms with one (and 23 ms with two threads that sleep
    between operations, ``OMP_WAIT_POLICY=PASSIVE``). But when another process takes one of those cores, every
    parallel operation waits for a thread that is not running: 60–280 ms per step. So a run that started on idle
    cores watches its own share of the CPU: ``check()`` (every second or so) compares the CPU time the process
    used with the wall time passed, and when the threads got less than ``threads − 0.5`` cores it goes down to
    the cores it did get (at least 1). It never goes back up within a run. ``clock`` (CPU seconds of the
    process) and ``wall_clock`` are parameters for the tests.
    """

    min_window = 0.5

    def __init__(
        self,
        enabled: bool,
        clock: Callable[[], float] = time.process_time,
        wall_clock: Callable[[], float] = time.perf_counter,
    ):
        self.started_with = torch.get_num_threads()
        self.enabled = enabled and self.started_with > 1
        self.clock, self.wall_clock = clock, wall_clock
        self.dropped_to: int | None = None
        self._wall, self._cpu = wall_clock(), clock()

    def check(self) -> None:
        """Compare the CPU time used since the last check with the wall time passed (see the class)."""
        if not self.enabled:
            return
        wall, cpu = self.wall_clock(), self.clock()
        if wall - self._wall < self.min_window:
            return
        cores = (cpu - self._cpu) / (wall - self._wall)
        self._wall, self._cpu = wall, cpu
        threads = torch.get_num_threads()
        if cores < threads - 0.5:
            count = max(1, min(threads - 1, int(cores + 0.5)))
            torch.set_num_threads(count)
            self.dropped_to = count
            self.enabled = count > 1
