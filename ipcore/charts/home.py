"""The home page's picture of what IP does (the thesis's Figure 3.1 idea, computed): an input density under an
off-centre tanh and under the tanh at IP's fixed point (``ipcore.specs.fixed_point``, numpy: no torch to load).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from ipcore.charts.base import LEGEND_RIGHT, TANH_AXIS, Plot
from ipcore.specs.fixed_point import ip_fixed_point_on_grid


def ip_illustration_figure(mu: float = 3.0, sigma: float = 1.0) -> go.Figure:
    """The thesis's Figure 3.1 idea, computed: an input density N(μ, σ) under tanh(x) (off-centre: the unit
    saturates, its slope ∂y/∂u ≈ 0 and its output piles up at ±1) and under tanh((x−β)/α) at IP's fixed point
    (centred: slope large where the inputs are, output spread over (−1, 1))."""
    x = np.linspace(mu - 5 * sigma, mu + 5 * sigma, 301)
    x = np.union1d(x, np.linspace(min(-3.0, x[0]), max(3.0, x[-1]), 151))
    density = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    weights = density * np.gradient(x)
    alpha, beta = ip_fixed_point_on_grid(x, weights)
    cases = []
    for label, a, b in (
        ("off-centre: y = tanh(x)", 1.0, 0.0),
        (f"after IP: y = tanh((x − {beta:.2f}) / {alpha:.2f})", alpha, beta),
    ):
        y = np.tanh((x - b) / a)
        mean_slope = float(np.sum(weights * (1 - y**2)) / weights.sum())
        cases.append((f"{label}<br>mean slope over the inputs {mean_slope:.3f}", y))
    plot = Plot(
        2,
        2,
        titles=[c[0] for c in cases] + ["output density p(y)", "output density p(y)"],
        row_heights=[0.62, 0.38],
        vspace=0.2,
        hspace=0.3,
        secondary_y=True,
    )
    edges = np.linspace(-1, 1, 41)
    for col, (_, y) in enumerate(cases, start=1):
        show = col == 1
        plot.add(
            {
                "x": x,
                "y": density,
                "fill": "tozeroy",
                "mode": "lines",
                "name": "input density p(x)",
                "line": {"color": "#9aa5b1"},
                "legendgroup": "d",
                "showlegend": show,
            },
            1,
            col,
        )
        plot.add(
            {
                "x": x,
                "y": y,
                "mode": "lines",
                "name": "y = tanh(u)",
                "line": {"color": "#c0392b", "width": 2.5},
                "legendgroup": "y",
                "showlegend": show,
            },
            1,
            col,
            secondary=True,
        )
        plot.add(
            {
                "x": x,
                "y": 1 - y**2,
                "mode": "lines",
                "name": "slope ∂y/∂u = 1 − y²",
                "legendgroup": "s",
                "line": {"color": "#1f77b4", "dash": "dash"},
                "showlegend": show,
            },
            1,
            col,
            secondary=True,
        )
        counts, _ = np.histogram(y, bins=edges, weights=weights)
        plot.add(
            {
                "type": "bar",
                "x": (edges[:-1] + edges[1:]) / 2,
                "y": counts / (counts.sum() * np.diff(edges)),
                "name": "output density p(y)",
                "marker": {"color": "#c0392b"},
                "legendgroup": "o",
                "showlegend": show,
            },
            2,
            col,
        )
        plot.xaxis(1, col, title={"text": "input x"})
        plot.yaxis(1, col, title={"text": "p(x)"})
        plot.yaxis(1, col, secondary=True, title={"text": "y, ∂y/∂u"}, **TANH_AXIS)
        plot.xaxis(2, col, title={"text": "output y"}, range=[-1, 1])
        plot.yaxis(2, col, title={"text": "p(y)"})
    for col in (1, 2):  # the lower panels have no right-hand axis
        plot.axes.pop(f"yaxis{plot.secondary(2, col)}", None)
    return plot.figure("", height=600, legend={**LEGEND_RIGHT, "x": 1.08}, margin={"t": 60})
