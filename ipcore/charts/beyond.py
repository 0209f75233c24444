"""Charts across depth: a per-layer quantity of a network run against the hidden layer's number, one line per rule.

Where the other network charts follow a few chosen layers over time, these answer "where in the net": where the
gradient that reaches a layer vanishes (``grad_weight_rms``, log scale), where units saturate (``grad_y_u``), and how
much information each unit's output carries (``entropy_unit``, and the layer-pooled ``entropy``). A value is the
mean over a window of the recorded steps (the whole run, or its second half once the rules have acted) and over the
rule's non-diverged seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ipcore.charts.base import DASHES, Metrics, Plot, _empty, _label, has_rows, members_by_rule, rule_color

PROFILE_METRICS = {
    "grad_y_u": "mean ∂y/∂u (slope of the unit)",
    "grad_weight_rms": "RMS of ∂loss/∂W (log scale)",
    "entropy_unit": "per-unit output entropy (nats)",
    "entropy": "layer-pooled output entropy (nats)",
}
WINDOWS = ("whole run", "second half")


def layer_profile(metrics: Metrics, column: str, window: str = "whole run") -> dict[str, np.ndarray]:
    """Per rule, ``layer/<column>`` averaged over the window's recorded steps and the non-diverged seeds, ``[L]``.
    ``grad_weight_rms`` skips the first row (measured before any backward pass)."""
    values = np.asarray(metrics[f"layer/{column}"], dtype=float)  # [K, M, L]
    start = 1 if column == "grad_weight_rms" else 0
    if window == "second half":
        start = max(start, len(values) // 2)
    values = np.where(np.isfinite(values[start:]), values[start:], np.nan)
    diverged = np.asarray(metrics.get("diverged_step", np.full(values.shape[1], -1))) >= 0
    out = {}
    for rule, members in members_by_rule(metrics).items():
        kept = members[~diverged[members]]
        if kept.size == 0 or values.shape[0] == 0 or not np.isfinite(values[:, kept]).any():
            continue
        with np.errstate(all="ignore"):
            out[rule] = np.nanmean(values[:, kept, :], axis=(0, 1))
    return out


def layer_profile_figure(runs: Sequence[tuple[str, Metrics]], column: str, window: str = "whole run") -> go.Figure:
    """``column`` against the hidden layer (1 … L), one line per rule and run (runs dashed apart)."""
    title = f"{PROFILE_METRICS.get(column, column)} across depth ({window})"
    plot = Plot()
    drawn = False
    for run_index, (prefix, metrics) in enumerate(runs):
        if not has_rows(metrics, f"layer/{column}"):
            continue
        for rule, values in layer_profile(metrics, column, window).items():
            drawn = True
            plot.add({"x": np.arange(1, len(values) + 1), "y": values, "mode": "lines+markers",
                      "name": _label(prefix, rule),
                      "line": {"color": rule_color(rule), "dash": DASHES[run_index % len(DASHES)], "width": 2}})  # fmt: skip
    if not drawn:
        return _empty(title, "not recorded in this run (ReLU units have no entropy; older runs lack these columns)",
                      "hidden layer", PROFILE_METRICS.get(column, column))  # fmt: skip
    if column == "grad_weight_rms":
        plot.yaxis(type="log")
    return plot.figure(title, "hidden layer", PROFILE_METRICS.get(column, column))


def output_vs_target_figure(metrics: Metrics, index: int, activation: str, mean: float | None) -> go.Figure:
    """A single neuron's output density at recorded row ``index`` (per rule, ``trace/hist`` on [−1, 1]) against the
    maximum-entropy targets on the unit's range: the uniform, and for a logistic unit with Triesch's target mean μ
    the exponential of mean μ truncated to (0, 1) (``ipcore.training.neuron.target_density``)."""
    from ipcore.engine.activations import get_activation
    from ipcore.training.neuron import target_density

    title = "Output density against its target"
    if not has_rows(metrics, "trace/hist"):
        return _empty(title, "no record yet", "y", "density")
    unit = get_activation(activation)
    hist = np.asarray(metrics["trace/hist"], dtype=float)[index]  # [R, bins]
    bins = hist.shape[-1]
    centres = -1 + (np.arange(bins) + 0.5) * (2.0 / bins)
    inside = (centres >= unit.low) & (centres <= unit.high)
    plot = Plot()
    for r, rule in enumerate(np.asarray(metrics["rules"]).astype(str)):
        plot.add({"x": centres[inside], "y": hist[r, inside], "mode": "lines", "name": rule,
                  "line": {"color": rule_color(rule), "shape": "hvh", "width": 2}})  # fmt: skip
    grid = np.linspace(unit.low, unit.high, 201)
    plot.add({"x": grid, "y": target_density(activation, grid, None), "mode": "lines", "name": "uniform (max. entropy)",
              "line": {"color": "gray", "dash": "dash", "width": 2}})  # fmt: skip
    if activation == "logistic" and mean is not None and mean < 0.5:
        plot.add({"x": grid, "y": target_density(activation, grid, mean), "mode": "lines",
                  "name": f"exponential, mean μ = {mean:g} (Triesch's target)",
                  "line": {"color": "black", "dash": "dot", "width": 2}})  # fmt: skip
    return plot.figure(title, f"y = {unit.title}(u)", "density")
