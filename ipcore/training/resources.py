"""The resources a training runs on: its device, its torch threads and its admission to memory.

- **Device**: ``resolve_device`` (``auto`` is CUDA when present).
- **Threads**: torch's intra-op count is one process-wide setting, so concurrent runs (the app's jobs are threads)
  share it (``torch_threads``: the first run to enter sets it, the count from before is restored when the last
  leaves); a CPU run takes the CPUs idle when it starts (``training_threads``, from ``/proc/loadavg``) and gives
  threads back when they stop getting cores (``ThreadShare``).
- **Memory**: ``check_memory`` refuses a run whose estimate does not fit beside what the runs in progress were
  promised, and promises it its estimate until ``release_memory``. Promises made in this process are reported to
  one listener (``set_promise_listener``); promises of other processes come in through
  ``set_memory_held_elsewhere``.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from ipcore.config import ConfigError, TrainConfig

if TYPE_CHECKING:
    from ipcore.data import Dataset


# --- device and CPUs ---------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cuda``/``cuda:N`` must exist (ConfigError on ``device``)."""
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("device", f"{name!r} asked for, but CUDA is not available here; use cpu or auto")
    device = torch.device(text)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError("device", f"{name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the machine's count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


LOADAVG = "/proc/loadavg"


def busy_cpus() -> float:
    """How many CPUs other work is using now: on Linux the tasks running at this instant (``/proc/loadavg``'s
    fourth field, the most of three readings a millisecond apart) less this process's reading thread;
    elsewhere the 1-minute load average (which lags by a minute)."""
    try:
        readings = []
        for attempt in range(3):
            if attempt:
                time.sleep(0.001)
            with open(LOADAVG, encoding="ascii") as file:
                readings.append(int(file.read().split()[3].split("/")[0]))
        return max(0, max(readings) - 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average on this platform: assume the machine is busy
        return math.inf


def idle_cpus() -> int:
    """Usable CPUs that nothing else is running on now: usable − ``busy_cpus()``, rounded (a core counts as
    idle when at least half of it is free), at least 1."""
    busy = busy_cpus()
    if not math.isfinite(busy):
        return 1
    return max(1, min(usable_cpus(), round(usable_cpus() - busy)))


def training_threads(auto: bool = True) -> int:
    """torch intra-op threads for training on a CPU: ``$IPCORE_THREADS`` when set (0 = torch's default), else
    with ``auto`` the CPUs idle when the run starts (``idle_cpus``), else 1.

    Why by load: OpenMP's threads spin while they wait for each other, so a thread on a core another process holds
    slows the whole step down several times (docs/performance.md, "Threads"). The count is chosen when the run starts; a run that then loses cores to other processes
    drops threads (``ipcore.training.resources.ThreadShare``). Different counts round some sums differently (about 1e-7
    relative), so runs are bit-for-bit repeatable only with the same count: set ``IPCORE_THREADS`` to pin it
    (a pinned count is never changed).
    """
    text = os.environ.get("IPCORE_THREADS", "").strip()
    try:
        if text:
            return max(0, int(text))
    except ValueError:
        raise ConfigError("IPCORE_THREADS", f"must be a whole number of threads (got {text!r})") from None
    return idle_cpus() if auto else 1


def cpu_threads(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """Run with ``training_threads()`` torch threads on a CPU; nothing changes for CUDA runs."""
    return torch_threads(training_threads() if device.type == "cpu" else 0)


# --- threads -----------------------------------------------------------------------------------------

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

    OpenMP threads wait for the next parallel operation by spinning for a while (libgomp's default): on idle
    cores that makes a multi-threaded step fast, but when another process takes one of those cores every parallel
    operation waits for a thread that is not running, several times slower than one thread (docs/performance.md,
    "Threads"). So a run that started on idle
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


# --- memory admission --------------------------------------------------------------------------------


MEMINFO = "/proc/meminfo"
MEMORY_HEADROOM = 0.9
"""A run may plan on at most this share of the memory free now (other processes' use fluctuates)."""
ESTIMATE_MARGIN = 1.25
RUN_OVERHEAD = 256 * 2**20
"""``estimated_memory`` = RUN_OVERHEAD + ESTIMATE_MARGIN × the tensors counted: a process's fixed cost of its first
training (thread pools, oneDNN buffers, libtorch pages) plus a margin over the count, both from peak resident
memory measured with ``bench/bench_memory.py`` (the measurements: docs/performance.md, "Memory admission")."""

_held_lock = threading.RLock()  # check_memory holds it while memory_held reads
_held: dict[int, tuple[str, int, str]] = {}
"""Memory promised to trainings in progress in this process: thread id → (device, bytes estimated, what)."""
_held_elsewhere: dict[str, tuple[int, int]] = {}
"""Memory promised to trainings in other processes of the same server (device → bytes, runs): a job process
is told what its sibling job processes hold when it starts (``ipcore.jobs.manager``)."""
_promise_listener: Callable[[str, int], None] | None = None


def set_promise_listener(listener: Callable[[str, int], None] | None) -> None:
    """Call ``listener(device_key, bytes)`` whenever a training in this process is promised memory (None: stop).
    A job process reports its promises to the server this way, which tells the job processes started after it
    (``set_memory_held_elsewhere``)."""
    global _promise_listener
    _promise_listener = listener


def set_memory_held_elsewhere(held: dict[str, tuple[int, int]]) -> None:
    """What trainings in other processes of this server hold, device key (``cpu``, ``cuda:0``) → (bytes, runs)."""
    with _held_lock:
        _held_elsewhere.clear()
        _held_elsewhere.update(held)


def _device_key(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


def available_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` now — on the CPU the kernel's ``MemAvailable`` (free memory plus the page cache
    it can give back; never the total), on a GPU the driver's free memory — or None when unknown."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if os.path.exists(MEMINFO):
            with open(MEMINFO) as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (AttributeError, ValueError, OSError, RuntimeError):
        return None


def estimated_memory(config: TrainConfig, data: Dataset, members: int | None = None) -> int:
    """Bytes a run needs beyond its dataset, an upper bound of the measured peak (see ``RUN_OVERHEAD``):
    RUN_OVERHEAD + ESTIMATE_MARGIN × 4 bytes × members × (4 × parameters — the weights, their gradients and two
    Adam moments — + the activations of one training step: about ten tensors of batch × width per layer, and
    two of batch × inputs). ``members`` defaults to the config's rules × seeds (a sweep passes its grid's count)."""
    members = len(config.rules) * config.seeds if members is None else members
    sizes = [data.input_dim] + [config.width] * config.depth + [data.num_classes]
    parameters = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    batch = min(config.batch_size, len(data.train_y))
    activations = 10 * batch * config.width * config.depth + 2 * batch * data.input_dim
    counted = 4 * members * (4 * parameters + activations)
    return RUN_OVERHEAD + int(ESTIMATE_MARGIN * counted)


def memory_held(device: torch.device) -> tuple[int, int]:
    """(bytes, runs): what the other trainings in progress in this process (other threads: jobs, the gallery)
    and in the server's other job processes have been promised on ``device``."""
    me, key = threading.get_ident(), _device_key(device)
    with _held_lock:
        others = [size for thread, (where, size, _) in _held.items() if thread != me and where == key]
        elsewhere, elsewhere_runs = _held_elsewhere.get(key, (0, 0))
    return sum(others) + elsewhere, len(others) + elsewhere_runs


def _size(count: float) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def check_memory(config: TrainConfig, data: Dataset, device: torch.device, members: int | None = None) -> int:
    """Refuse (a ConfigError on ``seeds``, the usual lever) a run that cannot fit: its estimate plus what the
    runs already in progress here were promised must stay within MEMORY_HEADROOM of the memory free now. A run
    that fits is promised its estimate (returned) until ``train`` ends (``release_memory``), so jobs started
    together do not each count on the same free memory."""
    members = len(config.rules) * config.seeds if members is None else members
    needed = estimated_memory(config, data, members)
    key = _device_key(device)
    with _held_lock:  # check and promise at once: two runs starting together see each other
        held, runs = memory_held(device)
        free = available_memory(device)
        if free is not None and needed + held > MEMORY_HEADROOM * free:
            plural = "runs in progress here hold" if runs != 1 else "run in progress here holds"
            others = f" and {runs} other {plural} {_size(held)}"
            raise ConfigError(
                "seeds",
                f"{members // config.seeds} rules × {config.seeds} seeds = {members} networks of depth {config.depth} "
                f"and width {config.width} need about {_size(needed)}, but {device} has {_size(free)} free"
                f"{others if runs else ''}; use fewer seeds or rules, or a smaller width, depth or batch size"
                + (", or wait for the other runs to end" if runs else ""),
            )
        description = f"{config.dataset}, {members} networks"
        _held[threading.get_ident()] = (key, needed, description)
    if _promise_listener is not None:
        _promise_listener(key, needed)
    return needed


def release_memory() -> None:
    """Give back what this thread's training was promised (``train`` calls it when the run ends)."""
    with _held_lock:
        _held.pop(threading.get_ident(), None)
