"""Run records: every run kept as one folder under a runs directory, reloadable without pickle.

Layout of one record, ``<runs_dir>/<run_id>/``:

- ``config.json``  — the full config (``Config.to_dict``), rebuilt on load through ``config.config_from_dict``;
- ``summary.json`` — the run's own summary (``"summary"``, the CLI's JSON) plus metadata: ``schema``, ``run_id``,
  ``kind``, ``name``, ``experiment``, ``part``, ``state`` (done | cancelled | failed), ``error``, ``diverged``,
  ``created``/``started``/``ended`` (ISO 8601), ``timestamp`` (end, Unix seconds), ``seconds``, ``device``, ``versions`` (ipcore, torch, numpy,
  python), ``metrics_index`` ({name: {shape, dtype}}), ``metrics_bytes`` and ``extra``;
- ``metrics.npz``  — the metrics (``np.savez_compressed``; strings as fixed-width unicode, never objects), read
  back with ``allow_pickle=False``.

Writes are atomic: the three files go into a hidden temporary folder inside ``runs_dir`` (``.tmp-*``), are
fsynced, and the folder is renamed to its final name, so a crash never leaves a record that looks complete.
``list_runs`` skips (with a logged warning) any folder that is corrupt, half-written or of an unknown schema, or
whose metadata has the wrong types (so every listed entry has a known ``kind`` and a float ``timestamp``): one bad
record hides only itself. Symbolic links are never followed: a linked record folder is not listed and cannot be
loaded or deleted (RunNotFound), and a record whose files are links is a CorruptRecord.

Records are compacted on save: float64 → float32, histograms (metric names ending in ``hist``) → float16 when
their values fit, int64 → int32 when they fit.

Run ids are ``YYYYMMDD-HHMMSS-<label>-<4 hex>`` where the label is the user's name, sanitised (ASCII letters,
digits, ``._-``), or ``<kind>-<rules>``; gallery records use ids ``gallery-<experiment>-<part>`` given
explicitly. No id or name can point outside the runs folder: ``..``, absolute paths, path separators and NUL
bytes are rejected with a ``ConfigError`` naming the field.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import math
import os
import platform
import re
import secrets
import shutil
import tempfile
import threading
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

import ipcore
from ipcore.config import CONFIG_KINDS, Config, ConfigError, config_from_dict
from ipcore.jsonable import json_ready
from ipcore.locations import default_runs_dir  # $IPCORE_RUNS_DIR, else ~/.local/share/ipcore/runs

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CONFIG_FILE, SUMMARY_FILE, METRICS_FILE = "config.json", "summary.json", "metrics.npz"
RUN_STATES = ("done", "cancelled", "failed")
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_NAME_LENGTH = 200
LABEL_LENGTH = 40
STALE_TEMP_SECONDS = 24 * 3600


class RunNotFound(FileNotFoundError):
    """No record with that id in the runs folder."""


class CorruptRecord(ValueError):
    """A record folder exists but cannot be read (half-written, damaged, unknown schema)."""


@dataclass
class RunRecord:
    """A stored run: its id, rebuilt config, the run's own summary, the metrics and all metadata."""

    run_id: str
    config: Config
    summary: dict[str, Any]
    metrics: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)  # the whole summary.json (summary included)


# --- paths, ids and names -----------------------------------------------------------------------------


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a safe folder name (letters, digits, ``._-``, no ``..``, ≤ 128 chars); else ConfigError."""
    if not isinstance(run_id, str):
        raise ConfigError("run_id", f"must be text (got {run_id!r})")
    if "\x00" in run_id:
        raise ConfigError("run_id", "must not contain NUL bytes")
    if "/" in run_id or "\\" in run_id or os.sep in run_id:
        raise ConfigError("run_id", f"must be a plain folder name without path separators (got {run_id!r})")
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise ConfigError(
            "run_id",
            f"must be 1–128 characters from A–Z a–z 0–9 . _ -, start with a letter or digit and not contain "
            f"'..' (got {run_id!r})",
        )
    return run_id


NAME_PUNCTUATION = " _-.,:;+=()#!?@"
"""The characters a new name may hold besides letters and digits (of any script): none of them is markup in
plotly's pseudo-HTML (``<``, ``&``), Markdown (``*``, ``[``, backticks), LaTeX (``$``) or a hover template
(``%{``), so a name is shown as written wherever it appears."""
NAME_ALPHABET_TEXT = "letters, digits, spaces and _ - . , : ; + = ( ) # ! ? @"


def check_name(name: Any) -> str:
    """A new run or sweep name, as a user gives it (command line, app, job manager, sweep): text up to 200
    characters from ``NAME_ALPHABET_TEXT`` — letters and digits of any script, spaces and a few punctuation
    marks that no renderer reads as markup — with no ``..``. Otherwise a ConfigError on ``name`` that names the
    first character refused and the allowed ones. Records saved before this rule may hold anything
    ``check_stored_name`` allows; every view escapes names anyway (``ipcore.jobs.serving.plot_text``, ``app.text.plain``)."""
    name = check_stored_name(name)
    for char in name:
        if not (char.isalnum() or char in NAME_PUNCTUATION or unicodedata.category(char).startswith("M")):
            shown = repr(char) if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"
            raise ConfigError("name", f"must hold only {NAME_ALPHABET_TEXT} (got {shown} in {name!r})")
    return name


def check_stored_name(name: Any) -> str:
    """A name as a record may store it: free text up to 200 characters, but no path separators, ``..``, NUL or
    controls (what every record ever saved satisfies; new names pass the stricter ``check_name``)."""
    if not isinstance(name, str):
        raise ConfigError("name", f"must be text (got {name!r})")
    if "\x00" in name:
        raise ConfigError("name", "must not contain NUL bytes")
    if "/" in name or "\\" in name:
        raise ConfigError("name", f"must not contain path separators / or \\ (got {name!r})")
    if ".." in name:
        raise ConfigError("name", f"must not contain '..' (got {name!r})")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ConfigError("name", "must not contain control characters")
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError("name", f"must be at most {MAX_NAME_LENGTH} characters (got {len(name)})")
    if not name.strip():
        raise ConfigError("name", "must not be empty")
    return name.strip()


def owner_digest(owner: str) -> str:
    """What a record stores of the key of the browser (or other owner) that made it: the key's SHA-256, so the
    record proves ownership to whoever holds the key without ever showing the key (``app.owner``)."""
    return hashlib.sha256(owner.encode()).hexdigest()


def slugify(text: str, length: int = LABEL_LENGTH) -> str:
    """ASCII letters, digits and ``._-`` only (accents dropped, other runs of characters → ``-``), ≤ ``length``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text)
    slug = re.sub(r"\.{2,}", ".", re.sub(r"-{2,}", "-", slug))
    return slug[:length].strip("-._")


def run_dir(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of ``run_id``, checked to lie directly inside ``runs_dir``."""
    check_run_id(run_id)
    root = Path(runs_dir).resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ConfigError("run_id", f"{run_id!r} does not name a folder inside {root}")
    return path


def new_run_id(config: Config, name: str | None = None, when: dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-<label>-<4 hex>``: label = the sanitised name, else ``<kind>-<rule>-<rule>…``."""
    stamp = (when or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    label = slugify(name) if name else ""
    if not label:
        rules = list(getattr(config, "rules", []) or [])
        label = slugify("-".join([config.kind, *rules])) or "run"
    return check_run_id(f"{stamp}-{label}-{secrets.token_hex(2)}")


# --- compaction and JSON ------------------------------------------------------------------------------

FLOAT16_MAX = float(np.finfo(np.float16).max)
INT32 = np.iinfo(np.int32)


def _is_histogram(name: str) -> bool:
    return name.rsplit("/", 1)[-1].endswith("hist")


def compact_array(name: str, value: Any) -> np.ndarray:
    """One metric as stored: float64 → float32, histograms → float16 (when every finite value fits), int64 →
    int32 (when it fits), strings as fixed-width unicode. Object arrays that are not all text are an error."""
    array = np.asarray(value)
    if array.dtype == object:
        if not all(isinstance(v, str) for v in array.ravel()):
            raise TypeError(f"metric {name!r} holds Python objects; store numbers or text only")
        array = array.astype(str)
    if array.dtype.kind == "f":
        finite = array[np.isfinite(array)]
        if _is_histogram(name) and (finite.size == 0 or float(np.abs(finite).max()) < FLOAT16_MAX):
            return array.astype(np.float16)
        if array.dtype.itemsize > 4:
            with np.errstate(over="ignore"):
                return array.astype(np.float32)
        return array
    if array.dtype.kind in "iu" and array.dtype.itemsize > 4:
        if array.size == 0 or (int(array.min()) >= INT32.min and int(array.max()) <= INT32.max):
            return array.astype(np.int32)
    return array


def compact_metrics(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Every metric compacted as it will be stored (so a live view can show exactly what a reload will)."""
    return {name: compact_array(name, value) for name, value in metrics.items()}


# --- saving -------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import torch

    return {
        "ipcore": ipcore.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def run_device(result: Any) -> str:
    """Where the run ran: the summary's ``device`` if it says, else the config's (``auto`` resolved as the train
    engine does: CUDA when available), else ``cpu`` (the single-neuron simulator always runs on the CPU)."""
    summary = getattr(result, "summary", None) or {}
    if isinstance(summary, Mapping) and isinstance(summary.get("device"), str):
        return summary["device"]
    device = getattr(result.config, "device", None)
    if not device:
        return "cpu"
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def _diverged(summary: Mapping[str, Any]) -> bool:
    rules = summary.get("rules") if isinstance(summary, Mapping) else None
    if not isinstance(rules, list):
        return False
    return any(isinstance(r, Mapping) and (r.get("diverged") or r.get("nonfinite")) for r in rules)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _write_file(path: Path, write: Any) -> None:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(root: Path) -> None:
    """Delete temporary folders that a crashed save left behind more than a day ago."""
    now = time.time()
    for entry in root.glob(".tmp-*"):
        try:
            if entry.is_dir() and now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def save_run(
    runs_dir: str | os.PathLike | None,
    result: Any,
    *,
    name: str | None = None,
    experiment: str | None = None,
    part: str | None = None,
    state: str | None = None,
    extra: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    error: str | None = None,
    started: float | None = None,
    ended: float | None = None,
) -> str:
    """Store ``result`` (anything with ``config``, ``metrics``, ``summary``, ``state``) atomically; returns its id.

    ``runs_dir`` None means ``default_runs_dir()``. ``state`` overrides ``result.state``; ``error`` is the failure
    message of a failed run; ``started``/``ended`` are ``time.time()`` stamps (default: ended now, started
    ``summary["seconds"]`` earlier). Without ``run_id`` a fresh unique id is generated from the name (or the kind
    and rules); with an explicit ``run_id`` (gallery records) an existing record of that id is replaced.
    """
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    config: Config = result.config
    if name is not None:
        name = check_stored_name(name)  # callers that take a new name from a user check it with check_name
    for field_name, value in (("experiment", experiment), ("part", part)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(field_name, f"must be text (got {value!r})")
    state = state or getattr(result, "state", None) or "done"
    if state not in RUN_STATES:
        raise ConfigError("state", f"must be one of {', '.join(RUN_STATES)} (got {state!r})")
    if run_id is not None:
        run_dir(root, run_id)  # validates before anything is written

    summary = json_ready(dict(getattr(result, "summary", None) or {}))
    ended = time.time() if ended is None else ended
    if started is None:
        seconds = summary.get("seconds") if isinstance(summary.get("seconds"), (int, float)) else 0.0
        started = ended - float(seconds)
    metrics = compact_metrics(result.metrics)

    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        _write_file(temp / METRICS_FILE, lambda h: np.savez_compressed(h, **metrics))
        _write_file(temp / CONFIG_FILE, lambda h: h.write(json.dumps(config.to_dict(), indent=1).encode()))

        def meta_for(final_id: str) -> dict[str, Any]:
            return {
                "schema": SCHEMA_VERSION,
                "run_id": final_id,
                "kind": config.kind,
                "name": name,
                "experiment": experiment,
                "part": part,
                "state": state,
                "error": error,
                "diverged": _diverged(summary),
                "created": _iso(ended),
                "started": _iso(started),
                "ended": _iso(ended),
                "seconds": round(ended - started, 3),
                "timestamp": ended,
                "device": run_device(result),
                "versions": versions(),
                "metrics_index": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in metrics.items()},
                "metrics_bytes": (temp / METRICS_FILE).stat().st_size,
                "extra": json_ready(dict(extra or {})),
                "summary": summary,
            }

        def write_meta(final_id: str) -> None:
            text = json.dumps(meta_for(final_id), indent=1, allow_nan=False)
            _write_file(temp / SUMMARY_FILE, lambda h: h.write(text.encode()))

        if run_id is not None:
            final = run_dir(root, run_id)
            write_meta(run_id)
            _fsync_dir(temp)
            _replace_dir(temp, final)
        else:
            for _ in range(100):
                run_id = new_run_id(config, name, dt.datetime.fromtimestamp(ended))
                final = run_dir(root, run_id)
                if final.exists():
                    continue
                write_meta(run_id)
                _fsync_dir(temp)
                try:
                    os.rename(temp, final)  # fails if another writer took the id meanwhile (non-empty folder)
                    break
                except OSError:
                    if not final.exists():
                        raise
            else:  # pragma: no cover - 100 collisions of 16 random bits in one second
                raise FileExistsError(f"could not find a free run id in {root}")
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _fsync_dir(root)
    logger.info("saved run %s (%s, %s) to %s", run_id, config.kind, state, root)
    return run_id


def copy_run(
    runs_dir: str | os.PathLike | None, source_id: str, *, run_id: str, experiment: str | None, part: str | None
) -> str:
    """Store the finished record ``source_id`` again as ``run_id`` (atomically, through ``save_run``), keeping its
    config, metrics, summary, device and times; ``extra["copied_from"]`` names the source. The gallery uses it
    when two parts share one config, so that it is computed once."""
    source = load_run(runs_dir, source_id)
    summary = dict(source.summary)
    if isinstance(source.meta.get("device"), str):  # where the source ran, not where this copy is made
        summary["device"] = source.meta["device"]
    result = SimpleNamespace(config=source.config, metrics=source.metrics, summary=summary, state=source.meta["state"])
    started, ended = (dt.datetime.fromisoformat(source.meta[k]).timestamp() for k in ("started", "ended"))
    extra = {**(source.meta.get("extra") or {}), "copied_from": source_id}
    return save_run(runs_dir, result, experiment=experiment, part=part, run_id=run_id, extra=extra,
                    started=started, ended=ended)  # fmt: skip


def _replace_dir(temp: Path, final: Path) -> None:
    """Move ``temp`` to ``final``; an existing ``final`` is first moved aside and deleted after the swap."""
    aside = None
    if final.exists():
        aside = Path(tempfile.mkdtemp(prefix=".tmp-old-", dir=final.parent))
        os.rename(final, aside / "record")
    try:
        os.rename(temp, final)
    except BaseException:
        if aside is not None:
            os.rename(aside / "record", final)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


# --- reading ------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptRecord(f"{path.parent.name}: {path.name} is missing (half-written record?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptRecord(f"{path.parent.name}: {path.name} is not valid JSON ({err})") from None


def read_meta(folder: Path) -> dict[str, Any]:
    """summary.json of a record folder, checked: known schema, matching id, known state, metrics present."""
    meta = _read_json(folder / SUMMARY_FILE)
    if not isinstance(meta, dict):
        raise CorruptRecord(f"{folder.name}: {SUMMARY_FILE} is not a JSON object")
    schema = meta.get("schema")
    if schema != SCHEMA_VERSION:
        raise CorruptRecord(f"{folder.name}: unknown record schema {schema!r} (this ipcore reads {SCHEMA_VERSION})")
    if meta.get("run_id") != folder.name:
        raise CorruptRecord(f"{folder.name}: summary.json names run {meta.get('run_id')!r}")
    if meta.get("state") not in RUN_STATES:
        raise CorruptRecord(f"{folder.name}: unknown state {meta.get('state')!r}")
    if not isinstance(meta.get("summary"), dict):
        raise CorruptRecord(f"{folder.name}: summary.json has no summary")
    _check_meta_types(folder.name, meta)
    return meta


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_meta_types(run_id: str, meta: dict[str, Any]) -> None:
    """Every metadata field a reader formats or sorts by has its type (a hand-edited or damaged summary.json with
    ``"kind": null`` or ``"timestamp": "x"`` is a CorruptRecord, not a crash in the listing); ``timestamp`` and
    ``seconds`` become floats, so every listed record sorts by a number."""

    def bad(key: str, what: str) -> CorruptRecord:
        return CorruptRecord(f"{run_id}: {SUMMARY_FILE} field {key!r} must be {what} (got {meta.get(key)!r})")

    if meta.get("kind") not in CONFIG_KINDS:
        raise bad("kind", f"one of {', '.join(CONFIG_KINDS)}")
    for key in ("timestamp", "seconds"):
        if not _finite_number(meta.get(key)):
            raise bad(key, "a finite number")
        meta[key] = float(meta[key])
    if "metrics_bytes" in meta and not _finite_number(meta["metrics_bytes"]):
        raise bad("metrics_bytes", "a number")
    for key in ("name", "experiment", "part", "error", "created", "started", "ended", "device"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise bad(key, "text or null")
    for key in ("versions", "extra", "metrics_index"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise bad(key, "an object or null")
    if meta.get("diverged") is not None and not isinstance(meta["diverged"], bool):
        raise bad("diverged", "true or false")
    rules = meta["summary"].get("rules")
    if rules is not None and not isinstance(rules, list):
        raise CorruptRecord(f"{run_id}: {SUMMARY_FILE} summary's 'rules' must be a list (got {rules!r})")


def _read_config(folder: Path) -> Config:
    data = _read_json(folder / CONFIG_FILE)
    if not isinstance(data, dict):
        raise CorruptRecord(f"{folder.name}: {CONFIG_FILE} is not a JSON object")
    try:
        return config_from_dict(data)
    except ConfigError as err:
        raise CorruptRecord(f"{folder.name}: stored config is not valid here ({err})") from None


def load_config(runs_dir: str | os.PathLike | None, run_id: str) -> Config:
    """The stored config of ``run_id`` alone (no metrics read): a CorruptRecord when it is not a valid config."""
    return _read_config(run_dir(Path(runs_dir) if runs_dir is not None else default_runs_dir(), run_id))


def _check_kind(folder: Path, meta: dict[str, Any], config: Config) -> None:
    """summary.json's ``kind`` and config.json's must agree: the views pick their charts by one and read the
    metrics by the other."""
    if meta.get("kind") != config.kind:
        raise CorruptRecord(
            f"{folder.name}: {SUMMARY_FILE} says kind {meta.get('kind')!r} but {CONFIG_FILE} holds a "
            f"{config.kind!r} config"
        )


TABLE_INDEX = {"batch": "batch/step", "epoch": "epoch/epoch", "layer": "layer/step", "hist": "hist/step",
               "trace": "trace/iter"}  # fmt: skip
"""Each time table's row index: every ``table/…`` metric has one row per entry of it."""
TABLE_NDIM = {"batch": 2, "epoch": 2, "layer": 3, "hist": 4, "trace": 2}
"""Dimensions of a table's metrics: rows × members (networks) or rules (neurons), then layers, then bins."""
TABLE_NDIM_EXCEPTIONS = {"batch/epoch": 1, "trace/hist": 3}


def metric_shape_problem(kind: str, metrics: Mapping[str, np.ndarray]) -> str | None:
    """Why ``metrics`` cannot be a ``kind`` run's (None when they can): the shapes the views index by, as
    ``ipcore.charts`` documents them — a table's metrics with its row index's length and their own number of
    dimensions, every network metric with one column per member (``members_rule``), every neuron metric with
    one per rule, every layer metric with the same layers. Metrics may be missing (a run that failed early);
    those present must agree, so that a damaged or hand-made record is refused instead of crashing a chart."""
    shapes = {name: np.shape(value) for name, value in metrics.items()}
    for table, index in TABLE_INDEX.items():
        names = [n for n in shapes if n.startswith(table + "/")]
        if not names:
            continue
        rows = shapes.get(index)  # a run that failed before its first row may lack it
        if rows is not None and len(rows) != 1:
            return f"{index} must be one-dimensional (got shape {rows})"
        for name in names:
            want = 1 if name == index else TABLE_NDIM_EXCEPTIONS.get(name, TABLE_NDIM[table])
            if len(shapes[name]) != want:
                return f"{name} must have {want} dimension(s) (got shape {shapes[name]})"
            if rows is not None and shapes[name][0] != rows[0]:
                return f"{name} must have {rows[0]} rows, one per entry of {index} (got shape {shapes[name]})"
    columns_of = "members_rule" if kind == "train" else "rules"
    if columns_of in shapes:
        if len(shapes[columns_of]) != 1:
            return f"{columns_of} must be one-dimensional (got shape {shapes[columns_of]})"
        columns = shapes[columns_of][0]
        for name, shape in shapes.items():
            if len(shape) >= 2 and name.split("/", 1)[0] in TABLE_INDEX and shape[1] != columns:
                return f"{name} must have {columns} columns, one per entry of {columns_of} (got shape {shape})"
        for name in ("members_seed", "diverged_step", "dead_output_units", "alpha_nonpositive_final"):
            if kind == "train" and name in shapes and (not shapes[name] or shapes[name][0] != columns):
                return f"{name} must have {columns} rows, one per member (got shape {shapes[name]})"
    if kind == "train" and "members_rule" in metrics and "rules" in metrics:
        unknown = set(np.asarray(metrics["members_rule"]).astype(str)) - set(np.asarray(metrics["rules"]).astype(str))
        if unknown:
            return f"members_rule names rules the run did not train: {', '.join(sorted(unknown))}"
    layers = {shape[2] for name, shape in shapes.items() if name.startswith(("layer/", "hist/")) and len(shape) > 2}
    if len(layers) > 1:
        return f"the layer and histogram metrics disagree on the number of layers ({sorted(layers)})"
    return None


def _check_metrics_file(folder: Path) -> None:
    """Cheap integrity check: the .npz's zip directory reads (a truncated file fails here) and lists .npy files."""
    path = folder / METRICS_FILE
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except FileNotFoundError:
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE} is missing") from None
    except (OSError, zipfile.BadZipFile) as err:
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE} is damaged ({err})") from None
    if not all(n.endswith(".npy") for n in names):
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE} is not a NumPy archive")


def read_metrics(folder: Path) -> dict[str, np.ndarray]:
    """All arrays of a record's metrics.npz (no pickle: object arrays are refused)."""
    path = folder / METRICS_FILE
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE} is missing") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        # zlib.error: the zip directory is intact but a member's compressed bytes are damaged
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE} cannot be read ({type(err).__name__}: {err})") from None


_LISTING_CACHE: dict[str, tuple[tuple[int, ...], dict[str, Any] | None]] = {}
_LISTING_LOCK = threading.Lock()


def _signature(folder: Path) -> tuple[int, ...]:
    """Size and modification time of a record's three files (raises OSError if one is missing)."""
    stats = [(folder / name).stat() for name in (SUMMARY_FILE, CONFIG_FILE, METRICS_FILE)]
    return tuple(v for st in stats for v in (st.st_size, st.st_mtime_ns, st.st_ino))


def _listing_entry(folder: Path) -> dict[str, Any] | None:
    """The checked summary.json (+ ``"config"``) of one folder, or None (warned once) if it is not a good record.

    Results are cached per folder by the files' sizes and times, so listing a folder of many records again
    (the app does on every page) reads only what changed."""
    key = str(folder)
    try:
        signature = _signature(folder)
    except OSError:
        signature = ()
    with _LISTING_LOCK:
        cached = _LISTING_CACHE.get(key)
    if cached is not None and signature and cached[0] == signature:
        return copy.deepcopy(cached[1])
    try:
        check_run_id(folder.name)
        _check_plain_files(folder)
        meta = read_meta(folder)
        config = _read_config(folder)
        _check_kind(folder, meta, config)
        meta["config"] = config.to_dict()
        _check_metrics_file(folder)
    except (CorruptRecord, ConfigError) as err:
        logger.warning("skipping run record %s: %s", folder, err)
        meta = None
    if signature:
        with _LISTING_LOCK:
            _LISTING_CACHE[key] = (signature, copy.deepcopy(meta))
    return meta


def record_origin(meta: Mapping[str, Any]) -> str:
    """Where a record comes from: "gallery" (``gallery-*``: the committed re-runs of the thesis's figures),
    "sweep" (a grid point of a sweep: its ``experiment`` is the sweep's name) or "own" (a run of the labs or CLI)."""
    if str(meta.get("run_id", "")).startswith("gallery-"):
        return "gallery"
    return "sweep" if meta.get("experiment") else "own"


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every readable record's summary.json (plus ``"config"``), newest first.

    Hidden folders (saves in progress) are ignored; a folder that is corrupt, half-written or of an unknown
    schema is skipped with a logged warning — one bad record never breaks the listing.
    """
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    entries = []
    for folder in root.iterdir():
        # A symbolic link is never followed: it may point outside the runs folder, where load_run refuses to go.
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        meta = _listing_entry(folder)
        if meta is not None:
            entries.append(meta)
    entries.sort(key=lambda m: (_number(m.get("timestamp")), m["run_id"]), reverse=True)
    return entries


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _check_plain_files(folder: Path) -> None:
    """A record's files must be regular files, not symbolic links (which could point anywhere)."""
    for name in (SUMMARY_FILE, CONFIG_FILE, METRICS_FILE):
        if (folder / name).is_symlink():
            raise CorruptRecord(f"{folder.name}: {name} is a symbolic link; records hold plain files only")


def _record_folder(runs_dir: str | os.PathLike | None, run_id: str) -> tuple[Path, Path]:
    """The runs folder and the record's folder; RunNotFound when absent or a symbolic link (never followed)."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if (root.resolve() / check_run_id(run_id)).is_symlink():
        raise RunNotFound(f"no run {run_id!r} in {root} (a symbolic link there is not a record)")
    folder = run_dir(root, run_id)
    if not folder.is_dir():
        raise RunNotFound(f"no run {run_id!r} in {root}")
    return root, folder


def load_run(runs_dir: str | os.PathLike | None, run_id: str) -> RunRecord:
    """The record ``run_id``: config rebuilt and validated, summary, metrics, metadata.

    Raises ``ConfigError`` for an unsafe id, ``RunNotFound`` if there is no such record and ``CorruptRecord``
    if it cannot be read, or its summary and config disagree on its kind, or its metrics have shapes no view
    can read (``metric_shape_problem``).
    """
    _, folder = _record_folder(runs_dir, run_id)
    _check_plain_files(folder)
    meta = read_meta(folder)
    config = _read_config(folder)
    _check_kind(folder, meta, config)
    metrics = read_metrics(folder)
    problem = metric_shape_problem(config.kind, metrics)
    if problem is not None:
        raise CorruptRecord(f"{folder.name}: {METRICS_FILE}: {problem}")
    return RunRecord(run_id=run_id, config=config, summary=meta["summary"], metrics=metrics, meta=meta)


def delete_run(runs_dir: str | os.PathLike | None, run_id: str) -> None:
    """Remove the record ``run_id`` (moved aside atomically, then deleted). ``RunNotFound`` if absent."""
    root, folder = _record_folder(runs_dir, run_id)
    aside = Path(tempfile.mkdtemp(prefix=".tmp-del-", dir=root))
    os.rename(folder, aside / "record")
    shutil.rmtree(aside, ignore_errors=True)
    logger.info("deleted run %s from %s", run_id, root)
