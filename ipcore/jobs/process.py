"""Run one job — an experiment config or a sweep — in a process of its own, mirroring what it records into the
server.

A training's Python loop holds the interpreter lock between its tensor operations. Run as a thread of a web
server, it takes turns with every page the server renders: with a few people watching, each step waits for
the lock and the job runs several times slower while the pages stall too. In its own process the job has its
own interpreter; the server only receives the rows it records.

The job process is forked from a ``forkserver`` that has already imported torch and the engine, so a job starts
in a fraction of a second after the first. It gets the server's environment as it is when the job starts (the
fork server's own may be older), runs ``run_config`` with a log that forwards every row, set of static arrays,
progress (at most a few times a second) and memory promise through a pipe, and ends with its state and summary,
or with its error message and traceback. The messages leave through an ``Outbox``: a thread of the job process
sends them in batches, so the training never waits for the server to read. The server side (``run_in_process``) applies the rows to the job's
log as they arrive, so live views read the same ``MetricsLog`` as for a job run in a thread, and passes
cancellation through an event that the run checks after every step.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.spawn
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ipcore.config import Config, config_from_dict
from ipcore.errors import ConfigError, JobProcessError, error_message
from ipcore.results.metrics_log import MetricsLog, RunResult
from ipcore.specs.rules import env_rule_modules

if TYPE_CHECKING:
    from ipcore.config import SweepConfig
    from ipcore.training.sweep import SweepOutcome

PROGRESS_INTERVAL_S = 0.25
POLL_S = 0.1
END_GRACE_S = 30.0
"""How long the server waits for a job process to exit once it has sent its outcome, before ending it."""
STOP_GRACE_S = 0.6
"""How long a job process may take to stop by itself once asked (counted from the ``halt`` call, i.e. from the
click); then it is killed. What it recorded has reached the server already (rows are forwarded as recorded), so a
stop ends a job within about a second whatever one of its iterations costs (a 10⁷-sample neuron iteration over ten
rules takes seconds, one rule's step of it up to 2.5 s)."""
NEURON_STOP_GRACE_S = 0.3
"""``STOP_GRACE_S`` for a single-neuron run. Killed, it loses no more than the row of its last iterations: its rows
have reached the server and its summary is made from them (``_killed_summary``), as the run makes it. A training
killed has no summary (only its process held the model), so it is given longer to stop by itself."""
ACKED_GRACE_S = 10.0
"""How long a job process that has seen the stop (it says so, ``("stopping",)``) may take to end cleanly: it is
writing its summary, not training on."""
STOPPING_POLL_S = 0.02
"""How often the server looks at a job process it has asked to stop (for its messages and the kill deadline)."""
PRELOAD = ["ipcore.jobs.process", "ipcore.training.loop", "ipcore.training.neuron", "ipcore.training.sweep"]

_context: Any = None
_launching = threading.local()
"""``job`` is True in the thread that is starting a job process, while it does (``_preparation_data``)."""


def _preparation_data(get_preparation_data: Callable[[str], dict]) -> Callable[[str], dict]:
    """``multiprocessing.spawn.get_preparation_data`` that leaves the parent's main module out of a job process.

    A new process under spawn or forkserver first re-runs the parent's ``__main__`` as ``__mp_main__``. In the
    app that is not the server's entry point: Streamlit sets ``sys.modules["__main__"]`` to the page script it ran
    last, so every job process ran a page of the app in bare mode before its training (importing Streamlit and
    plotly, 0.3 s or more, and "missing ScriptRunContext" warnings in the server's log). A job's target and
    arguments are all importable from ``ipcore``, so the job needs nothing from ``__main__``. Other processes,
    and other threads' starts, are left as they were."""

    def preparation_data(name: str) -> dict:
        data = get_preparation_data(name)
        if getattr(_launching, "job", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    preparation_data.ipcore_wrapped = True  # type: ignore[attr-defined]
    return preparation_data


def context() -> Any:
    """The multiprocessing context for job processes: a fork server that preloads torch and the engine where
    the platform has one, else spawn (a fresh interpreter per job)."""
    global _context
    if not getattr(multiprocessing.spawn.get_preparation_data, "ipcore_wrapped", False):
        multiprocessing.spawn.get_preparation_data = _preparation_data(multiprocessing.spawn.get_preparation_data)
    if _context is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            forkserver = multiprocessing.get_context("forkserver")
            forkserver.set_forkserver_preload(PRELOAD)
            _context = forkserver
        else:  # pragma: no cover - platforms without fork
            _context = multiprocessing.get_context("spawn")
    return _context


def job_threads(environment: dict[str, str]) -> str:
    """The torch threads of a job process on a CPU: the operator's ``IPCORE_THREADS`` when set, else every usable
    CPU but one, at least 1. The server renders pages beside its jobs: a job that took every idle core when it
    started would take the one the pages need as soon as people arrive (on a 2-core machine: 1 thread, whatever
    the load when the job started, so watched and unwatched jobs run alike)."""
    text = environment.get("IPCORE_THREADS", "").strip()
    if text:
        return text
    from ipcore.training.resources import usable_cpus

    return str(max(1, usable_cpus() - 1))


def job_cpus(environment: dict[str, str]) -> set[int] | None:
    """The CPUs a job process may run on, or None to leave its affinity as it is: without ``IPCORE_THREADS``,
    every CPU the server may use but the last (when it may use several), the CPUs ``job_threads`` counts. The
    thread count alone leaves a core free only on average: the scheduler still puts a job's thread on the core
    a page is being drawn on, and the page waits. An operator who sets ``IPCORE_THREADS`` decides alone."""
    if environment.get("IPCORE_THREADS", "").strip():
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return None
    return set(cpus[:-1]) if len(cpus) > 1 else None


def job_environment() -> dict[str, str]:
    """The environment a job process gets: the server's as it is now, with the server's float32 tanh kernel
    (``ipcore.engine.activations.cpu_tanh_kernel``) pinned unless ``IPCORE_TANH`` already says which. Each process
    would otherwise time the two kernels itself, and where they are close a busy moment could choose differently:
    a job would then round differently from the same training in the server or in the job before it."""
    from ipcore.engine.activations import TANH_KERNEL_ENV, cpu_tanh_kernel

    environment = dict(os.environ)
    if environment.get(TANH_KERNEL_ENV, "").strip().lower() in ("", "auto"):
        environment[TANH_KERNEL_ENV] = cpu_tanh_kernel()
    if "ipcore.engine.custom_rules" in sys.modules:  # rule files loaded here are loaded by the job too
        environment = sys.modules["ipcore.engine.custom_rules"].environment_with_rule_modules(environment)
    return environment


JOB_NICE_ENV = "IPCORE_JOB_NICE"
DEFAULT_JOB_NICE = 10


def job_nice(environment: dict[str, str]) -> int:
    """How much lower than the server's a job process's CPU priority is: ``IPCORE_JOB_NICE`` (0–19), default 10.

    The server's pages are interactive and cheap, a training is neither: when both want a core, the page should
    get it. A job at nice 10 still takes every cycle nobody else wants, so on a machine the jobs have to themselves
    it runs as fast as at nice 0; beside a page being drawn (or a visitor's browser on the same machine) it
    yields (``bench/bench_load.py``). ConfigError (field ``IPCORE_JOB_NICE``) for another value."""
    text = environment.get(JOB_NICE_ENV, "").strip()
    if not text:
        return DEFAULT_JOB_NICE
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ConfigError(JOB_NICE_ENV, f"must be a whole number from 0 to 19 (got {text!r})")
    return value


def warm_up() -> None:
    """Start the fork server now (it imports torch and the engine, a few seconds), so that the first job does
    not wait for it. A server calls this in a background thread when it creates its job manager."""
    if context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class Outbox:
    """Messages from a job process to the server, sent by a thread of their own, each time as one ``("batch",
    [messages])`` of everything waiting (at most ``max_batch``), in the order they were put.

    Why: a training forwards every recorded row, a few hundred at each flush of its recorder. Sent one by one from
    the training thread, each waited for the server to read it, and a server busy drawing pages for eight
    watchers reads slowly (its reading thread needs the interpreter lock for every message): the pipe filled
    and the job stood still, up to twice its own time (``bench/bench_load.py``). Now ``send`` only queues, and the
    server takes one batch per read. ``close`` sends what is left and waits for it; a server that is gone makes
    the rest silently dropped.
    """

    max_batch = 1000

    def __init__(self, connection: Any):
        self._connection = connection
        self._queue: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ipcore-outbox", daemon=True)
        self._thread.start()

    def send(self, message: tuple) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        gone = False
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None and len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = batch[-1] is None
            messages = [message for message in batch if message is not None]
            if messages and not gone:
                try:
                    self._connection.send(("batch", messages))
                except (OSError, ValueError):  # the server is gone: nobody to tell
                    gone = True
            if closing:
                return


def unbatched(message: tuple) -> list[tuple]:
    """The messages inside one read from a job process (an ``Outbox`` batch, or a single message)."""
    return list(message[1]) if message[0] == "batch" else [message]


class _ForwardingLog(MetricsLog):
    """A MetricsLog that also sends every write to the server."""

    def __init__(self, send: Callable[[tuple], None]):
        super().__init__()
        self._send = send

    def set_static(self, **arrays: Any) -> None:
        super().set_static(**arrays)
        self._send(("static", arrays))

    def append(self, table: str, **row: Any) -> None:
        super().append(table, **row)
        self._send(("append", table, row))


def _run_task(task: str, payload: dict[str, Any], send: Callable[[tuple], None], progress, should_stop) -> tuple:
    """What the job process runs: ``config`` (one experiment config, rows forwarded as recorded) or ``sweep``
    (``ipcore.training.sweep.run_sweep``, which writes its own records; each finished point forwarded). Returns the
    ``("end", …)`` message."""
    if task == "config":
        from ipcore.training.runner import run_config

        config = config_from_dict(payload)
        result = run_config(config, progress=progress, should_stop=should_stop, log=_ForwardingLog(send))
        return ("end", result.state, dict(result.summary) if isinstance(result.summary, dict) else {})
    if task == "sweep":
        from ipcore.config import SweepConfig
        from ipcore.training.sweep import run_sweep

        options = dict(payload)
        sweep = SweepConfig.from_dict(options.pop("config"))
        outcome = run_sweep(
            sweep,
            **options,
            on_part=lambda index, entry: send(("part", index, entry)),
            progress=progress,
            should_stop=should_stop,
        )
        return ("end", dataclasses.asdict(outcome))
    raise ValueError(f"unknown task {task!r}")


def _child_main(
    task: str,
    payload: dict[str, Any],
    environment: dict[str, str],
    held_elsewhere: dict[str, tuple[int, int]],
    connection: Any,
    stop: Any,
    nice: int | None = None,
) -> None:
    """The job process: run the task, forward what it records, end with ("end", …) or ("error", …)."""
    # Ctrl-C in the server's terminal, or SIGTERM to the server's process group (a service manager stopping
    # it), reaches the job too. The job ends as cancelled with what it recorded, like a job the server stops
    # itself, instead of dying without a record.
    terminated = False

    def end_early(signum: int, frame: Any) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGINT, end_early)
    signal.signal(signal.SIGTERM, end_early)
    os.environ.clear()
    os.environ.update(environment)
    os.environ["IPCORE_THREADS"] = job_threads(environment)  # counted before the affinity narrows what it sees
    cpus = job_cpus(environment)
    if cpus is not None:  # before any thread starts: threads inherit it
        os.sched_setaffinity(0, cpus)
    from ipcore.training import resources

    nice_error: ConfigError | None = None
    try:  # before the job starts any thread: each inherits it (on Linux a nice value belongs to one thread)
        os.nice(job_nice(environment) if nice is None else nice)
    except ConfigError as error:
        nice_error = error
    outbox = Outbox(connection)
    send = outbox.send

    last_sent = -PROGRESS_INTERVAL_S

    def progress(fraction: float) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if fraction >= 1.0 or now - last_sent >= PROGRESS_INTERVAL_S:
            last_sent = now
            send(("progress", float(fraction)))

    try:
        if nice_error is not None:
            raise nice_error
        if env_rule_modules():  # rules of the user's own (the operator's IPCORE_RULE_MODULES, or loaded by the caller)
            from ipcore.engine.custom_rules import load_env_rule_modules

            load_env_rule_modules()
        resources.set_memory_held_elsewhere(held_elsewhere)
        resources.set_promise_listener(lambda key, needed: send(("memory", key, int(needed))))
        acknowledged = False

        def should_stop() -> bool:
            nonlocal acknowledged
            stopping = terminated or stop.is_set()
            if stopping and not acknowledged:
                acknowledged = True
                send(("stopping",))
            return stopping

        send(_run_task(task, payload, send, progress, should_stop))
    except BaseException as exc:  # every failure becomes the job's message; the server logs the traceback
        send(("error", error_message(exc), traceback.format_exc()))
    finally:
        outbox.close()
        connection.close()


def _supervise(
    task: str,
    payload: dict[str, Any],
    handle: Callable[[tuple], None],
    should_stop: Callable[[], bool],
    held_elsewhere: dict[str, tuple[int, int]] | None,
    name: str,
    nice: int | None = None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
    stop_grace: float = STOP_GRACE_S,
) -> tuple:
    """Start the job process, hand every message but the last to ``handle``, pass ``should_stop`` on; returns
    the ``("end", …)`` message, ``("stopped",)`` when it was asked to stop and had to be killed after
    ``stop_grace`` seconds (every message it sent before is handled), or raises ``JobProcessError``.

    ``on_start(halt)`` is called once the process runs: ``halt()`` (any thread, any number of times) passes the
    stop to the process at once — ``should_stop`` is only looked at every ``POLL_S`` — and starts the
    ``stop_grace`` it has before it is killed. Stopped before its process starts (while the server prepares its
    environment: a fresh server's first job imports torch there, seconds on a busy machine), it starts none and
    returns ``("stopped",)``."""
    ctx = context()
    environment = job_environment()
    if should_stop():
        return ("stopped",)
    receiver, sender = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    process = ctx.Process(
        target=_child_main,
        args=(task, payload, environment, dict(held_elsewhere or {}), sender, stop, nice),
        name=name,
        daemon=True,
    )
    _launching.job = True
    try:
        process.start()
    finally:
        _launching.job = False
    sender.close()  # the child holds the only writing end: reading past its last message gives EOFError
    outcome: tuple | None = None
    asked: list[float] = []  # when the stop was first passed on (time.monotonic())
    asking = threading.Lock()

    def halt() -> None:
        with asking:
            if not asked:
                asked.append(time.monotonic())
        stop.set()

    if on_start is not None:
        on_start(halt)
    grace = stop_grace
    try:
        while True:
            if not asked and should_stop():
                halt()
            stop_asked = asked[0] if asked else None
            if stop_asked is not None and time.monotonic() - stop_asked > grace and process.is_alive():
                process.kill()  # it did not stop by itself in time: what it recorded is here already
                process.join(5.0)
                while outcome is None and receiver.poll(0):
                    try:
                        received = receiver.recv()
                    except (EOFError, OSError):
                        break
                    for message in unbatched(received):
                        if message[0] in ("end", "error"):
                            outcome = message
                        elif message[0] != "stopping":
                            handle(message)
                if outcome is None:
                    outcome = ("stopped",)
                break
            if not receiver.poll(STOPPING_POLL_S if stop_asked is not None else POLL_S):
                if not process.is_alive() and not receiver.poll(0):
                    break
                continue
            try:
                received = receiver.recv()
            except EOFError:
                break
            for message in unbatched(received):
                if message[0] in ("end", "error"):
                    outcome = message
                elif message[0] == "stopping":
                    grace = ACKED_GRACE_S
                else:
                    handle(message)
    finally:
        process.join(END_GRACE_S if outcome is not None else 1.0)
        if process.is_alive():
            process.terminate()
            process.join(5.0)
        receiver.close()
    if outcome is None:
        code = process.exitcode
        why = "it was killed, perhaps for lack of memory" if code is not None and code < 0 else "it crashed"
        raise JobProcessError(f"the job's process ended without a result (exit code {code}): {why}")
    if outcome[0] == "error":
        raise JobProcessError(outcome[1], outcome[2])
    return outcome


def run_in_process(
    config: Config,
    log: MetricsLog,
    progress: Callable[[float], None],
    should_stop: Callable[[], bool],
    held_elsewhere: dict[str, tuple[int, int]] | None = None,
    on_memory: Callable[[str, int], None] | None = None,
    name: str = "ipcore-job",
    nice: int | None = None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
) -> RunResult:
    """Run ``config`` in a job process; its rows arrive in ``log``. Returns the run's result (its metrics are
    ``log``'s snapshot), raises ``JobProcessError`` with the job's own message when the run failed, or when the
    process died without saying why (killed, out of memory). ``nice``: the process's nice increment instead of
    ``IPCORE_JOB_NICE``'s; ``on_start``: see ``_supervise``. Stopped and killed (after ``STOP_GRACE_S``, a neuron run
    after ``NEURON_STOP_GRACE_S``): cancelled, with what it recorded (a neuron run's summary is made here from its rows, as the run would have made it)."""
    started = time.perf_counter()

    def handle(message: tuple) -> None:
        kind = message[0]
        if kind == "append":
            log.append(message[1], **message[2])
        elif kind == "static":
            log.set_static(**message[1])
        elif kind == "progress":
            progress(message[1])
        elif kind == "memory" and on_memory is not None:
            on_memory(message[1], message[2])

    grace = NEURON_STOP_GRACE_S if config.kind == "neuron" else STOP_GRACE_S
    outcome = _supervise(
        "config", config.to_dict(), handle, should_stop, held_elsewhere, name, nice, on_start, stop_grace=grace
    )
    if outcome[0] == "stopped":
        metrics = log.snapshot()
        return RunResult(
            config=config, metrics=metrics, summary=_killed_summary(config, metrics, started), state="cancelled"
        )
    _, state, summary = outcome
    return RunResult(config=config, metrics=log.snapshot(), summary=summary, state=state)


def _killed_summary(config: Config, metrics: dict[str, Any], started: float) -> dict[str, Any]:
    """The summary of a run that was killed after a stop: a neuron run's, from its recorded trace (the last row's
    iteration counts as done); {} for other kinds, whose summaries need the model the process held."""
    if config.kind != "neuron" or "trace/iter" not in metrics or not len(metrics["trace/iter"]):
        return {}
    from ipcore.training.neuron import summarize

    try:
        return summarize(config, metrics, time.perf_counter() - started, int(metrics["trace/iter"][-1]))
    except Exception:  # a summary is a convenience: the record keeps the rows either way
        return {}


def run_sweep_in_process(
    sweep: SweepConfig,
    *,
    name: str,
    runs_dir: str,
    backend: str = "local",
    ray_address: str | None = None,
    on_part: Callable[[int, dict[str, Any]], None] | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    owner: str | None = None,
    nice: int | None = None,
    on_start: Callable[[Callable[[], None]], None] | None = None,
) -> SweepOutcome:
    """``ipcore.training.sweep.run_sweep`` in a job process: the same records, ``on_part`` and ``progress`` calls and
    outcome; a failure raises ``JobProcessError`` with its message. Stopped and killed (``STOP_GRACE_S``): an
    interrupted outcome with the points finished before."""
    from ipcore.training.sweep import SweepOutcome

    started = time.perf_counter()
    finished: dict[int, dict[str, Any]] = {}

    def handle(message: tuple) -> None:
        if message[0] == "part":
            finished[message[1]] = message[2]
            if on_part is not None:
                on_part(message[1], message[2])
        elif message[0] == "progress" and progress is not None:
            progress(message[1])

    payload = {
        "config": sweep.to_dict(),
        "name": name,
        "runs_dir": str(runs_dir),
        "backend": backend,
        "ray_address": ray_address,
        "owner": owner,
    }
    outcome = _supervise(
        "sweep", payload, handle, should_stop or (lambda: False), None, f"ipcore-job-sweep-{name}", nice, on_start
    )
    if outcome[0] == "stopped":
        parts = [finished.get(i) for i in range(len(sweep.points()))]
        return SweepOutcome(backend, time.perf_counter() - started, parts, interrupted=True)
    return SweepOutcome(**outcome[1])
