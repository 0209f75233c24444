"""Inside a network's hidden layers at one recorded moment: the output histogram of y = tanh(u) per layer, α and
β per layer (mean over units with their spread), and the output entropy per layer against log 2. Built with
``app.charts``' ``Plot``; ``index`` picks the recorded row (the labs' time slider).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from app.charts import (
    ENTROPY_TITLE,
    HEIGHT,
    Metrics,
    Plot,
    _empty,
    _nanmean,
    _nanstats,
    _use,
    has_rows,
    members_by_rule,
    rule_color,
    time_index_label,
)
from ipcore.results.statistics import ENTROPY_MAX


def histogram_figure(metrics: Metrics, index: int = -1, columns: int = 4) -> go.Figure:
    """Output histograms of y = tanh(u) in every hidden layer at recorded time ``index``: one panel per layer,
    one line per rule (density averaged over the rule's non-diverged seeds); dashed = uniform (0.5)."""
    title = "Activation histograms per hidden layer"
    if not has_rows(metrics, "hist/hist"):
        return _empty(title, "no histogram recorded yet", "y = tanh(u)", "density")
    hist = np.asarray(metrics["hist/hist"], dtype=float)[index]  # [M, L, bins]
    step = float(np.asarray(metrics["hist/step"])[index])
    layers, bins = hist.shape[1], hist.shape[2]
    centres = -1 + (np.arange(bins) + 0.5) * 2 / bins
    columns = min(columns, layers)
    rows = math.ceil(layers / columns)
    plot = Plot(
        rows, columns, titles=[f"layer {i + 1}" for i in range(layers)], hspace=0.05, vspace=0.16 if rows > 1 else 0.1
    )
    for rule, members in members_by_rule(metrics).items():
        density = _nanmean(hist[_use(metrics, members, step)], axis=0)  # [L, bins]
        for layer in range(layers):
            plot.add(
                {
                    "x": centres,
                    "y": density[layer],
                    "mode": "lines",
                    "name": rule if layer == 0 else f"{rule}, layer {layer + 1}",
                    "meta": f"{rule}, layer {layer + 1}",
                    "legendgroup": rule,
                    "showlegend": layer == 0,
                    "line": {"shape": "hvh", "color": rule_color(rule), "width": 1.5},
                },
                layer // columns + 1,
                layer % columns + 1,
            )
    for layer in range(layers):
        plot.hline(0.5, row=layer // columns + 1, col=layer % columns + 1, color="#888")
    plot.all_axes("x", range=[-1, 1], tickvals=[-1, 0, 1])
    for col in range(1, columns + 1):
        plot.xaxis(rows, col, title={"text": "y = tanh(u)"})
    for row in range(1, rows + 1):
        plot.yaxis(row, 1, title={"text": "density"})
    return plot.figure(f"{title} at {time_index_label(metrics, 'hist', index)}", height=max(HEIGHT, 230 * rows))


def alpha_beta_figure(metrics: Metrics, index: int = -1, log_alpha: bool = False) -> go.Figure:
    """α and β per hidden layer at recorded time ``index``: the mean over units (averaged over non-diverged
    seeds) with error bars ± the spread (standard deviation over the layer's units); ``log_alpha``: α on a log
    axis."""
    title = "α and β per hidden layer"
    if not has_rows(metrics, "layer/alpha_mean"):
        return _empty(title, "no layer statistics recorded yet", "hidden layer", "")
    step = float(np.asarray(metrics["layer/step"])[index])
    alpha_title = "α (gain divisor)" + (", log scale" if log_alpha else "")
    plot = Plot(1, 2, titles=[alpha_title, "β (centre)"], hspace=0.2)
    by_rule = members_by_rule(metrics)
    offsets = np.linspace(-0.15, 0.15, len(by_rule)) if len(by_rule) > 1 else [0.0]
    for (rule, members), offset in zip(by_rule.items(), offsets, strict=True):
        use = _use(metrics, members, step)
        for col, name in ((1, "alpha"), (2, "beta")):
            mean = _nanmean(np.asarray(metrics[f"layer/{name}_mean"], dtype=float)[index, use], axis=0)
            std = _nanmean(np.asarray(metrics[f"layer/{name}_std"], dtype=float)[index, use], axis=0)
            plot.add(
                {
                    "x": np.arange(1, len(mean) + 1) + offset,
                    "y": mean,
                    "mode": "markers+lines",
                    "name": rule,
                    "meta": f"{rule} {name}",
                    "legendgroup": rule,
                    "showlegend": col == 1,
                    "error_y": {"type": "data", "array": std, "visible": True},
                    "line": {"color": rule_color(rule), "width": 1},
                },
                col=col,
            )
    plot.all_axes("x", title={"text": "hidden layer"}, dtick=1)
    plot.yaxis(col=1, title={"text": "α"}, **({"type": "log"} if log_alpha else {}))
    plot.yaxis(col=2, title={"text": "β"})
    # The time goes on its own line: in a half-width column one long title line is cut off.
    when = time_index_label(metrics, "layer", index)
    return plot.figure(title, subtitle=f"at {when} · bar = spread over the layer's units", margin={"t": 90})


def entropy_layers_figure(metrics: Metrics, index: int = -1) -> go.Figure:
    """Output entropy of each hidden layer at recorded time ``index``: mean over seeds with min–max error
    bars, against the maximum log 2 (a uniform output)."""
    title = "Output entropy per hidden layer"
    if not has_rows(metrics, "layer/entropy"):
        return _empty(title, "no layer statistics recorded yet", "hidden layer", ENTROPY_TITLE)
    values = np.asarray(metrics["layer/entropy"], dtype=float)[index]  # [M, L]
    plot = Plot()
    for rule, members in members_by_rule(metrics).items():
        mean, low, high = _nanstats(values[members].T, axis=1)
        plot.add(
            {
                "x": np.arange(1, len(mean) + 1),
                "y": mean,
                "mode": "markers+lines",
                "name": rule,
                "line": {"color": rule_color(rule)},
                "error_y": {"type": "data", "symmetric": False, "array": high - mean, "arrayminus": mean - low},
            }
        )
    plot.hline(ENTROPY_MAX, "log 2 (uniform)")
    plot.xaxis(dtick=1)
    return plot.figure(
        title,
        "hidden layer",
        ENTROPY_TITLE,
        margin={"t": 90},
        subtitle=f"at {time_index_label(metrics, 'layer', index)}",
    )
