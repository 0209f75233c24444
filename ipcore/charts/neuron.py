"""Single-neuron charts: the output histogram over all iterations as one picture and at one iteration on axes
that stay put while the slider moves, the output entropy against log 2 (and the best a tanh can reach), α and
β trajectories, the tanh's centre against the sample's median and mean, the tanh over the input density, and
the neuron lab's preview of an input density.

The recorded histogram ``trace/hist`` [T, R, bins] is the density of y = tanh(u) on [−1, 1]; a uniform output
has density 1/2 everywhere (maximum entropy, log 2). The heatmap colours log₁₀(density / ½): white is uniform,
red more mass than uniform, blue less — so "becoming uniform" is the picture fading to white.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ipcore.charts.base import (
    DASHES,
    ENTROPY_MAX,
    ENTROPY_TITLE,
    LEGEND_BELOW,
    LEGEND_RIGHT,
    TANH_AXIS,
    Metrics,
    Plot,
    Runs,
    _empty,
    _label,
    has_rows,
    neuron_rules,
    rule_color,
    thin,
)
from ipcore.results.reader import centre_and_gain

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
        plot.add(
            {
                "type": "heatmap",
                "x": iters[keep],
                "y": centres,
                "z": np.round(ratio[:, i, :].T, 3),
                "customdata": np.round(hist[keep][:, i, :].T, 4),
                "name": rule,
                "zmin": -DECADES,
                "zmax": DECADES,
                "zmid": 0.0,
                "colorscale": "RdBu",
                "reversescale": True,
                "showscale": i == len(rules) - 1,
                "colorbar": {
                    "title": {"text": "density"},
                    "tickvals": ticks,
                    "ticktext": [f"{UNIFORM * 10**t:.2g}" + (" uniform" if t == 0 else "") for t in ticks],
                },
                "hovertemplate": "iteration %{x}<br>y %{y:.2f}<br>density %{customdata}<extra>" + rule + "</extra>",
            },
            col=i + 1,
        )
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
        plot.add(
            {
                "x": centres,
                "y": hist[i],
                "mode": "lines",
                "name": rule,
                "line": {"shape": "hvh", "color": rule_color(rule), "width": 1.8},
            }
        )
    plot.hline(UNIFORM, "uniform (½)", color="#111", dash="dash", below=True)  # label at the left, under the line
    plot.shapes[-1]["line"]["width"] = 2
    plot.annotations[-1]["font"] = {"size": 12, "color": "#111"}
    plot.xaxis(range=[-1, 1])
    plot.yaxis(range=[0, top])
    note = f"peaks above {HIST_CAP:g} are cut (a saturated unit piles its output at ±1)" if cut else ""
    return plot.figure(
        f"Output histogram at iteration {iteration}",
        "y = tanh(u)",
        "density",
        margin={"t": 90 if cut else 70},
        subtitle=note,
    )


def _bin_centres(bins: int) -> np.ndarray:
    return -1 + (np.arange(bins) + 0.5) * 2 / bins


def neuron_final_histogram_figure(runs: Runs, spread: str = "min–max") -> go.Figure:
    """The final output density per rule over several runs (seeds): their spread (``spread``), vs uniform."""
    plot = Plot(spread=spread)
    iteration = 0
    if runs:
        hists = [np.asarray(m["trace/hist"], dtype=float)[-1] for _, m in runs]  # each [R, bins]
        centres = _bin_centres(hists[0].shape[-1])
        for i, rule in enumerate(neuron_rules(runs[0][1])):
            plot.band(centres, np.stack([h[i] for h in hists], axis=1), rule, rule)
        iteration = int(np.asarray(runs[0][1]["trace/iter"])[-1])
    plot.hline(0.5, "uniform")
    plot.xaxis(range=[-1, 1])
    return plot.figure(
        f"Output histogram after {iteration} iterations ({len(runs)} sample(s))", "y = tanh(u)", "density"
    )


def neuron_entropy_figure(
    runs: Runs, aggregate: bool = False, bound: float | None = None, spread: str = "min–max"
) -> go.Figure:
    """Output entropy vs iteration per rule against the maximum log 2 and, when given, ``bound``: the most a tanh
    can reach on this input (below log 2 for a Gaussian). With ``aggregate`` the runs are repeats (seeds) of one
    setting: per rule their spread (``spread``: mean with min–max band, …)."""
    plot = Plot(spread=spread)
    if aggregate and runs:
        length = min(len(np.asarray(m["trace/iter"])) for _, m in runs)
        iters = np.asarray(runs[0][1]["trace/iter"], dtype=float)[:length]
        for i, rule in enumerate(neuron_rules(runs[0][1])):
            stack = np.stack([np.asarray(m["trace/entropy"], dtype=float)[:length, i] for _, m in runs], axis=1)
            plot.band(iters, stack, rule, rule)
    else:
        for run_index, (prefix, metrics) in enumerate(runs):
            iters = np.asarray(metrics["trace/iter"], dtype=float)
            entropy = np.asarray(metrics["trace/entropy"], dtype=float)
            for i, rule in enumerate(neuron_rules(metrics)):
                plot.band(iters, entropy[:, i], _label(prefix, rule), rule, dash=DASHES[run_index % len(DASHES)])
    plot.hline(ENTROPY_MAX, "log 2 (uniform)")
    if bound is not None:
        plot.hline(bound, f"best a tanh can reach on this input ({bound:.4f})", dash="dot", below=True)
    return plot.figure("Output entropy vs iteration", "iteration", ENTROPY_TITLE)


def alpha_beta_trajectory_figure(metrics: Metrics, log_alpha: bool = False) -> go.Figure:
    """α and β of each rule vs iteration (as the rule defines them); ``log_alpha``: α on a log axis."""
    iters = np.asarray(metrics["trace/iter"], dtype=float)
    plot = Plot(1, 2, titles=["α" + (", log scale" if log_alpha else ""), "β"], hspace=0.16)
    for i, rule in enumerate(neuron_rules(metrics)):
        for col, name in ((1, "alpha"), (2, "beta")):
            plot.add(
                {
                    "x": iters,
                    "y": np.asarray(metrics[f"trace/{name}"], dtype=float)[:, i],
                    "mode": "lines",
                    "name": rule,
                    "meta": f"{rule} {name}",
                    "legendgroup": rule,
                    "showlegend": col == 1,
                    "line": {"color": rule_color(rule)},
                },
                col=col,
            )
    plot.all_axes("x", title={"text": "iteration"})
    plot.yaxis(col=1, title={"text": "α"}, **({"type": "log"} if log_alpha else {}))
    plot.yaxis(col=2, title={"text": "β"})
    return plot.figure("α and β trajectories")


def beta_median_figure(metrics: Metrics) -> go.Figure:
    """The tanh's centre c (β for u = (x−β)/α; −β/α for affine rules) vs iteration, against the input sample's
    median and mean: IP's β settles at the median (thesis §5.1)."""
    iters = np.asarray(metrics["trace/iter"], dtype=float)
    plot = Plot()
    for i, rule in enumerate(neuron_rules(metrics)):
        alpha = np.asarray(metrics["trace/alpha"], dtype=float)[:, i]
        beta = np.asarray(metrics["trace/beta"], dtype=float)[:, i]
        _, centre = centre_and_gain(rule, alpha, beta)
        plot.add({"x": iters, "y": centre, "mode": "lines", "name": rule, "line": {"color": rule_color(rule)}})
    median, mean = float(metrics["sample_median"]), float(metrics["sample_mean"])
    plot.hline(median, f"sample median {median:.3f}", color="#222")
    plot.hline(mean, f"sample mean {mean:.3f}", dash="dot", color="#777", below=True)
    return plot.figure("Centre of the tanh vs the input's median and mean", "iteration", "centre c (input units)")


def tanh_over_density_figure(metrics: Metrics, index: int = -1) -> go.Figure:
    """The input sample's density with each rule's tanh curve y = tanh((x − c)/a) at the start (dotted) and at
    recorded iteration ``index`` (solid). Left axis: density of x; right axis: y."""
    edges = np.asarray(metrics["sample_edges"], dtype=float)
    density = np.asarray(metrics["sample_hist"], dtype=float)
    centres = (edges[:-1] + edges[1:]) / 2
    span = edges[-1] - edges[0]
    grid = np.linspace(edges[0] - 0.1 * span, edges[-1] + 0.1 * span, 400)
    plot = Plot(secondary_y=True)
    plot.add(
        {
            "x": centres,
            "y": density,
            "name": "input density",
            "mode": "lines",
            "fill": "tozeroy",
            "line": {"color": "#9aa5b1", "shape": "hvh"},
            "fillcolor": "rgba(154,165,177,0.35)",
        }
    )
    iteration = int(np.asarray(metrics["trace/iter"])[index])
    for i, rule in enumerate(neuron_rules(metrics)):
        for when, dash, row in (("start", "dot", 0), (f"iteration {iteration}", "solid", index)):
            alpha = np.asarray(metrics["trace/alpha"], dtype=float)[row, i]
            beta = np.asarray(metrics["trace/beta"], dtype=float)[row, i]
            gain, centre = centre_and_gain(rule, alpha, beta)
            with np.errstate(all="ignore"):
                y = np.tanh((grid - centre) / gain) if np.isfinite(gain) and gain != 0 else np.full_like(grid, np.nan)
            plot.add(
                {
                    "x": grid,
                    "y": y,
                    "mode": "lines",
                    "name": f"{rule} ({when})",
                    "legendgroup": rule,
                    "line": {"color": rule_color(rule), "dash": dash},
                },
                secondary=True,
            )
    plot.yaxis(title={"text": "density of x"})
    plot.yaxis(secondary=True, title={"text": "y = tanh(u)"}, **TANH_AXIS)
    return plot.figure(
        "tanh over the input density: start (dotted) and end (solid)",
        "input x",
        height=420,
        legend=LEGEND_BELOW,
        margin={"b": 110},
    )


def density_preview_figure(grid: np.ndarray, density: np.ndarray, title: str) -> go.Figure:
    """A distribution's density (the neuron lab's live preview), with tanh(x) for scale on the right axis."""
    plot = Plot(secondary_y=True)
    plot.add(
        {"x": grid, "y": density, "mode": "lines", "fill": "tozeroy", "name": "density", "line": {"color": "#52606d"}}
    )
    plot.add(
        {
            "x": grid,
            "y": np.tanh(grid),
            "mode": "lines",
            "name": "tanh(x) before IP",
            "line": {"color": rule_color("none"), "dash": "dot"},
        },
        secondary=True,
    )
    plot.yaxis(title={"text": "density"})
    plot.yaxis(secondary=True, title={"text": "tanh(x)"}, **TANH_AXIS)
    return plot.figure(title, "input x", height=280, legend={**LEGEND_RIGHT, "x": 1.08})
