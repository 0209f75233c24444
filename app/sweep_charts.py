"""Charts of a sweep's grid: one heatmap per rule over learning rate × η (no streamlit here).

A grid point's entry is what ``ipcore.sweep.part_entry`` gives (``lr``, ``eta`` {rule: η}, ``rules`` with
``final_train_loss``, ``test_accuracy``, ``grad_y_u`` per layer, ``diverged`` and ``collapsed`` seed counts).
Columns are the learning rates, rows the η settings (the values of the swept rules, ``ip=0.001``); a point not
finished yet (or whose every seed diverged) is an empty cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

METRICS = {
    "final_train_loss": "final training loss (nats)",
    "test_accuracy": "test accuracy",
    "grad_y_u": "mean ∂y/∂u of the chosen layer",
    "diverged_share": "share of diverged seeds",
    "collapsed_share": "share of collapsed seeds",
}
"""The heatmaps' quantities: key → label."""

REVERSED = {"test_accuracy", "grad_y_u"}  # larger is better: the colour scale runs the other way


def eta_label(eta: Mapping[str, float], swept: Sequence[str]) -> str:
    """The row label of an η setting: the swept rules' values (``ip=0.001 wd=0.1``), or "thesis η"."""
    return " ".join(f"{rule}={eta[rule]:g}" for rule in swept if rule in eta) or "thesis η"


def cell_value(rule_entry: Mapping[str, Any], metric: str, layer: int, seeds: int) -> float:
    """One rule's number at one grid point (NaN when it has none, e.g. every seed diverged)."""
    if metric == "diverged_share":
        return float(rule_entry.get("diverged") or 0) / max(seeds, 1)
    if metric == "collapsed_share":
        return float(rule_entry.get("collapsed") or 0) / max(seeds, 1)
    if metric == "grad_y_u":
        layers = rule_entry.get("grad_y_u") or []
        value = layers[layer] if 0 <= layer < len(layers) else None
    else:
        value = rule_entry.get(metric)
    return float("nan") if value is None else float(value)


def grid_table(
    entries: Sequence[Mapping[str, Any]],
    rules: Sequence[str],
    swept: Sequence[str],
    metric: str,
    layer: int,
    seeds: int,
) -> tuple[list[float], list[str], dict[str, np.ndarray]]:
    """(learning rates, η row labels, per rule a [rows, lrs] array) from the finished grid points."""
    lrs = sorted({float(e["lr"]) for e in entries})
    rows = list(dict.fromkeys(eta_label(e["eta"], swept) for e in entries))
    tables = {rule: np.full((len(rows), len(lrs)), np.nan) for rule in rules}
    for entry in entries:
        row, column = rows.index(eta_label(entry["eta"], swept)), lrs.index(float(entry["lr"]))
        for rule_entry in entry["rules"]:
            if rule_entry["rule"] in tables:
                tables[rule_entry["rule"]][row, column] = cell_value(rule_entry, metric, layer, seeds)
    return lrs, rows, tables


def grid_heatmaps(
    entries: Sequence[Mapping[str, Any]],
    rules: Sequence[str],
    swept: Sequence[str],
    metric: str,
    layer: int = 0,
    seeds: int = 1,
) -> go.Figure:
    """One heatmap per rule, learning rate × η setting, of ``metric`` (a key of ``METRICS``), on one shared
    colour scale so rules compare at a glance; each cell also shows its number."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    lrs, rows, tables = grid_table(entries, rules, swept, metric, layer, seeds)
    figure = make_subplots(rows=1, cols=max(1, len(rules)), subplot_titles=list(rules), shared_yaxes=True)
    values = np.concatenate([t.ravel() for t in tables.values()]) if tables else np.array([])
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if metric in ("diverged_share", "collapsed_share"):
        low, high = 0.0, 1.0
    scale = "Viridis" if metric in REVERSED else "Viridis_r"
    for column, rule in enumerate(rules, 1):
        table = tables[rule]
        text = [["" if not np.isfinite(v) else f"{v:.4g}" for v in row] for row in table]
        figure.add_trace(
            go.Heatmap(
                z=table,
                x=[f"{lr:g}" for lr in lrs],
                y=rows,
                text=text,
                texttemplate="%{text}",
                zmin=low,
                zmax=high,
                colorscale=scale,
                showscale=column == len(rules),
                colorbar={"title": {"text": METRICS[metric]}},
                meta=rule,
                hovertemplate=f"{rule}<br>lr %{{x}}<br>%{{y}}<br>{METRICS[metric]}: %{{z:.4g}}<extra></extra>",
            ),
            row=1,
            col=column,
        )
        figure.update_xaxes(title_text="learning rate", type="category", row=1, col=column)
    figure.update_yaxes(title_text="η", type="category", row=1, col=1)
    title = METRICS[metric] + (f", layer {layer + 1}" if metric == "grad_y_u" else "")
    figure.update_layout(title={"text": title}, height=260 + 40 * len(rows), margin={"t": 80})
    return figure
