"""Charts of sweeps (no streamlit here): final loss and failed seeds against the learning rate (runs that differ
only in lr, pooled per rate), and one heatmap per rule over a grid of learning rate × η.

A grid point's entry is what ``ipcore.training.sweep.part_entry`` gives (``lr``, ``eta`` {rule: η}, ``rules`` with
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

from ipcore.charts.base import Metrics, Plot, rule_color
from ipcore.results.health import no_healthy_text
from ipcore.results.reader import RunReader

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
    why = {}  # a cell without a number says why (its rule has no healthy seed there), not a blank
    for entry in entries:
        for rule_entry in entry["rules"]:
            key = (rule_entry["rule"], eta_label(entry["eta"], swept), f"{float(entry['lr']):g}")
            why[key] = no_healthy_text(
                int(rule_entry.get("diverged") or 0), int(rule_entry.get("collapsed") or 0), seeds
            )
    for column, rule in enumerate(rules, 1):
        table = tables[rule]
        text = [
            [
                f"{v:.4g}" if np.isfinite(v) else why.get((rule, row, f"{lr:g}"), "")
                for v, lr in zip(values_, lrs, strict=True)
            ]
            for values_, row in zip(table, rows, strict=True)
        ]
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


def lr_sweep_figure(points: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Final training loss (mean over the healthy seeds, error bar min–max) and the share of failed seeds
    (diverged or collapsed to chance, ``ipcore.results.health``) vs the synaptic learning rate, per rule. ``points``:
    dicts with rule, lr, loss_mean, loss_min, loss_max, diverged, seeds and optionally collapsed."""
    plot = Plot(2, 1, shared_x=True, row_heights=[0.65, 0.35], vspace=0.08)

    def number(value: Any) -> float:
        return np.nan if value is None else float(value)

    for rule in dict.fromkeys(p["rule"] for p in points):
        rows = sorted((p for p in points if p["rule"] == rule), key=lambda p: p["lr"])
        lr = np.array([p["lr"] for p in rows], dtype=float)
        mean = np.array([number(p["loss_mean"]) for p in rows])
        low = np.array([number(p["loss_min"]) for p in rows])
        high = np.array([number(p["loss_max"]) for p in rows])
        share = np.array([100 * (p["diverged"] + p.get("collapsed", 0)) / max(p["seeds"], 1) for p in rows])
        plot.add(
            {
                "x": lr,
                "y": mean,
                "mode": "lines+markers",
                "name": rule,
                "legendgroup": rule,
                "line": {"color": rule_color(rule)},
                "error_y": {"type": "data", "symmetric": False, "array": high - mean, "arrayminus": mean - low},
            },
            1,
            1,
        )
        plot.add(
            {
                "x": lr,
                "y": share,
                "mode": "lines+markers",
                "name": f"{rule} failed",
                "legendgroup": rule,
                "showlegend": False,
                "line": {"color": rule_color(rule), "dash": "dot"},
                "marker": {"symbol": "x"},
            },
            2,
            1,
        )
    rates = sorted({float(p["lr"]) for p in points})
    plot.all_axes("x", type="log", tickvals=rates, ticktext=[f"{r:g}" for r in rates])
    plot.xaxis(2, 1, title={"text": "synaptic learning rate (log scale)"})
    plot.yaxis(1, 1, title={"text": "final training loss (nats)"})
    plot.yaxis(2, 1, title={"text": "diverged or collapsed (%)"}, range=[-5, 105])
    return plot.figure("Final loss and divergence vs synaptic learning rate", height=520)


def sweep_points(runs: Sequence[tuple[float, Metrics]], dataset: str | None = None) -> list[dict[str, Any]]:
    """lr-sweep points from network runs of one setting (on ``dataset``, which names the class count of older
    records): per (rule, lr) the final training losses of the healthy seeds of all runs at that lr pooled
    (``ipcore.results.reader``), with the numbers of diverged and collapsed seeds and of all seeds."""
    pooled: dict[tuple[str, float], dict[str, Any]] = {}
    for lr, metrics in runs:
        reader = RunReader(metrics, dataset)
        for rule, seeds in reader.rules().items():
            slot = pooled.setdefault((rule, float(lr)), {"losses": [], "diverged": 0, "collapsed": 0, "seeds": 0})
            slot["losses"].extend(reader.seed_values(rule, "final_loss").values())
            slot["diverged"] += seeds.diverged
            slot["collapsed"] += seeds.collapsed
            slot["seeds"] += len(seeds.members)
    points = []
    for (rule, lr), slot in pooled.items():
        values = np.asarray(slot["losses"], dtype=float)
        points.append(
            {
                "rule": rule,
                "lr": lr,
                "diverged": slot["diverged"],
                "collapsed": slot["collapsed"],
                "seeds": slot["seeds"],
                "loss_mean": float(values.mean()) if values.size else None,
                "loss_min": float(values.min()) if values.size else None,
                "loss_max": float(values.max()) if values.size else None,
            }
        )
    return sorted(points, key=lambda p: (p["rule"], p["lr"]))
