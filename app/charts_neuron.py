"""Single-neuron charts beyond ``app.charts``: the output histogram over all iterations as one picture, and the
histogram at one iteration on axes that stay put while the slider moves.

The recorded histogram ``trace/hist`` [T, R, bins] is the density of y = tanh(u) on [−1, 1]; a uniform output
has density 1/2 everywhere (maximum entropy, log 2). The heatmap colours log₁₀(density / ½): white is uniform,
red more mass than uniform, blue less — so "becoming uniform" is the picture fading to white.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.charts import Metrics, Plot, _empty, has_rows, neuron_rules, rule_color, thin

UNIFORM = 0.5  # the density of a uniform output on (−1, 1)
DECADES = 1.0  # the heatmap's colours span uniform ÷ 10 … × 10
HIST_CAP = 8.0  # the histogram's fixed y axis stops here (16 × uniform); taller peaks are cut and said so


def _centres(bins: int) -> np.ndarray:
    return -1 + (np.arange(bins) + 0.5) * 2 / bins


def neuron_histogram_heatmap(metrics: Metrics, max_columns: int = 200) -> go.Figure:
    """The output density over iterations, one panel per rule: x = iteration, y = output y, colour =
    log₁₀(density / uniform) clipped to ± ``DECADES`` (white = uniform)."""
    title = "Output density over the iterations (white = uniform)"
    if not has_rows(metrics, "trace/hist"):
        return _empty(title, "no histogram recorded yet", "iteration", "y = tanh(u)")
    hist = np.asarray(metrics["trace/hist"], dtype=float)  # [T, R, bins]
    iters = np.asarray(metrics["trace/iter"], dtype=float)
    keep = thin(len(iters), max_columns)
    centres = _centres(hist.shape[-1])
    rules = neuron_rules(metrics)
    plot = Plot(1, len(rules), titles=rules, hspace=0.03, shared_y=True)
    ticks = [-1.0, -0.5, 0.0, 0.5, 1.0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(np.log10(np.maximum(hist[keep], 1e-12) / UNIFORM), -DECADES, DECADES)
    for i, rule in enumerate(rules):
        plot.add({"type": "heatmap", "x": iters[keep], "y": centres, "z": np.round(ratio[:, i, :].T, 3),
                  "customdata": np.round(hist[keep][:, i, :].T, 4), "name": rule, "zmin": -DECADES,
                  "zmax": DECADES, "zmid": 0.0, "colorscale": "RdBu", "reversescale": True,
                  "showscale": i == len(rules) - 1,
                  "colorbar": {"title": {"text": "density"}, "tickvals": ticks,
                               "ticktext": [f"{UNIFORM * 10**t:.2g}" + (" uniform" if t == 0 else "") for t in ticks]},
                  "hovertemplate": "iteration %{x}<br>y %{y:.2f}<br>density %{customdata}<extra>" + rule + "</extra>"},
                 col=i + 1)  # fmt: skip
        plot.xaxis(col=i + 1, title={"text": "iteration"})
    plot.yaxis(title={"text": "y = tanh(u)"}, range=[-1, 1])
    return plot.figure(title, height=340)


def histogram_y_range(metrics: Metrics) -> tuple[float, bool]:
    """A y-axis top for the histogram that holds for every iteration of the run (so the axis stays put while
    the slider moves), capped at ``HIST_CAP``; and whether some peak is taller than the cap."""
    hist = np.asarray(metrics["trace/hist"], dtype=float)
    finite = hist[np.isfinite(hist)]
    peak = float(finite.max()) if finite.size else 1.0
    return min(max(peak, 2 * UNIFORM), HIST_CAP) * 1.05, peak > HIST_CAP


def neuron_histogram_figure(metrics: Metrics, index: int = -1) -> go.Figure:
    """The neuron's output density on [−1, 1] per rule at recorded iteration ``index``, on fixed axes (the
    same for every iteration of the run), with the uniform density ½ drawn on top and labelled."""
    hist = np.asarray(metrics["trace/hist"], dtype=float)[index]  # [R, bins]
    iteration = int(np.asarray(metrics["trace/iter"])[index])
    centres = _centres(hist.shape[-1])
    top, cut = histogram_y_range(metrics)
    plot = Plot()
    for i, rule in enumerate(neuron_rules(metrics)):
        plot.add({"x": centres, "y": hist[i], "mode": "lines", "name": rule,
                  "line": {"shape": "hvh", "color": rule_color(rule), "width": 1.8}})  # fmt: skip
    plot.hline(UNIFORM, "uniform (½)", color="#111", dash="dash", below=True)  # label at the left, under the line
    plot.shapes[-1]["line"]["width"] = 2
    plot.annotations[-1]["font"] = {"size": 12, "color": "#111"}
    plot.xaxis(range=[-1, 1])
    plot.yaxis(range=[0, top])
    note = f"peaks above {HIST_CAP:g} are cut (a saturated unit piles its output at ±1)" if cut else ""
    return plot.figure(f"Output histogram at iteration {iteration}", "y = tanh(u)", "density",
                       margin={"t": 90 if cut else 70}, subtitle=note)  # fmt: skip
