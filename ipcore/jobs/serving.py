"""What a browser may ask of a shared server: configs without server paths, messages without server paths.

The app may be served to others, so nothing a browser sends is ever a path on the server. The operator decides
which data exist (``IPCORE_DATA`` for the datasets folder, ``IPCORE_IMAGE_FOLDERS`` for named image folders,
``IPCORE_RUNS_DIR`` for records); a browser only picks among them by name. The command line and Python keep
every option (their user is the operator).

Pure Python: no streamlit, no torch; the app calls these on every config it builds from the address or its
widgets, and on every engine message it shows.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from ipcore.config import Config, ConfigError, field_spec
from ipcore.data import DATASETS

BROWSER_FORBIDDEN_DATASETS = {name for name, spec in DATASETS.items() if not spec.browser}
"""Datasets a browser may not name: those that take a server path."""


def check_browser_config(config: Config) -> None:
    """A ConfigError (naming the field) when ``config`` holds something only the server's operator may choose:
    a field declared ``browser=False`` (``data_root``: the data folder) set to anything but its default, or a
    dataset whose spec a browser may not name (``imagefolder:PATH``, a folder given by its path)."""
    for f in dataclasses.fields(config):
        if not field_spec(type(config), f.name).browser and getattr(config, f.name) != f.default:
            raise ConfigError(
                f.name,
                f"{field_spec(type(config), f.name).help}: chosen by the server's operator, not from the browser",
            )
    dataset = getattr(config, "dataset", "")
    if isinstance(dataset, str) and dataset.partition(":")[0] in BROWSER_FORBIDDEN_DATASETS:
        from ipcore.data import image_folders

        offered = ", ".join(f"folder:{name}" for name in image_folders()) or "none on this server"
        raise ConfigError(
            "dataset",
            "a browser cannot name a folder on the server; image folders are offered by the operator "
            f"(IPCORE_IMAGE_FOLDERS) and chosen by name — offered: {offered}",
        )


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/<-])(?:~|/)(?:[^\s'\"`,;()\[\]{}<>|]*)")
"""An absolute path (``/…``) or a home path (``~…``) in running text; not a closing tag (``</b>``) nor the second
slash of an address (``https://…``)."""


def redact_paths(
    text: str, allowed: Iterable[str | os.PathLike] = (), *, named: Mapping[str, str | os.PathLike] | None = None
) -> str:
    """``text`` with every absolute path replaced by ``<server path>``, except paths inside an ``allowed``
    folder, which are kept, and paths inside a ``named`` folder, which keep only their part below it behind the
    folder's name (``{"the data folder": root}``: ``/srv/data/MNIST/raw`` → ``<the data folder>/MNIST/raw``)."""
    roots = [str(Path(a).expanduser()).rstrip("/") for a in allowed if str(a)]
    labels = {str(Path(p).expanduser()).rstrip("/"): label for label, p in (named or {}).items() if str(p)}

    def inside(path: str, root: str) -> bool:
        return path == root or path.startswith(root + "/")

    def replace(match: re.Match[str]) -> str:
        path = match.group(0)
        if path == "/" or path.startswith("//"):  # a lone slash, or the host part of an address (https://…)
            return path
        expanded = str(Path(path).expanduser()) if path.startswith("~") else path
        trimmed = expanded.rstrip(".")  # a path that ends a sentence keeps its full stop
        stop = path[len(path.rstrip(".")) :]
        for root, label in sorted(labels.items(), key=lambda item: -len(item[0])):  # the deepest folder first
            if root and inside(trimmed, root):
                return f"<{label}>{trimmed[len(root) :]}{stop}"
        if any(inside(trimmed, root) for root in roots):
            return path
        return "<server path>" + stop

    return _ABSOLUTE_PATH.sub(replace, text)


_PLOTLY_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def plot_text(text: object) -> str:
    """``text`` as plotly shows it literally: plotly reads trace names, titles, axis titles, annotations and hover
    labels as its own pseudo-HTML (``<a href>``, ``<b>``, ``<br>``, ``<span style>``, entities), so a run or sweep
    name is escaped (``&`` ``<`` ``>`` as entities, which plotly turns back into the characters) wherever it
    enters a figure. Every name a user gave passes through here; names made by the app itself need not."""
    return "".join(_PLOTLY_MARKUP.get(char, char) for char in str(text))
