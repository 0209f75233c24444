"""The gallery's verdicts, kept on disk between servers: assessing every figure's records takes seconds (paired
tests over seeds, scipy's Wilcoxon), and they only change when the records or the assessing code do.

A verdict (``ipcore.gallery.entries.assess``: ``verdict``, ``measured``, ``numbers``, ``parts``) is stored as JSON
(never pickle) in ``<cache>/gallery-verdicts/`` (``ipcore.locations.cache_dir``), written atomically (a temporary
file, then a rename), under a name that is the SHA-256 of everything it depends on: the entry's id, its records'
ids and creation times, and the source of the code that reads and judges them (``ipcore/gallery/``,
``ipcore/results/``, ``ipcore/specs/``, ``ipcore/config.py``) with numpy's and scipy's versions. A file that cannot be read or does not look like a verdict is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import ipcore
from ipcore.jsonable import json_ready
from ipcore.locations import cache_dir

FOLDER = "gallery-verdicts"
PACKAGE = Path(ipcore.__file__).resolve().parent


def source_digest(paths: Iterable[Path], packages: Iterable[str]) -> str:
    """A SHA-256 of the named source files (name and bytes; a missing file counts as empty) and of the installed
    versions of ``packages`` (from their metadata: no import): a disk cache's key for what its values depend on."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    for package in packages:
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()


def store_text(path: Path, text: str, prefix: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file, then a rename); a folder that cannot be written
    only costs the next server the time, so errors are dropped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        pass


@functools.cache
def code_version() -> str:
    """A digest of the code a verdict depends on: the gallery's modules, everything that reads and judges records
    (``ipcore/results/``: reader, health, statistics, records), the specs and the config, and numpy's and scipy's
    versions."""
    folders = ("gallery", "results", "specs")
    paths = sorted([*(p for f in folders for p in (PACKAGE / f).glob("*.py")), PACKAGE / "config.py"])
    return source_digest(paths, ("numpy", "scipy"))


def verdict_path(entry_id: str, signature: tuple, folder: Path | None = None) -> Path:
    """Where the verdict of ``entry_id`` on the records ``signature`` ((run id, created) pairs) is kept."""
    key = json.dumps([entry_id, [list(pair) for pair in signature], code_version()], separators=(",", ":"))
    return (folder or cache_dir() / FOLDER) / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def _looks_like_a_verdict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("verdict"), str)
        and isinstance(value.get("measured"), str)
        and isinstance(value.get("numbers", {}), dict)
    )


def read(path: Path) -> dict[str, Any] | None:
    """The stored verdict, or None when there is none or it is unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if _looks_like_a_verdict(value) else None


def write(path: Path, verdict: dict[str, Any]) -> None:
    """Store ``verdict`` atomically; a folder that cannot be written only costs the next server the time."""
    try:
        text = json.dumps(json_ready(verdict), ensure_ascii=False, allow_nan=False)
    except ValueError:  # a value JSON cannot hold: recomputed next time
        return
    store_text(path, text, ".verdict-")


def cached_verdict(
    entry_id: str, signature: tuple, compute: Callable[[], dict[str, Any]], folder: Path | None = None
) -> dict[str, Any]:
    """The stored verdict for these records and this code, else ``compute()``'s, stored for the next server."""
    path = verdict_path(entry_id, signature, folder)
    stored = read(path)
    if stored is not None:
        return stored
    verdict = compute()
    write(path, verdict)
    return verdict
