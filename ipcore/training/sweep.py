"""Sweeps: a grid of network trainings, trained as one lockstep model per architecture, on this machine or on Ray.

A ``SweepConfig`` names one architecture and dataset and a grid of learning rates × η values. Every grid point
compares the same rules over the same seeds, so all points together are one ``LockstepMLP``: the rules are
repeated once per point (rule group p·R + r runs rule r with point p's η) and Adam steps every member with its
point's learning rate (``ipcore.engine.optim.MemberAdam``). Members of the same seed see the same batches whatever their
point, exactly as a plain run of that point would, so each point's numbers equal training it alone to float
rounding (tests/test_sweep.py).

Backends:

- ``local``: every chunk of points trains in this process, one chunk after the other (by default the whole grid
  is one chunk: one batched model);
- ``ray``: every chunk is one Ray task (``ipcore.training.sweep_ray``), so a grid spreads over a cluster.

Both train a chunk with ``ipcore.training.grid.train_points``.

Either way the driver writes one record per grid point (atomically, ``records.save_run``) under a run id made
from the sweep's name and the point, and skips points whose record is already there: re-running a sweep with the
same name resumes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ipcore.config import ConfigError, SweepConfig
from ipcore.results.metrics_log import RunResult
from ipcore.results.records import RUN_ID_PATTERN, check_name, json_ready, read_meta, run_dir, save_run, slugify
from ipcore.training.grid import Point, train_points

# --- records ------------------------------------------------------------------------------------------


def point_label(sweep: SweepConfig, point: Point) -> str:
    """``lr0.01-ip0.0001``: the learning rate and the η of each swept rule (what varies over the grid)."""
    lr, eta = point
    parts = [f"lr{lr:g}"] + [f"{rule}{eta[rule]:g}" for rule in sweep.eta]
    return "-".join(parts)


def point_run_id(name: str, sweep: SweepConfig, point: Point) -> str:
    """The record id of a grid point: ``<name>-<point label>``, or with a hash when that would be too long.

    Deterministic, so a re-run of a sweep under the same name finds the points already done.
    """
    base = slugify(name, 60) or "sweep"
    label = slugify(point_label(sweep, point), 120).replace("+", "")
    run_id = f"{base}-{label}"
    if len(run_id) > 128 or not RUN_ID_PATTERN.fullmatch(run_id):
        digest = hashlib.sha1(json_ready_point(point).encode()).hexdigest()[:12]
        run_id = f"{base}-{digest}"
    return run_id


def json_ready_point(point: Point) -> str:
    lr, eta = point
    return repr((float(lr), sorted((k, float(v)) for k, v in eta.items())))


def finished_record(runs_dir: str | Path, run_id: str) -> dict[str, Any] | None:
    """The stored metadata of a finished ("done") record ``run_id``, or None (missing, cancelled, unreadable)."""
    folder = run_dir(runs_dir, run_id)
    if not folder.is_dir():
        return None
    try:
        meta = read_meta(folder)
    except (OSError, ValueError):
        return None
    return meta if meta.get("state") == "done" else None


def part_entry(point: Point, run_id: str, summary: dict[str, Any]) -> dict[str, Any]:
    """One entry of the CLI's ``parts`` list: the point, its record and per rule the headline numbers.

    ``collapsed``: the number of collapsed seeds when the run's summary reports it per rule, else 0.
    """
    lr, eta = point
    rules = []
    for entry in summary.get("rules") or []:
        collapsed = entry.get("collapsed", 0)
        if isinstance(collapsed, list):
            collapsed = len(collapsed)
        rules.append(
            {
                "rule": entry["rule"],
                "final_train_loss": entry.get("final_train_loss"),
                "test_accuracy": entry.get("test_accuracy"),
                "diverged": entry.get("diverged", 0),
                "collapsed": int(collapsed or 0),
                "grad_y_u": entry.get("grad_y_u"),
            }
        )
    return {"lr": lr, "eta": dict(eta), "run_id": run_id, "rules": rules}


def chunks(points: Sequence[Point], size: int) -> list[list[Point]]:
    """``points`` in consecutive chunks of at most ``size`` (each chunk trains as one model)."""
    size = max(1, size)
    return [list(points[i : i + size]) for i in range(0, len(points), size)]


@dataclasses.dataclass
class SweepOutcome:
    """What a sweep did: the backend, its wall time and one ``part_entry`` per grid point in grid order
    (None for a point that was not finished, e.g. after Ctrl-C), whether it was interrupted, and the messages of
    parts that failed."""

    backend: str
    seconds: float
    parts: list[dict[str, Any] | None]
    interrupted: bool = False
    errors: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return json_ready(
            {"backend": self.backend, "seconds": self.seconds, "parts": [p for p in self.parts if p is not None]}
        )


def run_sweep(
    sweep: SweepConfig,
    *,
    name: str,
    runs_dir: str | Path,
    backend: str = "local",
    ray_address: str | None = None,
    points_per_part: int = 0,
    on_part: Callable[[int, dict[str, Any]], None] | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data_source: str = "driver",
) -> SweepOutcome:
    """Run every grid point of ``sweep`` that has no finished record under ``name`` yet; write one record each.

    ``points_per_part``: grid points per model (a part); 0 = automatic (local: the whole grid as one model;
    ray: one point per task, so the grid spreads over the cluster). ``on_part(index, entry)`` is called as each
    point's record is written (or found). ``data_source`` (ray only): "driver" ships the dataset through Ray's
    object store; "node" lets each worker load it from its own data root (``$IPCORE_DATA``).
    """
    name = check_name(name)
    if backend not in ("local", "ray"):
        raise ConfigError("backend", f"must be local or ray (got {backend!r})")
    if data_source not in ("driver", "node"):
        raise ConfigError("data_source", f"must be driver or node (got {data_source!r})")
    started = time.perf_counter()
    points = sweep.points()
    run_ids = [point_run_id(name, sweep, p) for p in points]
    if len(set(run_ids)) != len(run_ids):
        raise ConfigError("lr", "two grid points would share one record id; use distinct values")
    entries: list[dict[str, Any] | None] = [None] * len(points)
    todo = []
    for index, (point, run_id) in enumerate(zip(points, run_ids, strict=True)):
        meta = finished_record(runs_dir, run_id)
        if meta is not None:
            entries[index] = part_entry(point, run_id, meta.get("summary") or {})
            if on_part is not None:
                on_part(index, entries[index])
        else:
            todo.append(index)

    def save(index: int, result: RunResult, extra: dict[str, Any]) -> None:
        label = point_label(sweep, points[index])
        run_id = save_run(runs_dir, result, name=name, experiment=name, part=label, run_id=run_ids[index], extra=extra)
        if result.state == "done":
            entries[index] = part_entry(points[index], run_id, result.summary)
            if on_part is not None:
                on_part(index, entries[index])

    per_part = points_per_part or (len(todo) if backend == "local" else 1)
    parts = chunks(todo, per_part)
    errors: list[str] = []
    if backend == "local":
        interrupted = _run_local(sweep, points, parts, save, progress, should_stop)
    else:
        from ipcore.training.sweep_ray import run_ray

        interrupted, errors = run_ray(sweep, points, parts, save, ray_address, progress, should_stop, data_source)
    return SweepOutcome(backend, time.perf_counter() - started, entries, interrupted, errors)


def _run_local(
    sweep: SweepConfig,
    points: Sequence[Point],
    parts: list[list[int]],
    save: Callable[[int, RunResult, dict[str, Any]], None],
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> bool:
    """Each part as one model in this process; a stop request ends the running part as cancelled (its records
    are kept as cancelled and recomputed on resume) and skips the rest. Returns whether it was stopped."""
    total = sum(len(p) for p in parts)
    done = 0
    for part in parts:
        if should_stop is not None and should_stop():
            return True

        def part_progress(fraction: float, done: int = done, size: int = len(part)) -> None:
            if progress is not None:
                progress((done + fraction * size) / max(total, 1))

        results = train_points(sweep, [points[i] for i in part], progress=part_progress, should_stop=should_stop)
        for index, result in zip(part, results, strict=True):
            save(index, result, {"backend": "local"})
        done += len(part)
        if any(r.state != "done" for r in results):
            return True
    return False


def default_sweep_name(sweep: SweepConfig) -> str:
    """A name for an unnamed sweep: the dataset, depth and rules plus a digest of the whole grid (so the same
    grid resumes under the same name)."""
    digest = hashlib.sha1(sweep.to_json().encode()).hexdigest()[:8]
    return f"sweep-{slugify(sweep.dataset, 20)}-d{sweep.depth}-{'-'.join(sweep.rules)}-{digest}"


def members(sweep: SweepConfig) -> int:
    """Networks in the whole grid: points × rules × seeds."""
    return len(sweep.points()) * len(sweep.rules) * sweep.seeds
