"""Sweeps launched from the app: a job kind of the server's one ``JobManager`` (``app.jobs``), so a sweep shares
the queue, the slots, the per-visitor limit, the cost budget, progress and cancel with every other job. It runs in
a process of its own (``ipcore.jobs.process``) and its grid points stream in as their records are written
(``status(...)["parts"]``).

``SweepRun`` is what a page needs to follow one: the finished points (``entries``), the progress, the state and
any error, read from the job's status. The backend is the local machine, or the Ray cluster named by
``IPCORE_RAY_ADDRESS`` when the page asks for Ray.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from app import jobs as app_jobs
from ipcore.config import SweepConfig

RAY_ADDRESS_VARIABLE = "IPCORE_RAY_ADDRESS"


def ray_address() -> str | None:
    """The Ray cluster the app may use (``$IPCORE_RAY_ADDRESS``), or None when none is configured."""
    return os.environ.get(RAY_ADDRESS_VARIABLE, "").strip() or None


@dataclass
class SweepRun:
    """One sweep started from the app and what it has produced so far (a view of its job's status)."""

    sweep_id: str
    config: SweepConfig
    name: str
    backend: str
    points: int
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    progress: float = 0.0
    state: str = "queued"  # queued, running, done, cancelled, failed
    error: str = ""
    queue_position: int | None = None
    running_jobs: int = 0

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def finished_entries(self) -> list[dict[str, Any]]:
        """The finished points in grid order."""
        return [self.entries[i] for i in sorted(self.entries)]


def start(config: SweepConfig, *, name: str, backend: str) -> str:
    """Queue ``config`` as this session's sweep named ``name``; returns its job id (ConfigError when refused)."""
    options = {"backend": backend, "ray_address": ray_address() if backend == "ray" else None}
    return app_jobs.submit(config, name=name, options=options)


def get(sweep_id: str | None) -> SweepRun | None:
    """The sweep's current view, or None when there is no such job (or it is not a sweep)."""
    status = app_jobs.status(sweep_id)
    if status is None or status["kind"] != "sweep":
        return None
    config = SweepConfig.from_dict(status["config"])
    parts = status.get("parts") or []
    entries = {int(p["index"]): {k: v for k, v in p.items() if k != "index"} for p in parts}
    problems = [status.get("error") or "", status.get("save_error") or "", status.get("stopped") or ""]
    return SweepRun(
        sweep_id=status["job_id"],
        config=config,
        name=status["name"] or "",
        backend=(status.get("options") or {}).get("backend", "local"),
        points=status.get("points") or len(config.points()),
        entries=entries,
        progress=status["progress"],
        state=status["state"],
        error="; ".join(p for p in problems if p),
        queue_position=status.get("queue_position"),
        running_jobs=status.get("running_jobs") or 0,
    )


def stop(sweep_id: str) -> None:
    """Stop this session's sweep (a queued one never starts; a running one keeps its finished points)."""
    run = get(sweep_id)
    if run is not None and any(job["job_id"] == sweep_id for job in app_jobs.my_jobs()):
        app_jobs.manager().cancel(sweep_id)
