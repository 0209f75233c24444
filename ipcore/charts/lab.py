"""More network-run charts: α and β over training per hidden layer, and any recorded metric of any number of
runs on one shared axis (the gallery's comparison). Pure functions on the engine's metric arrays, like
``ipcore.charts.base`` (whose ``Plot``, colours and helpers they use).

α and β over time come from what every network run records (``ipcore.training.loop``): per hidden layer, at ≤ 200
points of the run, the mean of α and of β over the layer's units (``layer/alpha_mean``, ``layer/beta_mean``
[S, M, L]), here averaged over each rule's non-diverged seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly import colors

from ipcore.charts.base import (
    DASHES,
    LEGEND_BELOW,
    PALETTE,
    Metrics,
    Plot,
    Runs,
    _alive,
    _empty,
    _texts,
    has_rows,
    layer_series,
    members_by_rule,
    neuron_rules,
    rule_color,
    smooth,
    spread_text,
    steps_to_epochs,
    thin,
)
from ipcore.jobs.serving import plot_text, redact_paths

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down", "pentagon", "hexagon")
METRIC_TITLES = {
    "batch/loss": "training loss per batch (nats)",
    "epoch/train_loss": "training loss per epoch (nats)",
    "epoch/test_loss": "test loss (nats)",
    "epoch/train_acc": "train accuracy (%)",
    "epoch/test_acc": "test accuracy (%)",
    "layer/grad_y_u": "mean ∂y/∂u (slope of tanh)",
    "layer/alpha_mean": "mean α",
    "layer/alpha_std": "spread of α over units",
    "layer/beta_mean": "mean β",
    "layer/beta_std": "spread of β over units",
    "layer/entropy": "output entropy H(y) (nats)",
    "layer/alpha_nonpositive": "unit-steps with α ≤ 0 (cumulative)",
    "trace/entropy": "output entropy H(y) (nats)",
    "trace/alpha": "α",
    "trace/beta": "β",
    "trace/mean_y": "E[y]",
    "trace/alpha_nonpositive": "iterations with α ≤ 0 (cumulative)",
}


def alpha_beta_time_figure(metrics: Metrics, layers: Sequence[int], log_alpha: bool = False) -> go.Figure:
    """Mean α and mean β of chosen hidden layers (0-based) vs epoch, per rule (mean over non-diverged seeds):
    one panel each. ``log_alpha`` puts α on a log axis (IP's 0.996 → 1.0 beside WD's ≈ 11)."""
    title = "α and β over training (mean over the layer's units and the seeds)"
    if not has_rows(metrics, "layer/alpha_mean"):
        return _empty(title, "no layer statistics recorded yet", "epoch", "")
    plot = Plot(1, 2, titles=["α (gain divisor)" + (", log scale" if log_alpha else ""), "β (centre)"], hspace=0.16)
    for col, name in ((1, "alpha_mean"), (2, "beta_mean")):
        epochs, by_rule = layer_series(metrics, name)
        keep = thin(len(epochs))
        for rule, values in by_rule.items():
            for i, layer in enumerate(layers):
                if layer < values.shape[1]:
                    label = f"{rule}, layer {layer + 1}"
                    plot.add(
                        {
                            "x": epochs[keep],
                            "y": values[keep, layer],
                            "mode": "lines",
                            "name": label,
                            "meta": f"{label} {name.split('_')[0]}",
                            "legendgroup": label,
                            "showlegend": col == 1,
                            "line": {"color": rule_color(rule), "dash": DASHES[i % len(DASHES)], "width": 2},
                        },
                        col=col,
                    )
        plot.xaxis(col=col, title={"text": "epoch"})
    plot.yaxis(col=1, title={"text": "α"}, **({"type": "log"} if log_alpha else {}))
    plot.yaxis(col=2, title={"text": "β"})
    return plot.figure(title, height=400, legend=LEGEND_BELOW, margin={"b": 120})


# --- comparing runs -----------------------------------------------------------------------------------


def run_label(config: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> str:
    """A readable name for a run from its setup: "mnist · depth 7 · lr 0.015 · 1 ep" (networks) or
    "gaussian μ 5 σ 2 · 10000 it" (single neurons), with the user's name or the gallery part in front. A
    dataset given by its server path (``imagefolder:/srv/…``) shows ``<server path>`` instead. The label is
    plain text: escape it for where it goes (``plot_text`` in a figure, ``app.text.plain`` in Markdown)."""
    meta = meta or {}
    if config.get("kind") == "neuron" or "dist" in config:
        dist = str(config.get("dist", "?"))
        params = {
            "gaussian": ("mu", "sigma"),
            "uniform": ("center", "width"),
            "laplace": ("mu", "b"),
            "lognormal": ("mu", "sigma"),
        }.get(dist, ())
        symbols = {"mu": "μ", "sigma": "σ", "center": "c", "width": "w", "b": "b"}
        shape = " ".join(f"{symbols[p]} {config[p]:g}" for p in params if isinstance(config.get(p), (int, float)))
        text = f"{dist}{' ' + shape if shape else ''} · {int(config.get('iters', 0))} it"
    else:
        parts = [redact_paths(str(config.get("dataset", "?"))), f"depth {config.get('depth', '?')}"]
        if config.get("lr") is not None:
            parts.append(f"lr {float(config['lr']):g}")
        parts.append(f"{config.get('epochs', '?')} ep")
        etas = config.get("eta") or {}
        parts += [f"η {rule} {float(value):g}" for rule, value in etas.items()]
        text = " · ".join(parts)
    who = meta.get("name") or (
        f"{meta['experiment']} {meta.get('part') or ''}".strip() if meta.get("experiment") else ""
    )
    return f"{who}: {text}" if who else text


def comparable_metrics(runs: Sequence[Metrics]) -> list[str]:
    """The time-series metrics every one of ``runs`` recorded (in a sensible order: loss first)."""
    if not runs:
        return []
    common = set.intersection(*({k for k in m if k in METRIC_TITLES and has_rows(m, k)} for m in runs))
    return [k for k in METRIC_TITLES if k in common]


def _x_of(metrics: Metrics, metric: str) -> tuple[np.ndarray, str]:
    table = metric.split("/", 1)[0]
    if table == "batch":
        return np.asarray(metrics["batch/epoch"], dtype=float), "epoch"
    if table == "epoch":
        return np.asarray(metrics["epoch/epoch"], dtype=float), "epoch"
    if table == "layer":
        return steps_to_epochs(metrics, np.asarray(metrics["layer/step"], dtype=float)), "epoch"
    return np.asarray(metrics["trace/iter"], dtype=float), "iteration"


def compare_figure(
    runs: Runs, metric: str, layer: int = 0, *, spread: str = "min–max", log_y: bool = False, smoothing: float = 0.0
) -> go.Figure:
    """One recorded ``metric`` of any number of runs on a shared axis (epochs for networks, iterations for
    single neurons): colour = rule for one run, run · rule for several (six runs of two rules must not share two colours), line style and marker = run, the seeds' spread as ``spread`` says. Layer
    metrics are shown for hidden layer ``layer`` (0-based); single-neuron metrics per rule."""
    what = METRIC_TITLES.get(metric, metric)
    where = f", hidden layer {layer + 1}" if metric.startswith("layer/") else ""
    network = not metric.startswith("trace/")
    title = f"{what}{where}" + (f" ({spread_text(spread)})" if network else "")
    plot = Plot(spread=spread)
    drawn, x_title = False, "epoch"
    colours: dict[str, str] = {}  # series name → its colour, in order of first appearance
    for run_index, (label, metrics) in enumerate(runs):
        if not has_rows(metrics, metric):
            continue
        label = plot_text(label)  # a user's run name is text, never plotly markup
        x, x_title = _x_of(metrics, metric)
        values = np.asarray(metrics[metric], dtype=float)
        dash = DASHES[run_index % len(DASHES)]
        symbol = SYMBOLS[run_index % len(SYMBOLS)]
        start = len(plot.traces)
        if network:
            if values.ndim == 3:
                values = values[:, :, min(layer, values.shape[2] - 1)]
            if metric.endswith("_acc"):
                values = 100 * values
            if metric == "batch/loss" and smoothing > 0:
                values = smooth(values, smoothing)
            alive = _alive(metrics)
            for rule, members in members_by_rule(metrics).items():
                use = members[alive[members]] if alive[members].any() else members
                if len(use):
                    plot.band(x, values[:, use], f"{label} · {rule}", rule, dash=dash)
        else:
            for i, rule in enumerate(neuron_rules(metrics)):
                plot.add(
                    {
                        "x": x,
                        "y": values[:, i],
                        "mode": "lines",
                        "name": f"{label} · {rule}",
                        "line": {"color": rule_color(rule), "dash": dash, "width": 2},
                    }
                )
        for trace in plot.traces[start:]:  # markers tell runs apart beyond the six line styles
            if len(runs) > 1:  # several runs of the same rules: colour = run · rule, or six runs share two colours
                _recolour(trace, series_colour(trace.get("legendgroup") or trace.get("name"), colours))
            if trace.get("hoverinfo") != "skip" and len(runs) > 1:
                count = len(trace["x"])
                trace.update(
                    mode="lines+markers",
                    marker={"symbol": symbol, "size": 7, "maxdisplayed": 12 if count > 12 else count},
                )
        drawn = True
    if not drawn:
        return _empty(title, "none of the chosen runs recorded this", x_title, what)
    if log_y:
        plot.yaxis(type="log")
    return plot.figure(title, x_title, what, height=460, legend=LEGEND_BELOW, margin={"b": 40 + 22 * len(runs)})


def series_colour(name: str, colours: dict[str, str]) -> str:
    """The colour of series ``name`` in a comparison: the next palette colour at its first appearance."""
    if name not in colours:
        colours[name] = PALETTE[len(colours) % len(PALETTE)]
    return colours[name]


def _recolour(trace: dict, colour: str) -> None:
    """Give a trace (a line, a band's edge or fill) ``colour``, keeping each part's transparency."""
    red, green, blue = colors.hex_to_rgb(colour) if colour.startswith("#") else colors.unlabel_rgb(colour)

    def tinted(old: Any) -> str:
        if isinstance(old, str) and old.startswith("rgba("):
            return f"rgba({int(red)},{int(green)},{int(blue)},{old.rsplit(',', 1)[1].rstrip(') ')})"
        return colour

    if isinstance(trace.get("line"), dict) and "color" in trace["line"]:
        trace["line"]["color"] = tinted(trace["line"]["color"])
    if "fillcolor" in trace:
        trace["fillcolor"] = tinted(trace["fillcolor"])


def rule_names(metrics: Metrics) -> list[str]:
    """The rules of a run (network or single neuron)."""
    return _texts(metrics["rules"]) if "rules" in metrics else []
