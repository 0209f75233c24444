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
from the sweep's name and the point, and skips points whose finished record is already there *with the same
config*: re-running a sweep with the same name resumes it, while a different grid under that name recomputes (and
replaces) every point whose setting changed. A sweep's name is its own: a gallery experiment's id or a name
starting with ``gallery`` is refused (its records would pose as the thesis's), and in the app a name whose
records another visitor made (``owner``, stored as a digest) is refused (``check_sweep_name``). A record that
cannot be saved (a full disk, a runs folder that is a file) loses nothing computed: the point's numbers stay in
the outcome and ``save_errors`` says what was not saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ipcore.config import ConfigError, SweepConfig
from ipcore.errors import error_message
from ipcore.results.metrics_log import RunResult
from ipcore.results.records import (
    CONFIG_FILE,
    RUN_ID_PATTERN,
    check_name,
    json_ready,
    read_meta,
    run_dir,
    save_run,
    slugify,
)
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


def finished_record(runs_dir: str | Path, run_id: str, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The stored metadata of a finished ("done") record ``run_id`` whose stored config equals ``config`` (when
    given), or None (missing, cancelled, unreadable, or made with another setting)."""
    folder = run_dir(runs_dir, run_id)
    if not folder.is_dir():
        return None
    try:
        meta = read_meta(folder)
        if config is not None and json.loads((folder / CONFIG_FILE).read_text()) != json.loads(json.dumps(config)):
            return None
    except (OSError, ValueError):
        return None
    return meta if meta.get("state") == "done" else None


def owner_digest(owner: str | None) -> str | None:
    """What a record stores of the visitor who made it: a digest (the session id itself stays private)."""
    return None if owner is None else hashlib.sha256(owner.encode()).hexdigest()[:16]


def reserved_names() -> set[str]:
    """Names a sweep may not take: the gallery's experiment ids."""
    from ipcore.gallery.entries import ENTRIES

    return {entry.id.lower() for entry in ENTRIES}


def check_sweep_name(runs_dir: str | Path, name: str, owner: str | None) -> str:
    """``name`` if a sweep may write its records under it, else a ConfigError on ``name``: a gallery experiment's
    id or a name starting with ``gallery`` never (its records would show as the thesis's figures); with an
    ``owner`` (a visitor of the app), not a name whose records another visitor made. The command line (no owner)
    is the operator's and may resume any sweep."""
    name = check_name(name)
    if name.lower() in reserved_names() or slugify(name, 60).lower().startswith("gallery"):
        raise ConfigError("name", f"{name!r} belongs to the gallery's experiments; choose another sweep name")
    if owner is None:
        return name
    mine = owner_digest(owner)
    prefix = f"{slugify(name, 60) or 'sweep'}-"
    try:
        folders = [f for f in Path(runs_dir).iterdir() if f.name.startswith(prefix) and f.is_dir()]
    except OSError:
        return name
    for folder in folders:
        try:
            meta = read_meta(folder)
        except (OSError, ValueError):
            continue
        if meta.get("experiment") == name and (meta.get("extra") or {}).get("owner") != mine:
            raise ConfigError("name", f"a sweep named {name!r} was made by someone else; choose another name")
    return name


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
    (None for a point that was not finished, e.g. after Ctrl-C), whether it was interrupted, the messages of
    parts that failed, and of records that could not be saved (those points' entries have ``run_id`` None)."""

    backend: str
    seconds: float
    parts: list[dict[str, Any] | None]
    interrupted: bool = False
    errors: list[str] = dataclasses.field(default_factory=list)
    save_errors: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {"backend": self.backend, "seconds": self.seconds, "parts": [p for p in self.parts if p is not None]}
        if self.save_errors:
            out["save_errors"] = list(self.save_errors)
        return json_ready(out)


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
    owner: str | None = None,
) -> SweepOutcome:
    """Run every grid point of ``sweep`` that has no finished record under ``name`` yet; write one record each.

    ``points_per_part``: grid points per model (a part); 0 = automatic (local: the whole grid as one model;
    ray: one point per task, so the grid spreads over the cluster). ``on_part(index, entry)`` is called as each
    point's record is written (or found). ``data_source`` (ray only): "driver" ships the dataset through Ray's
    object store; "node" lets each worker load it from its own data root (``$IPCORE_DATA``). ``owner``: the
    visitor running it in the app (``check_sweep_name``; stored in each record as a digest).
    """
    name = check_sweep_name(runs_dir, name, owner)
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
        meta = finished_record(runs_dir, run_id, sweep.point_config(*point).to_dict())
        if meta is not None:
            entries[index] = part_entry(point, run_id, meta.get("summary") or {})
            if on_part is not None:
                on_part(index, entries[index])
        else:
            todo.append(index)

    save_errors: list[str] = []

    def save(index: int, result: RunResult, extra: dict[str, Any]) -> None:
        label = point_label(sweep, points[index])
        extra = {**extra, "owner": owner_digest(owner)} if owner is not None else extra
        try:
            run_id: str | None = save_run(
                runs_dir, result, name=name, experiment=name, part=label, run_id=run_ids[index], extra=extra
            )
        except (OSError, ConfigError) as error:  # the numbers are kept in the outcome; say what was not saved
            run_id = None
            save_errors.append(f"point {label}: its record could not be saved in the runs folder: "
                               f"{error_message(error)}")  # fmt: skip
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
    return SweepOutcome(backend, time.perf_counter() - started, entries, interrupted, errors, save_errors)


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
