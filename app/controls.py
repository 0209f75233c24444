"""Sidebar controls shared by the labs: rule pickers, log-scale sliders, η per rule, dataset choice.

Every control is bound to a session-state key (filled from the page's config by ``app.state.seed_widgets``),
so the address, the widgets and the config stay one and the same setup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import streamlit as st

from ipcore.config import ConfigError
from ipcore.rules import RULES, default_eta

LR_GRID = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 0.01, 0.012, 0.015, 0.02, 0.03,
           0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)  # fmt: skip
ETA_GRID = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2,
            0.3, 0.5, 0.7, 1.0, 2.0, 5.0)  # fmt: skip
DATASET_BASES = ("mnist", "fashion-mnist", "cifar10", "clusters", "spirals")
"""The datasets a browser may pick, besides the operator's named image folders (``dataset_choices``)."""


def dataset_choices() -> list[str]:
    """What the dataset picker offers: the built-in datasets and every ``folder:NAME`` the server's operator
    lists in ``IPCORE_IMAGE_FOLDERS``. Never a path: a browser cannot point the server at a folder."""
    from ipcore.data import image_folders

    try:
        folders = image_folders()
    except ConfigError:  # a malformed operator setting offers no folders (the home page names the problem)
        folders = {}
    return [*DATASET_BASES, *(f"folder:{name}" for name in folders)]


def log_options(grid: Iterable[float], *values: float, low: float = 0.0, high: float = float("inf")) -> list[float]:
    """A sorted log grid plus the given values (a value from the address must stay selectable)."""
    return sorted({float(v) for v in (*grid, *values) if low < float(v) <= high})


def log_slider(label: str, key: str, grid: Sequence[float], *, low: float = 0.0, high: float = float("inf"),
               help: str | None = None, container: Any = None) -> float:  # fmt: skip
    """A select-slider over a 1-2-5 log grid (the session's current value always included)."""
    where = container or st
    current = st.session_state.get(key)
    options = log_options(grid, *([current] if current is not None else []), low=low, high=high)
    if current is not None and float(current) not in options:
        st.session_state[key] = min(options, key=lambda v: abs(v - float(current)))
    elif current is not None:
        st.session_state[key] = float(current)
    return where.select_slider(label, options=options, key=key, format_func=lambda v: f"{v:g}", help=help)


def rule_label(name: str) -> str:
    return f"{name} — {RULES[name].title}"


def rules_with_eta(rules: Iterable[str]) -> list[str]:
    return [r for r in rules if r in RULES and RULES[r]().has_eta]


def eta_sliders(prefix: str, rules: Sequence[str], context: str, container: Any = None) -> dict[str, float]:
    """One η slider per chosen rule that has an η; returns only the values that differ from the defaults.

    Weighted-decay rules take η in (0, 1] (a mixing weight); the others any η > 0 from the grid.
    """
    chosen: dict[str, float] = {}
    for rule in rules_with_eta(rules):
        key = f"{prefix}.eta.{rule}"
        default = float(default_eta(rule, context) or 0.0)
        if key not in st.session_state:
            st.session_state[key] = default
        high = 1.0 if RULES[rule].weighted_decay else float("inf")
        help_text = f"default {default:g} (the thesis's value)" + (" · a mixing weight, at most 1" if high == 1 else "")
        value = log_slider(f"η for {rule}", key, ETA_GRID, high=high, help=help_text, container=container)
        if value != default:
            chosen[rule] = value
    return chosen


def eta_seed_values(prefix: str, etas: dict[str, float], rules: Iterable[str], context: str) -> dict[str, float]:
    """Session values for every rule's η slider: the config's η where it sets one, else the default."""
    out = {}
    for rule in rules_with_eta(RULES):
        out[f"{prefix}.eta.{rule}"] = float(etas.get(rule, default_eta(rule, context) or 0.0))
    return out
