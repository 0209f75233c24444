"""Access to the server's one job manager and to the run records, with Streamlit caching.

One ``JobManager`` per server (``st.cache_resource``) runs every browser session's jobs, so the job cap
(``IPCORE_MAX_JOBS``, default 1 on a CPU) is server-wide; each job carries its owner —
so a page shows only the jobs its own browser (``app.owner``) started. Finished runs are saved in the runs folder
(``IPCORE_RUNS_DIR``, default ``~/.local/share/ipcore/runs``: ``ipcore.locations``) and appear in the gallery as
"my runs"; the gallery's committed records are read from ``ipcore.locations.gallery_dir()``.

Record listings are cached against the runs folder's signature (names and modification times of its record
folders), so a new or changed record is seen at the next rerun while an unchanged folder is never re-read.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from app.owner import owner as browser_owner
from ipcore.config import Config
from ipcore.jobs.admission import Limits
from ipcore.jobs.manager import FINISHED_STATES, JobManager, UnknownJob
from ipcore.jobs.process import warm_up
from ipcore.jobs.serving import check_browser_config
from ipcore.locations import gallery_dir
from ipcore.results.records import RunRecord, check_run_id, default_runs_dir, list_runs, load_run

ACTIVE_STATES = ("queued", "running")
__all__ = ["ACTIVE_STATES", "FINISHED_STATES", "UnknownJob"]


def runs_dir() -> Path:
    """``$IPCORE_RUNS_DIR`` if set, else ``~/.local/share/ipcore/runs`` (``ipcore.locations``)."""
    return default_runs_dir()


@st.cache_resource(show_spinner=False)
def manager_for(folder: str) -> JobManager:
    """The one job manager of this server process for a runs folder (created on first use). Jobs run in
    processes of their own (``$IPCORE_JOB_ISOLATION``: process, the default, or thread), so training never
    competes with page rendering for the interpreter lock. The operator's fair-share limits (cost budget, time
    limit, jobs per visitor, quick slot: ``ipcore.jobs.admission``, docs/serving.md) apply to every session's jobs and
    sweeps. When the server stops, running jobs are stopped and saved as cancelled with what they recorded,
    instead of being lost."""
    manager = JobManager(
        runs_dir=folder,
        isolation=os.environ.get("IPCORE_JOB_ISOLATION") or "process",
        limits=Limits.from_environment(),
    )
    if manager.isolation == "process":
        threading.Thread(target=warm_up, name="ipcore-warm-up", daemon=True).start()
    atexit.register(manager.shutdown, timeout=20)
    return manager


def manager() -> JobManager:
    """The server's job manager for the current runs folder."""
    return manager_for(str(runs_dir()))


def owner() -> str:
    """This browser's owner key (``app.owner``: kept in a cookie, so a reload keeps it): its jobs are its own."""
    return browser_owner()


def submit(config: Config, name: str | None = None, options: dict[str, Any] | None = None) -> str:
    """Queue ``config`` (validated when the page built it; a sweep with ``options``) as this session's job;
    returns the job id. A config holding what only the operator may choose (a data folder, an image folder's
    path) is refused here too, whatever page built it; the manager refuses a job over the cost budget or beyond
    this session's share (ConfigError, naming why)."""
    check_browser_config(config)
    return manager().submit(config, name=name or None, owner=owner(), options=options)


def status(job_id: str | None) -> dict[str, Any] | None:
    """The job's status, or None when there is no such job (never submitted, or forgotten by the manager)."""
    if not job_id:
        return None
    try:
        return manager().status(job_id)
    except UnknownJob:
        return None


def my_jobs() -> list[dict[str, Any]]:
    """This session's jobs, newest first."""
    return list(reversed(manager().jobs(owner=owner())))


def queue_summary() -> dict[str, int]:
    """How many jobs the whole server is running and holding in its queue."""
    states = [job["state"] for job in manager().jobs()]
    return {"running": states.count("running"), "queued": states.count("queued"), "cap": manager().max_concurrent}


# --- records ------------------------------------------------------------------------------------------


def folder_signature(folder: Path) -> tuple[tuple[str, int], ...]:
    """Names and modification times of the record folders: changes whenever a record is added or replaced."""
    try:
        with os.scandir(folder) as entries:
            return tuple(
                sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_dir() and not e.name.startswith("."))
            )
    except OSError:
        return ()


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_list(folder: str, signature: tuple) -> list[dict[str, Any]]:
    return list_runs(folder)


def folders() -> list[Path]:
    """Where records are read from: the runs folder, then — when that is elsewhere — the gallery's folder, so
    the thesis figures stay visible whatever ``IPCORE_RUNS_DIR`` says."""
    own, gallery = runs_dir(), gallery_dir()
    if not gallery.is_dir() or own.resolve() == gallery.resolve():
        return [own]
    return [own, gallery]


def runs() -> list[dict[str, Any]]:
    """Every readable record (``list_runs``), newest first; corrupt ones are skipped. From the gallery's
    folder, when it is not the runs folder, only the gallery's records (``gallery-*``) are taken."""
    seen: set[str] = set()
    merged: list[dict[str, Any]] = []
    for index, folder in enumerate(folders()):
        for meta in _cached_list(str(folder), folder_signature(folder)):
            if meta["run_id"] in seen or (index > 0 and not meta["run_id"].startswith("gallery-")):
                continue
            seen.add(meta["run_id"])
            merged.append(meta)
    return sorted(merged, key=lambda m: m.get("timestamp", 0), reverse=True)


@st.cache_resource(show_spinner=False, max_entries=256)
def _cached_record(folder: str, run_id: str, stamp: int) -> RunRecord:
    return load_run(folder, run_id)


def record(run_id: str) -> RunRecord:
    """One record, loaded once per server (records are read-only; callers must not modify the arrays)."""
    check_run_id(run_id)  # a ConfigError for ids from the address that could point outside the folder
    candidates = folders()
    folder = next((f for f in candidates if (f / run_id).is_dir()), candidates[0])
    try:
        stamp = (folder / run_id).stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _cached_record(str(folder), run_id, stamp)
