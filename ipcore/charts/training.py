"""Charts of a network run over training: loss and accuracy per rule (seed bands, divergence marks), several
runs side by side, the mean ∂y/∂u and the output entropy of chosen hidden layers over time, the distance of α
and β to each rule's fixed point, a layer × time heatmap, and the table of diverged seeds. Built with
``ipcore.charts.base``' ``Plot``; metric names as ``ipcore.charts.base`` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ipcore.charts.base import (
    DASHES,
    ENTROPY_MAX,
    ENTROPY_TITLE,
    LOSS_TITLE,
    MAX_POINTS,
    SLOPE_TITLE,
    Metrics,
    Plot,
    Runs,
    _empty,
    _label,
    _texts,
    has_rows,
    layer_series,
    members_by_rule,
    rule_color,
    smooth,
    spread_text,
    steps_to_epochs,
    thin,
)
from ipcore.jobs.serving import plot_text


def loss_figure(
    runs: Runs, smoothing: float = 0.0, log_y: bool = False, max_points: int = MAX_POINTS, spread: str = "min–max"
) -> go.Figure:
    """Training loss per batch vs epoch: per rule the seeds' spread (``spread``, see ``Plot.band``), smoothed by
    an exponential moving average (weight ``smoothing``); ✕ marks where a seed diverged. Several runs are told
    apart by their line style (first solid, second dotted, …)."""
    title = f"Training loss per batch ({spread_text(spread)})"
    plot = Plot(spread=spread)
    drawn = False
    for run_index, (prefix, metrics) in enumerate(runs):
        if not has_rows(metrics, "batch/loss"):
            continue
        drawn = True
        epochs = np.asarray(metrics["batch/epoch"], dtype=float)
        steps = np.asarray(metrics["batch/step"], dtype=float)
        loss = smooth(np.asarray(metrics["batch/loss"], dtype=float), smoothing)
        for rule, members in members_by_rule(metrics).items():
            if len(members):
                plot.band(
                    epochs,
                    loss[:, members],
                    _label(prefix, rule),
                    rule,
                    dash=DASHES[run_index % len(DASHES)],
                    max_points=max_points,
                )
                _divergence_markers(plot, metrics, members, rule, prefix, steps, epochs, loss)
    if not drawn:
        return _empty(title, "no batch recorded yet", "epoch", LOSS_TITLE)
    if log_y:
        plot.yaxis(type="log")
    return plot.figure(title, "epoch", LOSS_TITLE)


def _divergence_markers(plot, metrics, members, rule, prefix, steps, epochs, loss, row=1, col=1) -> None:
    diverged = np.asarray(metrics.get("diverged_step", np.full(loss.shape[1], -1)))
    seeds = np.asarray(metrics.get("members_seed", np.arange(loss.shape[1])))
    xs, ys, texts = [], [], []
    for member in members:
        step = float(diverged[member])
        if step < 0:
            continue
        upto = np.flatnonzero((steps <= step) & np.isfinite(loss[:, member]))
        y = float(loss[upto[-1], member]) if len(upto) else float(np.nanmax(np.where(np.isfinite(loss), loss, 0)))
        xs.append(float(np.interp(step, steps, epochs)) if len(steps) > 1 else step)
        ys.append(y)
        texts.append(f"{rule}, seed {int(seeds[member])} diverged at step {int(step)}")
    if xs:
        plot.add(
            {
                "x": xs,
                "y": ys,
                "mode": "markers",
                "name": _label(prefix, f"{rule} diverged"),
                "text": texts,
                "marker": {"symbol": "x", "size": 11, "color": rule_color(rule), "line": {"width": 1}},
                "hovertemplate": "%{text}<extra></extra>",
            },
            row,
            col,
        )


def accuracy_figure(runs: Runs, split: str = "test", spread: str = "min–max") -> go.Figure:
    """Accuracy per epoch (``split`` "test" or "train") in %, per rule the seeds' spread (``spread``)."""
    key = f"epoch/{split}_acc"
    title = f"{split.capitalize()} accuracy per epoch"
    plot = Plot(spread=spread)
    drawn = False
    for run_index, (prefix, metrics) in enumerate(runs):
        if not has_rows(metrics, key):
            continue
        drawn = True
        epochs = np.asarray(metrics["epoch/epoch"], dtype=float)
        accuracy = 100 * np.asarray(metrics[key], dtype=float)
        for rule, members in members_by_rule(metrics).items():
            plot.band(
                epochs,
                accuracy[:, members],
                _label(prefix, rule),
                rule,
                markers=True,
                dash=DASHES[run_index % len(DASHES)],
            )
    if not drawn:
        return _empty(title, "no epoch finished yet", "epoch", f"{split} accuracy (%)")
    return plot.figure(title, "epoch", f"{split} accuracy (%)")


def loss_panels_figure(
    runs: Runs, smoothing: float = 0.0, log_y: bool = False, max_points: int = 400, spread: str = "min–max"
) -> go.Figure:
    """Training loss of several runs side by side (one panel per run, e.g. one per learning rate), shared y."""
    runs = [(label, m) for label, m in runs if has_rows(m, "batch/loss")]
    title = f"Training loss per batch ({spread_text(spread)})"
    if not runs:
        return _empty(title, "no records yet", "epoch", LOSS_TITLE)
    plot = Plot(1, len(runs), titles=[plot_text(label) for label, _ in runs], hspace=0.03, shared_y=True, spread=spread)
    for col, (label, metrics) in enumerate(runs, start=1):
        epochs = np.asarray(metrics["batch/epoch"], dtype=float)
        steps = np.asarray(metrics["batch/step"], dtype=float)
        loss = smooth(np.asarray(metrics["batch/loss"], dtype=float), smoothing)
        start = len(plot.traces)
        for rule, members in members_by_rule(metrics).items():
            if len(members):
                plot.band(epochs, loss[:, members], rule, rule, col=col, showlegend=col == 1, max_points=max_points)
                _divergence_markers(plot, metrics, members, rule, "", steps, epochs, loss, col=col)
        for trace in plot.traces[start:]:
            trace["meta"] = f"{plot_text(label)}: {trace['name']}"  # the CSV names the panel
        plot.xaxis(col=col, title={"text": "epoch"})
        if log_y:
            plot.yaxis(col=col, type="log")
    plot.yaxis(title={"text": LOSS_TITLE})
    return plot.figure(title)


def grad_lines_figure(runs: Runs, layers: Sequence[int], column: str = "grad_y_u") -> go.Figure:
    """Mean ∂y/∂u = E[1 − y²] (``column`` "grad_y_x": ∂y/∂x = ∂y/∂u · du/dx, the factor backprop applies) of
    chosen hidden layers (0-based) vs epoch, per rule (non-diverged seeds)."""
    title = "Mean slope ∂y/∂u per hidden layer" if column == "grad_y_u" else "Mean ∂y/∂x = ∂y/∂u · du/dx per layer"
    plot = Plot()
    drawn = False
    for run_index, (prefix, metrics) in enumerate(runs):
        if not has_rows(metrics, f"layer/{column}"):
            continue
        epochs, by_rule = layer_series(metrics, column)
        keep = thin(len(epochs))
        for rule, values in by_rule.items():
            for i, layer in enumerate(layers):
                if layer < values.shape[1]:
                    drawn = True
                    dash = DASHES[(i + run_index * len(layers)) % len(DASHES)]
                    plot.add(
                        {
                            "x": epochs[keep],
                            "y": values[keep, layer],
                            "mode": "lines",
                            "name": _label(prefix, f"{rule}, layer {layer + 1}"),
                            "line": {"color": rule_color(rule), "dash": dash, "width": 2},
                        }
                    )
    y_title = SLOPE_TITLE if column == "grad_y_u" else "∂y/∂x"
    if not drawn:
        return _empty(title, "not recorded (a record older than it)", "epoch", y_title)
    return plot.figure(title, "epoch", y_title)


def fixed_point_figure(metrics: Metrics, layers: Sequence[int]) -> go.Figure:
    """Distance of α (left) and β (right) to each rule's own fixed point (``Rule.fixed_point_distance``, e.g.
    |α − 2E[xy]| and |E[y]| for IP, |α − σ[x]| and |β − E[x]| for incremental BN) in chosen hidden layers vs
    epoch, per rule (mean over units and non-diverged seeds), log scale. Rules without a fixed point are absent."""
    title = "Distance to the rule's own fixed point"
    if not has_rows(metrics, "layer/alpha_distance"):
        return _empty(
            title,
            "not recorded in this run (runs made before fixed-point distances were recorded)",
            "epoch",
            "distance",
        )
    plot = Plot(1, 2, titles=["α: |α − α*|", "β: the rule's β criterion"], hspace=0.1)
    drawn = False
    for col, column in ((1, "alpha_distance"), (2, "beta_distance")):
        epochs, by_rule = layer_series(metrics, column)
        keep = thin(len(epochs))
        for rule, values in by_rule.items():
            for i, layer in enumerate(layers):
                if layer >= values.shape[1] or not np.isfinite(values[:, layer]).any():
                    continue
                drawn = True
                plot.add(
                    {
                        "x": epochs[keep],
                        "y": values[keep, layer],
                        "mode": "lines",
                        "legendgroup": rule,
                        "name": f"{rule}, layer {layer + 1}",
                        "showlegend": col == 1,
                        "line": {"color": rule_color(rule), "dash": DASHES[i % len(DASHES)], "width": 2},
                    },
                    col=col,
                )
        plot.xaxis(col=col, title={"text": "epoch"})
        plot.yaxis(col=col, type="log", nticks=6, exponentformat="power")  # decades, not every 2 and 5
    if not drawn:
        return _empty(title, "none of these rules has a fixed point (none, batchnorm, triesch)", "epoch", "distance")
    plot.yaxis(col=1, title={"text": "distance (log scale)"})
    return plot.figure(title)


def grad_heatmap_figure(metrics: Metrics, column: str = "grad_y_u", max_columns: int = 300) -> go.Figure:
    """Layer × time heatmap of a layer statistic (default mean ∂y/∂u), one panel per rule, one colour scale."""
    titles = {"grad_y_u": SLOPE_TITLE, "entropy": ENTROPY_TITLE, "alpha_mean": "mean α", "beta_mean": "mean β"}
    short = {"grad_y_u": "∂y/∂u", "entropy": "H (nats)", "alpha_mean": "α", "beta_mean": "β"}
    title = f"{titles.get(column, column)}: hidden layer × time"
    if not has_rows(metrics, f"layer/{column}"):
        return _empty(title, "no layer statistics recorded yet", "epoch", "hidden layer")
    epochs, by_rule = layer_series(metrics, column)
    keep = thin(len(epochs), max_columns)
    finite = np.concatenate([v[np.isfinite(v)] for v in by_rule.values()] + [np.zeros(0)])
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    rules = list(by_rule)
    plot = Plot(1, len(rules), titles=rules, hspace=0.03, shared_y=True)
    for i, rule in enumerate(rules):
        values = by_rule[rule][keep].T  # [L, S']
        plot.add(
            {
                "type": "heatmap",
                "x": epochs[keep],
                "y": np.arange(1, values.shape[0] + 1),
                "z": values,
                "name": rule,
                "zmin": zmin,
                "zmax": zmax,
                "colorscale": "Viridis",
                "showscale": i == len(rules) - 1,
                "colorbar": {"title": {"text": short.get(column, column)}},
                "hovertemplate": "epoch %{x:.2f}<br>layer %{y}<br>%{z:.3f}<extra>" + rule + "</extra>",
            },
            col=i + 1,
        )
        plot.xaxis(col=i + 1, title={"text": "epoch"})
    plot.yaxis(title={"text": "hidden layer"}, dtick=1)
    return plot.figure(title)


def entropy_time_figure(metrics: Metrics, layers: Sequence[int]) -> go.Figure:
    """Output entropy of chosen hidden layers vs epoch, per rule, against log 2."""
    title = "Output entropy over training"
    if not has_rows(metrics, "layer/entropy"):
        return _empty(title, "no layer statistics recorded yet", "epoch", ENTROPY_TITLE)
    epochs, by_rule = layer_series(metrics, "entropy")
    keep = thin(len(epochs))
    plot = Plot()
    for rule, values in by_rule.items():
        for i, layer in enumerate(layers):
            if layer < values.shape[1]:
                plot.add(
                    {
                        "x": epochs[keep],
                        "y": values[keep, layer],
                        "mode": "lines",
                        "name": f"{rule}, layer {layer + 1}",
                        "line": {"color": rule_color(rule), "dash": DASHES[i % len(DASHES)]},
                    }
                )
    plot.hline(ENTROPY_MAX, "log 2")
    return plot.figure(title, "epoch", ENTROPY_TITLE)


def divergence_rows(metrics: Metrics) -> list[dict[str, Any]]:
    """One row per diverged seed: rule, seed, step and epoch where it diverged."""
    rows = []
    diverged = np.asarray(metrics.get("diverged_step", []))
    seeds = np.asarray(metrics.get("members_seed", np.arange(len(diverged))))
    rules = _texts(metrics.get("members_rule", [""] * len(diverged)))
    for member, step in enumerate(diverged):
        if step >= 0:
            epoch = float(steps_to_epochs(metrics, np.array([step]))[0])
            rows.append(
                {"rule": rules[member], "seed": int(seeds[member]), "step": int(step), "epoch": round(epoch, 3)}
            )
    return rows
