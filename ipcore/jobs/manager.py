"""Background jobs: run neuron simulations and network trainings in threads, watch them live, cancel them.

One ``JobManager`` serves many readers (the Streamlit server keeps one for every browser session): ``submit``
queues a config, at most ``max_concurrent`` jobs run at once (each in its own thread, started when the job
starts and gone when it ends), the rest wait in submission order. Readers poll ``status`` (state, progress,
elapsed, ETA) and ``snapshot`` (the metrics recorded so far, consistent per table because the runner writes
whole rows into a ``MetricsLog``). ``cancel`` sets a flag the runners check every batch / iteration; the run
stops there and keeps what it recorded. A job that raises ends ``failed`` with its message (the traceback goes
to the log) and the manager carries on. With a ``runs_dir`` every finished, cancelled or failed run is saved
as a record (``ipcore.results.records``); ``status(...)["run_id"]`` names it, and ``status(...)["save_error"]`` says
why when it could not be saved.

Sweeps (``SweepConfig``) are a job kind like any other: they share the queue, the slots, progress and cancel;
a sweep writes one record per grid point itself (``ipcore.training.sweep``) and its finished points appear in
``status(...)["parts"]`` as they are written.

Fair share (``ipcore.jobs.admission``): ``submit`` refuses a job whose estimated cost is above the operator's budget
and a visitor (``owner``) who already holds ``per_visitor`` running or queued jobs; the queue takes owners in
turn (each owner's next job, oldest first) rather than strictly first come first served, and quick jobs (the
demos) have a slot of their own beside the long ones, which run at a lower CPU priority; a job running longer
than ``max_seconds`` is stopped; a stop ends a job in a process within about ``STOP_GRACE_S`` whatever it is
doing (its process is told at once and ended if it does not stop by itself), keeping what it recorded.

Snapshots are cached per ``MetricsLog.version``: many readers polling an unchanged log share one copy, so
readers cost the running job at most one stack of its rows per new row. Snapshot arrays are read-only views
(they may be shared between readers). Once a job has ended, its snapshot is exactly what its record holds
(compacted as ``records.compact_metrics`` stores it), so a live view and a reload show the same numbers.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ipcore.config import Config, ConfigError, SweepConfig, config_from_dict
from ipcore.errors import error_message
from ipcore.jobs.admission import Limits
from ipcore.results.metrics_log import MetricsLog, RunResult
from ipcore.results.records import compact_metrics, owner_digest, save_run
from ipcore.training.runner import run_config

logger = logging.getLogger(__name__)

JOB_STATES = ("queued", "running", "done", "cancelled", "failed")
FINISHED_STATES = ("done", "cancelled", "failed")


class UnknownJob(KeyError):
    """No job with that id (never submitted, or forgotten after ``keep_finished`` newer jobs ended)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown job"


class TooManyJobs(ConfigError):
    """A visitor already holds as many running and queued jobs as one visitor may."""


def default_max_concurrent() -> int:
    """``$IPCORE_MAX_JOBS`` if set, else 1 on CPU and 2 with a CUDA device (trainings overlap on a GPU)."""
    env = os.environ.get("IPCORE_MAX_JOBS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ConfigError("IPCORE_MAX_JOBS", f"must be a whole number ≥ 1 (got {env!r})") from None
    from ipcore.specs.device import no_cuda_possible

    if no_cuda_possible():  # known without importing torch (seconds of a core on a page's first visit)
        return 1
    import torch

    return 2 if torch.cuda.is_available() else 1


JOB_ISOLATIONS = ("thread", "process")


def _read_only(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Read-only views (cheap), so arrays shared between readers cannot be changed by one of them."""
    views = {}
    for name, value in arrays.items():
        view = np.asarray(value).view()
        view.flags.writeable = False
        views[name] = view
    return views


@dataclass(eq=False)
class _Job:
    job_id: str
    config: Config
    name: str | None
    owner: str | None
    created: float
    config_dict: dict[str, Any] = field(default_factory=dict)
    log: MetricsLog = field(default_factory=MetricsLog)
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    state: str = "queued"
    progress: float = 0.0
    started: float | None = None  # time.time() stamps
    ended: float | None = None
    error: str | None = None
    run_id: str | None = None
    save_error: str | None = None
    summary: dict[str, Any] | None = None
    final_metrics: dict[str, np.ndarray] | None = None
    thread: threading.Thread | None = None
    cache: tuple[int, dict[str, np.ndarray]] | None = None
    final_version: int | None = None
    promised: tuple[str, int] | None = None  # (device key, bytes) a job process's training was promised
    flops: float = 0.0  # the estimated cost (ipcore.jobs.admission)
    quick: bool = False  # cheap enough for the quick slot
    slot: str | None = None  # "general" or "quick" while running
    stop_reason: str | None = None  # why the manager stopped it (time limit)
    options: dict[str, Any] = field(default_factory=dict)  # a sweep's backend and Ray address
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)  # a sweep's finished points by grid index
    halt: Any = None  # passes a stop to the job's process at once (ipcore.jobs.process._supervise), once it runs

    def request_stop(self) -> None:
        """Set the stop flag, and pass it to the job's process now rather than at its supervisor's next look."""
        self.stop.set()
        halt = self.halt
        if halt is not None:
            halt()

    def report_progress(self, fraction: float) -> None:
        fraction = float(fraction)
        if fraction == fraction:  # not NaN
            self.progress = max(self.progress, min(max(fraction, 0.0), 1.0))


class JobManager:
    """Runs configs in background threads, at most ``max_concurrent`` at once, in submission order.

    ``runs_dir`` None: results are kept in memory only; a path: every ended run is saved there as a record.
    ``keep_finished``: how many ended jobs stay queryable (older ones are forgotten, bounding memory).
    ``limits``: the fair-share limits (``ipcore.jobs.admission.Limits``; default: no budget, no time limit, no
    per-visitor cap — a served app passes ``Limits.from_environment()``).
    ``isolation``: "thread" runs each job in a thread of this process; "process" runs it in a process of its own
    (``ipcore.jobs.process``), so its Python loop never waits for this process's interpreter lock — what a
    server that renders pages while jobs train needs. Either way the job's rows land in the same ``MetricsLog``.
    All methods are thread-safe.
    """

    def __init__(
        self,
        max_concurrent: int | None = None,
        runs_dir: str | os.PathLike | None = None,
        *,
        keep_finished: int = 100,
        isolation: str = "thread",
        limits: Limits | None = None,
    ):
        max_concurrent = default_max_concurrent() if max_concurrent is None else max_concurrent
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int) or max_concurrent < 1:
            raise ConfigError("max_concurrent", f"must be a whole number ≥ 1 (got {max_concurrent!r})")
        if isinstance(keep_finished, bool) or not isinstance(keep_finished, int) or keep_finished < 1:
            raise ConfigError("keep_finished", f"must be a whole number ≥ 1 (got {keep_finished!r})")
        if isolation not in JOB_ISOLATIONS:
            raise ConfigError("isolation", f"must be one of {', '.join(JOB_ISOLATIONS)} (got {isolation!r})")
        self.isolation = isolation
        if limits is None:  # a library's manager: first come first served, no budget, no limit
            limits = Limits(max_flops=None, quick_slots=0, max_seconds=None, per_visitor=None, long_job_nice=None)
        self.limits = limits
        self.max_concurrent = max_concurrent
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.keep_finished = keep_finished
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}  # insertion (= submission) order
        self._queue: deque[_Job] = deque()
        self._running: set[_Job] = set()
        self._ended: deque[_Job] = deque()  # in the order they ended, for forgetting the oldest
        self._counter = itertools.count(1)
        self._served: dict[str | None, int] = {}  # owner → when its latest job started (a counter value)
        self._closed = False

    # --- submitting and running -------------------------------------------------------------------------
    def submit(
        self,
        config: Config | Mapping[str, Any],
        *,
        name: str | None = None,
        owner: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue ``config`` (a Config, or its dict with ``kind``; a ``SweepConfig`` with ``name``) as ``owner``'s
        job; returns the job id. Starts it if a slot is free.

        A Config is taken as validated (it was, when it was built); a dict is validated here. ConfigError when
        the job is over the cost budget, ``TooManyJobs`` when ``owner`` holds ``per_visitor`` active jobs.
        ``options`` (sweeps): ``backend`` (local or ray) and ``ray_address``."""
        if isinstance(config, Mapping):
            config = SweepConfig.from_dict(config) if config.get("kind") == "sweep" else config_from_dict(config)
        if not isinstance(config, Config):
            raise TypeError(f"submit needs a Config (got {type(config).__name__})")
        if name is not None:
            from ipcore.results.records import check_name

            name = check_name(name)
        options = dict(options or {})
        if config.kind == "sweep":
            if name is None:
                raise ConfigError("name", "a sweep needs a name (its records are named after it)")
            if self.runs_dir is None:
                raise ConfigError("runs_dir", "a sweep writes records: this job manager has no runs folder")
            if options.get("backend", "local") not in ("local", "ray"):
                raise ConfigError("backend", f"must be local or ray (got {options.get('backend')!r})")
            from ipcore.training.sweep import check_sweep_name

            check_sweep_name(self.runs_dir, name, owner)
        elif options:
            raise ConfigError("options", "only a sweep takes options")
        flops = self.limits.check_cost(config)
        with self._lock:
            if self._closed:
                raise RuntimeError("this JobManager has been shut down")
            if config.kind == "sweep" and any(
                j.config.kind == "sweep" and j.name == name and j.state in ("queued", "running")
                for j in self._jobs.values()
            ):
                raise ConfigError("name", f"a sweep named {name!r} is already queued or running")
            cap = self.limits.per_visitor
            if owner is not None and cap is not None:
                held = sum(1 for j in self._jobs.values() if j.owner == owner and j.state in ("queued", "running"))
                if held >= cap:
                    raise TooManyJobs(
                        "jobs",
                        f"you already have {held} job{'s' if held != 1 else ''} running or queued, the most one "
                        f"visitor may hold on this server ({cap}); wait for one to end, or stop one",
                    )
            job_id = f"job{next(self._counter)}-{secrets.token_hex(3)}"
            job = _Job(job_id, config, name, owner, created=time.time(), config_dict=config.to_dict())
            job.flops, job.quick, job.options = flops, self.limits.is_quick(flops), options
            self._jobs[job_id] = job
            self._queue.append(job)
            logger.info("job %s queued (%s%s, %.1e FLOPs)", job_id, config.kind, f", {name}" if name else "", flops)
            self._dispatch()
        return job_id

    def _fair_order(self) -> list[_Job]:
        """The queued jobs in the order they will start: owners take turns. An owner's k-th queued job waits as if
        behind k jobs plus the owner's running ones, and among equals the owner served longest ago goes first
        (then the oldest job); jobs without an owner count as one owner."""
        rank: dict[str | None, int] = {}
        for job in self._running:
            rank[job.owner] = rank.get(job.owner, 0) + 1
        keyed = []
        for index, job in enumerate(self._queue):
            turn = rank.get(job.owner, 0)
            rank[job.owner] = turn + 1
            keyed.append((turn, self._served.get(job.owner, -1), index, job))
        return [job for *_, job in sorted(keyed, key=lambda item: item[:3])]

    def _free_slot(self, job: _Job) -> str | None:
        """The slot ``job`` may start in now (caller holds the lock): a general one, else — for a quick job — a
        quick one; None when it must wait."""
        general = sum(1 for j in self._running if j.slot == "general")
        if general < self.max_concurrent:
            return "general"
        quick = sum(1 for j in self._running if j.slot == "quick")
        if job.quick and quick < self.limits.quick_slots:
            return "quick"
        return None

    def _dispatch(self) -> None:
        """Start queued jobs, in the fair order, while slots are free (caller holds the lock)."""
        if self._closed:
            return
        for job in self._fair_order():
            slot = self._free_slot(job)
            if slot is None:
                continue
            self._queue.remove(job)
            self._served[job.owner] = next(self._counter)
            job.state, job.started, job.slot = "running", time.time(), slot
            self._running.add(job)
            job.thread = threading.Thread(target=self._work, args=(job,), name=f"ipcore-{job.job_id}", daemon=True)
            job.thread.start()

    def _should_stop(self, job: _Job) -> bool:
        """Whether ``job`` must stop: it was cancelled, or it has run past the time limit (then noted)."""
        if job.stop.is_set():
            return True
        limit = self.limits.max_seconds
        if limit is not None and job.started is not None and time.time() - job.started > limit:
            job.stop_reason = f"stopped after {limit:g} s, this server's time limit per job (IPCORE_JOB_MAX_SECONDS)"
            job.stop.set()
            logger.info("job %s reached the time limit", job.job_id)
            return True
        return False

    def _work(self, job: _Job) -> None:
        """The job's thread: run, then save, then publish the outcome and start the next queued job.

        Whatever is raised — an Exception, or a BaseException such as KeyboardInterrupt or SystemExit inside the
        run — the job ends (``failed``, with the message) and its slot is freed, so the queue never sticks."""
        logger.info("job %s started (%s)", job.job_id, job.config.kind)
        state, error, save_error, run_id = "failed", None, None, None
        summary: dict[str, Any] = {}
        final: dict[str, np.ndarray] | None = None
        ended = time.time()
        try:
            try:
                result: Any = self._run(job)
                state = result.state if result.state in FINISHED_STATES else "done"
                error = getattr(result, "error", None) or None
            except BaseException as exc:  # any failure (bad data folder, out of memory, a bug) ends this job only
                details = getattr(exc, "details", "")
                if details:  # the traceback from the job's process
                    logger.error("job %s failed in its process:\n%s", job.job_id, details)
                else:
                    logger.exception("job %s failed", job.job_id)
                error, state = error_message(exc), "failed"
                try:
                    recorded = job.log.snapshot()
                except Exception:  # a log that cannot even be stacked: keep the failure, drop the rows
                    logger.exception("job %s: its recorded metrics could not be read", job.job_id)
                    recorded = {}
                result = RunResult(config=job.config, metrics=recorded, summary={}, state="failed")
                _release_gpu_memory()
            try:
                compact = compact_metrics(result.metrics)  # own copies: no view keeps a doubled buffer alive
                final = _read_only({k: v.copy() if v.base is not None else v for k, v in compact.items()})
            except Exception as exc:
                logger.exception("job %s: its metrics could not be compacted", job.job_id)
                error = error or error_message(exc)
                state = "failed"
            summary = dict(result.summary) if isinstance(getattr(result, "summary", None), Mapping) else {}
            ended = time.time()
            if state == "cancelled" and job.stop_reason:
                summary["stopped"] = job.stop_reason
            if job.config.kind == "sweep":  # its records are written by the sweep, one per grid point
                save_error = getattr(result, "save_error", None)
            elif self.runs_dir is not None and final is not None:
                stored = RunResult(config=job.config, metrics=final, summary=summary, state=state)
                try:
                    run_id = save_run(
                        self.runs_dir, stored, name=job.name, state=state, error=error, started=job.started,
                        ended=ended, extra={"owner": owner_digest(job.owner)} if job.owner else None,
                    )  # fmt: skip
                except Exception as exc:
                    logger.exception("job %s: its record could not be saved", job.job_id)
                    save_error = f"the run's record could not be saved in {self.runs_dir}: {error_message(exc)}"
        except BaseException as exc:  # something escaped the steps above: still end the job and free its slot
            logger.exception("job %s: ending it failed", job.job_id)
            state, error = "failed", error or error_message(exc)
        finally:
            with self._lock:
                job.state, job.error, job.run_id, job.ended = state, error, run_id, ended
                job.save_error = save_error
                job.summary = summary
                job.final_metrics = final if final is not None else {}
                job.final_version = job.log.version + 1  # readers that compare versions see one more change
                job.log, job.cache = MetricsLog(), None  # the full-precision rows are no longer needed
                job.halt = None  # its process has ended
                if state == "done":
                    job.progress = 1.0
                self._running.discard(job)
                self._ended.append(job)
                self._forget_old()
                self._dispatch()
            job.finished.set()
        logger.info("job %s %s%s", job.job_id, state, f" (saved as {run_id})" if run_id else "")

    def _run(self, job: _Job) -> Any:
        """Run the job's config here (a thread) or in a job process, per ``isolation``."""
        should_stop = lambda: self._should_stop(job)  # noqa: E731
        if job.config.kind == "sweep":
            return self._run_sweep(job, should_stop)
        if self.isolation == "thread":
            return run_config(job.config, progress=job.report_progress, should_stop=should_stop, log=job.log)
        from ipcore.jobs.process import run_in_process

        def promised(key: str, size: int) -> None:
            with self._lock:
                job.promised = (key, size)

        with self._lock:  # what the other job processes' trainings were promised, per device
            held: dict[str, tuple[int, int]] = {}
            for other in self._running:
                if other is not job and other.promised is not None:
                    key, size = other.promised
                    total, runs = held.get(key, (0, 0))
                    held[key] = (total + size, runs + 1)
        return run_in_process(
            job.config,
            job.log,
            job.report_progress,
            should_stop,
            held,
            promised,
            name=f"ipcore-{job.job_id}",
            nice=self._nice(job),
            on_start=lambda halt: self._started(job, halt),
        )

    def _started(self, job: _Job, halt: Any) -> None:
        """The job's process runs: keep its ``halt``, and use it now if the job was stopped meanwhile."""
        job.halt = halt
        if job.stop.is_set():
            halt()

    def _nice(self, job: _Job) -> int | None:
        """A long job's CPU priority (its process's nice value), None for the server's default."""
        return None if job.quick or self.limits.long_job_nice is None else self.limits.long_job_nice

    def _run_sweep(self, job: _Job, should_stop: Any) -> _SweepResult:
        """A sweep: its points' records are written as they finish; their entries land in ``job.parts``."""
        from ipcore.training.sweep import run_sweep

        def on_part(index: int, entry: dict[str, Any]) -> None:
            with self._lock:
                job.parts[index] = entry

        backend = job.options.get("backend", "local")
        kwargs = dict(
            name=job.name,
            runs_dir=str(self.runs_dir),
            backend=backend,
            ray_address=job.options.get("ray_address"),
            on_part=on_part,
            progress=job.report_progress,
            should_stop=should_stop,
        )
        if self.isolation == "thread":
            outcome = run_sweep(job.config, owner=job.owner, **kwargs)
        else:
            from ipcore.jobs.process import run_sweep_in_process

            outcome = run_sweep_in_process(
                job.config,
                owner=job.owner,
                nice=self._nice(job),
                on_start=lambda halt: self._started(job, halt),
                **kwargs,
            )
        state = "cancelled" if outcome.interrupted else ("failed" if outcome.errors else "done")
        summary = {**outcome.to_json(), "save_errors": list(outcome.save_errors)}
        return _SweepResult(
            job.config, {}, summary, state, "; ".join(outcome.errors) or None, "; ".join(outcome.save_errors) or None
        )

    def _forget_old(self) -> None:
        while len(self._ended) > self.keep_finished:
            old = self._ended.popleft()
            self._jobs.pop(old.job_id, None)

    # --- reading ----------------------------------------------------------------------------------------
    def _get(self, job_id: str) -> _Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r} (never submitted, or forgotten after newer jobs ended)")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        """State, progress (0–1), elapsed_s, remaining_s, error, run_id, save_error, kind, owner, name, times, queue
        position (queued jobs that start before this one — owners take turns; None unless queued), flops (the
        estimated cost), quick, stopped (why the manager stopped it, e.g. the time limit), a sweep's ``parts`` (its
        finished points) and ``points``, running_jobs (how many run now, all owners) …

        ``error`` is the run's own failure (None unless ``failed``). ``save_error``: None when the record was saved
        (or the manager keeps no records); otherwise why the ended run could not be saved — the job still ends
        ``done``/``cancelled`` with its metrics readable through ``snapshot``, but ``run_id`` is None and nothing
        is on disk."""
        job = self._get(job_id)
        with self._lock:
            return self._status(job)

    def _status(self, job: _Job) -> dict[str, Any]:
        now = time.time()
        elapsed = 0.0 if job.started is None else (job.ended or now) - job.started
        remaining = None  # seconds left (not η, the rules' rate)
        if job.state == "running" and job.progress > 0:
            remaining = elapsed * (1.0 - job.progress) / job.progress
        elif job.state == "done":
            remaining = 0.0
        position = None
        if job.state == "queued":
            position = next((i for i, queued in enumerate(self._fair_order()) if queued is job), None)
        return {
            "job_id": job.job_id,
            "state": job.state,
            "progress": job.progress,
            "elapsed_s": elapsed,
            "remaining_s": remaining,
            "error": job.error,
            "run_id": job.run_id,
            "save_error": job.save_error,
            "kind": job.config.kind,
            "owner": job.owner,
            "name": job.name,
            "created": job.created,
            "started": job.started,
            "ended": job.ended,
            "queue_position": position,
            "running_jobs": len(self._running),
            "version": job.log.version if job.final_version is None else job.final_version,
            "summary": None if job.summary is None else dict(job.summary),
            "config": dict(job.config_dict),
            "flops": job.flops,
            "options": dict(job.options),
            "quick": job.quick,
            "stopped": job.stop_reason,
            **(
                {"parts": [{**job.parts[i], "index": i} for i in sorted(job.parts)], "points": len(job.config.points())}
                if job.config.kind == "sweep"
                else {}
            ),
        }

    def snapshot(self, job_id: str) -> dict[str, np.ndarray]:
        """The metrics recorded so far (``{"table/column": array, static: array}``), read-only arrays.

        Consistent per table (every column of a table has the same number of rows). Cached per log version, so
        polling readers do not re-stack unchanged data. After the job ended: exactly what its record stores.
        A queued job has no metrics yet (empty dict).
        """
        job = self._get(job_id)
        log = job.log  # read before final_metrics: the ending job sets final_metrics first, then drops the log
        final = job.final_metrics
        if final is not None:
            return dict(final)
        version = log.version
        cached = job.cache
        if cached is not None and cached[0] == version:
            return dict(cached[1])
        snap = _read_only(log.snapshot())
        if job.final_metrics is None:
            job.cache = (version, snap)
        return dict(snap)

    def jobs(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Status of every known job (or only ``owner``'s), in submission order."""
        with self._lock:
            return [self._status(j) for j in self._jobs.values() if owner is None or j.owner == owner]

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job has ended (and its thread is gone) or ``timeout`` seconds passed; returns its status."""
        job = self._get(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        if job.finished.wait(timeout):
            thread = job.thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._lock:
            return self._status(job)

    # --- control ----------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one never starts (nothing recorded, no record); a running one stops at its next
        batch / iteration and keeps (and saves) what it recorded. False if it had already ended."""
        job = self._get(job_id)
        with self._lock:
            if job.state == "queued":
                self._queue.remove(job)
                job.state, job.ended = "cancelled", time.time()
                job.final_metrics, job.summary = {}, {}
                self._ended.append(job)
                self._forget_old()
                job.finished.set()
                logger.info("job %s cancelled before it started", job_id)
                return True
            if job.state == "running":
                job.request_stop()
                logger.info("job %s asked to stop", job_id)
                return True
            return False

    def forget(self, job_id: str) -> None:
        """Drop an ended job from the list (its record, if saved, stays on disk). Running jobs cannot be dropped."""
        job = self._get(job_id)
        with self._lock:
            if job.state not in FINISHED_STATES:
                raise RuntimeError(f"job {job_id} is {job.state}; cancel it first")
            self._jobs.pop(job_id, None)
            if job in self._ended:
                self._ended.remove(job)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Refuse new jobs, cancel queued ones, stop running ones and (``wait``) join their threads."""
        with self._lock:
            self._closed = True
            for job in list(self._queue):
                self.cancel(job.job_id)
            running = list(self._running)
            for job in running:
                job.request_stop()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for job in running:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                job.finished.wait(remaining)
                thread = job.thread
                if thread is not None and thread is not threading.current_thread():
                    thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


@dataclass
class _SweepResult:
    """What a sweep job ended with (its records are on disk already)."""

    config: Any
    metrics: dict[str, np.ndarray]
    summary: dict[str, Any]
    state: str
    error: str | None = None
    save_error: str | None = None


def _release_gpu_memory() -> None:
    """After a failure (often out of memory) give cached CUDA blocks back so the next job has room."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort
        pass
