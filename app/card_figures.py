"""The gallery cards' charts, kept on disk between servers: building them means reading every record of a chapter
(10 seeds' metrics each) and smoothing their losses, about a second of a fresh server's CPU per chapter, and they
only change when the records, the charts' code or the card's choices do.

A card's figures are stored as plotly's JSON (never pickle) in ``<cache>/gallery-figures/``
(``ipcore.locations.cache_dir``), written atomically (a temporary file, then a rename), under a name that is the
SHA-256 of everything they depend on: the entry's id, its records' ids and creation times, the card's choices
(spread, whether the per-part fixed-point charts are included) and the source of the code that reads records and
draws them (``ipcore/charts/``, ``ipcore/results/``, ``ipcore/gallery/``, ``ipcore/specs/``, ``ipcore/config.py``,
``pages/gallery.py``) with numpy's and plotly's versions. Nothing of it comes from a browser but the choices, which
only enter the digest. A file that cannot be read or does not look like a list of figures is rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import ipcore
from app.assessments import source_digest, store_text
from ipcore.locations import cache_dir

FOLDER = "gallery-figures"
PACKAGE = Path(ipcore.__file__).resolve().parent
GALLERY_PAGE = PACKAGE.parent / "pages" / "gallery.py"


@functools.cache
def code_version() -> str:
    """A digest of the code a card's figures depend on (the chart builders, the record readers, the gallery's
    entries and the page that picks the charts) and of numpy's and plotly's versions."""
    folders = ("charts", "results", "gallery", "specs")
    paths = [*(p for f in folders for p in (PACKAGE / f).glob("*.py")), PACKAGE / "config.py"]
    return source_digest(sorted(paths) + [GALLERY_PAGE], ("numpy", "plotly"))


def figures_path(entry_id: str, signature: tuple, choices: dict[str, Any], folder: Path | None = None) -> Path:
    """Where the figures of ``entry_id`` on the records ``signature`` ((run id, created) pairs) drawn with
    ``choices`` are kept."""
    key = json.dumps([entry_id, [list(pair) for pair in signature], choices, code_version()],
                     separators=(",", ":"), sort_keys=True)  # fmt: skip
    return (folder or cache_dir() / FOLDER) / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def _looks_like_figures(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, list) and len(item) == 2 and isinstance(item[0], dict) and isinstance(item[1], str)
        for item in value
    )


def read(path: Path) -> list[tuple[Any, str]] | None:
    """The stored figures as fresh ``go.Figure``s (a caller may change them), or None when there are none or
    the file is unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _looks_like_figures(value):
        return None
    import plotly.graph_objects as go

    try:
        return [(go.Figure(spec), name) for spec, name in value]
    except (ValueError, TypeError):  # plotly refuses what it did not write: rebuild
        return None


def write(path: Path, figures: list[tuple[Any, str]]) -> None:
    """Store ``figures`` atomically; a folder that cannot be written only costs the next server the time."""
    import plotly.io as pio

    try:
        text = "[" + ",".join(f"[{pio.to_json(fig, validate=False)},{json.dumps(name)}]" for fig, name in figures)
    except ValueError:  # a figure JSON cannot hold: rebuilt next time
        return
    store_text(path, text + "]", ".figures-")
