"""Sidebar controls shared by the labs: widgets generated from the config declarations, rule pickers,
log-scale sliders, η per rule, dataset choice.

Every control is bound to a session-state key ``{page prefix}.{field}`` (filled from the page's config by
``app.state.seed_widgets`` with ``seed_values``), so the address, the widgets and the config stay one and the same
setup. A config field's label, range, choices and help come from its ``FieldSpec`` (``ipcore.config``); a page
draws its special controls itself and ``other_fields`` draws every remaining field, so a field added to a config
shows up in its lab without touching the page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import streamlit as st

from ipcore.config import Config, ConfigError, field_spec, field_type
from ipcore.data import browser_datasets
from ipcore.specs.rules import RULE_SPECS, default_eta

LR_GRID = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 0.01, 0.012, 0.015, 0.02, 0.03,
           0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)  # fmt: skip
ETA_GRID = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2,
            0.3, 0.5, 0.7, 1.0, 2.0, 5.0)  # fmt: skip
RULES = RULE_SPECS
"""The rules the pickers offer, in the registry's order (name → spec with ``title``, default η)."""


def dataset_choices() -> list[str]:
    """What the dataset picker offers: the built-in datasets and every ``folder:NAME`` the server's operator
    lists in ``IPCORE_IMAGE_FOLDERS``. Never a path: a browser cannot point the server at a folder."""
    from ipcore.data import image_folders

    try:
        folders = image_folders()
    except ConfigError:  # a malformed operator setting offers no folders (the home page names the problem)
        folders = {}
    return [*browser_datasets(), *(f"folder:{name}" for name in folders)]


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
    return [r for r in rules if r in RULES and RULES[r].has_eta]


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


# --- widgets from the config declarations -------------------------------------------------------------

SCALARS = (bool, int, float, str)


def shown_fields(cls: type[Config]) -> list[str]:
    """The fields of ``cls`` a lab shows as one widget each: plain values a browser may set (no server path)."""
    return [
        f.name
        for f in dataclasses.fields(cls)
        if field_type(cls, f.name) in SCALARS and field_spec(cls, f.name).browser
    ]


def seed_values(config: Config, prefix: str) -> dict[str, Any]:
    """Session values for the generated widgets: ``{prefix}.{field}`` → the config's value."""
    cls = type(config)
    values = {}
    for name in shown_fields(cls):
        value, kind = getattr(config, name), field_type(cls, name)
        values[f"{prefix}.{name}"] = kind(value) if kind in (int, float) else value  # a widget needs one type
    return values


def field_widget(cls: type[Config], name: str, prefix: str, container: Any = None) -> Any:
    """One widget for field ``name`` of ``cls``, bound to ``{prefix}.{name}``, as its declaration says: a checkbox
    (bool), a radio or select box (choices, suggestions), a slider (``widget="slider"``), a number input within
    the declared range, or a text input; its label and help are the declared ones."""
    where = container or st
    spec, kind, key = field_spec(cls, name), field_type(cls, name), f"{prefix}.{name}"
    label, current = spec.label or name.replace("_", " "), st.session_state.get(key)
    if kind is bool:
        return where.checkbox(label, key=key, help=spec.help)
    if spec.choices or spec.suggestions:
        options = list(dict.fromkeys([*(spec.choices or spec.suggestions), *([current] if current else [])]))
        if spec.widget == "radio":
            return where.radio(label, options, key=key, horizontal=True, help=spec.help)
        return where.selectbox(label, options, key=key, help=spec.help)
    if kind in (int, float):
        low = None if spec.low is None else kind(spec.low)
        high = None if spec.high is None else kind(spec.high)
        if spec.widget == "slider" and low is not None and high is not None:
            return where.slider(label, low, high, key=key, help=spec.help)
        step = kind(spec.step) if spec.step is not None else kind(1 if kind is int else 0.1)
        number_format = "%d" if kind is int else "%g"
        return where.number_input(label, low, high, key=key, step=step, format=number_format, help=spec.help)
    return where.text_input(label, key=key, help=spec.help)


def fields_widgets(cls: type[Config], names: Iterable[str], prefix: str, container: Any = None) -> dict[str, Any]:
    """``field_widget`` for each of ``names``, in order; their values by field name."""
    return {name: field_widget(cls, name, prefix, container) for name in names}


def other_fields(cls: type[Config], prefix: str, drawn: Iterable[str], container: Any = None) -> dict[str, Any]:
    """A widget for every shown field the page has not drawn itself (``drawn``), in declaration order."""
    done = set(drawn)
    return fields_widgets(cls, [n for n in shown_fields(cls) if n not in done], prefix, container)
