"""Where ipcore reads and writes: one rule for each folder, used alike by the command line, the app and Python.

=============  ==========================================================================================
datasets       ``--data-root`` (a config's ``data_root``), else ``$IPCORE_DATA``, else ``~/.cache/ipcore``
               (MNIST, Fashion-MNIST and CIFAR-10 are downloaded there when the network allows)
cache          ``$IPCORE_CACHE``, else ``~/.cache/ipcore`` (decoded image folders whose own folder is read-only)
your runs      ``--runs-dir``, else ``$IPCORE_RUNS_DIR``, else ``$XDG_DATA_HOME/ipcore/runs``
               (``~/.local/share/ipcore/runs``): the records that ``--save``, the app, sweeps write
gallery        ``$IPCORE_GALLERY_DIR``, else the checkout's ``cached_runs/`` (the thesis's experiments'
               committed records) when ipcore runs from a source checkout — the repository itself or
               ``pip install -e .`` — else the runs folder (an installed package carries no records)
=============  ==========================================================================================

No folder beside the checkout is a default: a development layout such as ``../shared/datasets`` is named through
``IPCORE_DATA`` like any other folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import ipcore
from ipcore.errors import ConfigError

DATA_ENV, CACHE_ENV, RUNS_ENV, GALLERY_ENV = "IPCORE_DATA", "IPCORE_CACHE", "IPCORE_RUNS_DIR", "IPCORE_GALLERY_DIR"
DEFAULT_DATA_ROOT = "~/.cache/ipcore"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def checkout_root() -> Path | None:
    """The source checkout ipcore runs from (the folder holding ``pyproject.toml`` beside the ``ipcore``
    package), or None for an installed package (its parent is ``site-packages``)."""
    root = Path(ipcore.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def check_data_root(name: str, root: str | os.PathLike) -> None:
    """A ConfigError on ``name`` when ``root`` is a filesystem root (``/``): the datasets' folders
    (``MNIST/raw`` …) would be made at the top of the disk."""
    path = Path(root).expanduser()
    if str(root).strip() and path.resolve() == Path(path.resolve().anchor):
        raise ConfigError(name, f"must be a folder for the datasets, not the filesystem root (got {str(root)!r})")


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The datasets' folder: ``root`` (``--data-root``), else ``$IPCORE_DATA``, else ``~/.cache/ipcore``
    (never a filesystem root)."""
    chosen = str(root) if root else _env(DATA_ENV) or DEFAULT_DATA_ROOT
    check_data_root("data_root" if root else DATA_ENV, chosen)
    return Path(chosen).expanduser()


def data_root_source(root: str | os.PathLike | None = None) -> str:
    """Which rule chose the data root (for messages): the flag, the variable or the default."""
    if root:
        return "--data-root"
    return f"${DATA_ENV}" if _env(DATA_ENV) else "the default"


def cache_dir() -> Path:
    """Where derived files go when the data's own folder is read-only: ``$IPCORE_CACHE`` or ``~/.cache/ipcore``."""
    return Path(_env(CACHE_ENV) or "~/.cache/ipcore").expanduser()


def default_runs_dir() -> Path:
    """Your runs' records: ``$IPCORE_RUNS_DIR``, else ``$XDG_DATA_HOME/ipcore/runs`` (``~/.local/share/ipcore/runs``)."""
    env = _env(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    return Path(_env("XDG_DATA_HOME") or "~/.local/share").expanduser() / "ipcore" / "runs"


def checkout_gallery_dir() -> Path | None:
    """The checkout's ``cached_runs/`` (the gallery's committed records), or None outside a checkout."""
    root = checkout_root()
    return root / "cached_runs" if root is not None and (root / "cached_runs").is_dir() else None


def gallery_dir() -> Path:
    """The gallery's records: ``$IPCORE_GALLERY_DIR``, else the checkout's ``cached_runs/``, else the runs folder
    (where ``ipcore gallery`` then computes them)."""
    env = _env(GALLERY_ENV)
    if env:
        return Path(env).expanduser()
    return checkout_gallery_dir() or default_runs_dir()
