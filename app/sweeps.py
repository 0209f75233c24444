"""Sweeps launched from the app: each runs in a process of its own (``ipcore.jobs.process``, so its training never
waits for the server's interpreter lock), one at a time, and streams its grid points in as their records are
written.

A sweep (``ipcore.training.sweep.run_sweep``) writes its own records, one per grid point, so it does not go through the job
queue of single runs; instead ``SweepRun`` keeps what a page needs to follow it: the finished points (``entries``),
the progress, the state and any error. Sweeps of the whole server share one lock, so two browser sessions'
sweeps run one after the other instead of halving each other's speed. The backend is the local machine, or the Ray
cluster named by ``IPCORE_RAY_ADDRESS`` when the page asks for Ray.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from ipcore.config import SweepConfig
from ipcore.errors import error_message

RAY_ADDRESS_VARIABLE = "IPCORE_RAY_ADDRESS"


def ray_address() -> str | None:
    """The Ray cluster the app may use (``$IPCORE_RAY_ADDRESS``), or None when none is configured."""
    return os.environ.get(RAY_ADDRESS_VARIABLE, "").strip() or None


@dataclass
class SweepRun:
    """One sweep started from the app and what it has produced so far."""

    sweep_id: str
    config: SweepConfig
    name: str
    backend: str
    owner: str
    points: int
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    progress: float = 0.0
    state: str = "queued"  # queued, running, done, cancelled, failed
    error: str = ""
    started: float = field(default_factory=time.time)
    ended: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def finished_entries(self) -> list[dict[str, Any]]:
        """The finished points in grid order."""
        return [self.entries[i] for i in sorted(self.entries)]


class SweepRegistry:
    """The server's sweeps (started from any session), run one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn = threading.Lock()
        self.runs: dict[str, SweepRun] = {}

    def start(self, config: SweepConfig, *, name: str, runs_dir: str, backend: str, owner: str) -> SweepRun:
        run = SweepRun(uuid.uuid4().hex[:12], config, name, backend, owner, len(config.points()))
        with self._lock:
            self.runs[run.sweep_id] = run
        threading.Thread(target=self._work, args=(run, runs_dir), daemon=True, name=f"sweep-{run.sweep_id}").start()
        return run

    def _work(self, run: SweepRun, runs_dir: str) -> None:
        from ipcore.jobs.process import run_sweep_in_process

        with self._turn:
            if run.stop.is_set():
                run.state, run.ended = "cancelled", time.time()
                return
            run.state = "running"

            def on_part(index: int, entry: dict[str, Any]) -> None:
                run.entries[index] = entry

            def progress(fraction: float) -> None:
                run.progress = fraction

            try:
                outcome = run_sweep_in_process(
                    run.config,
                    name=run.name,
                    runs_dir=runs_dir,
                    backend=run.backend,
                    ray_address=ray_address() if run.backend == "ray" else None,
                    on_part=on_part,
                    progress=progress,
                    should_stop=run.stop.is_set,
                )
            except Exception as error:  # noqa: BLE001 - shown on the page; the finished points are kept
                run.state, run.error = "failed", error_message(error)
            else:
                run.state = "cancelled" if outcome.interrupted else ("failed" if outcome.errors else "done")
                run.error = "; ".join(outcome.errors)
                if run.state == "done":
                    run.progress = 1.0
            run.ended = time.time()

    def get(self, sweep_id: str | None) -> SweepRun | None:
        with self._lock:
            return self.runs.get(sweep_id or "")

    def stop(self, sweep_id: str) -> None:
        run = self.get(sweep_id)
        if run is not None:
            run.stop.set()


@st.cache_resource(show_spinner=False)
def registry() -> SweepRegistry:
    """The one sweep registry of this server process."""
    return SweepRegistry()
