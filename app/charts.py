"""Chart builders: a run's metrics (plain numpy arrays, the engine's contracts) → a plotly figure.

Pure functions, no streamlit: every chart is unit-testable and its data can be written out with
``figure_csv``. A rule keeps one colour everywhere (its place in ``ipcore.rules.RULES``).

Figures are assembled as plain trace/layout dicts by ``Plot`` and validated once by ``go.Figure`` — several
times cheaper than ``make_subplots``/``add_hline``/``update_*`` calls, which matters because the labs redraw
every chart once a second while a run trains.

Metric names (see ``ipcore.train`` and ``ipcore.neuron``):
- network runs: static ``rules`` [R], ``members_rule`` [M], ``members_seed`` [M], ``diverged_step`` [M];
  ``batch/step``, ``batch/epoch`` [T], ``batch/loss`` [T, M]; ``epoch/epoch`` [E], ``epoch/test_acc`` [E, M] …;
  ``layer/step`` [S], ``layer/grad_y_u``, ``layer/alpha_mean`` … [S, M, L]; ``hist/step`` [H],
  ``hist/hist`` [H, M, L, 50] (densities of y on [−1, 1]).
- single-neuron runs: static ``rules`` [R], ``sample_median``, ``sample_mean``, ``sample_hist`` [100],
  ``sample_edges`` [101]; ``trace/iter`` [T], ``trace/alpha``, ``trace/beta``, ``trace/entropy`` [T, R],
  ``trace/hist`` [T, R, 100].
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly import colors
from plotly.colors import qualitative

from ipcore.health import member_health
from ipcore.records import json_ready
from ipcore.rules import RULES
from ipcore.stats import ENTROPY_MAX

Metrics = Mapping[str, np.ndarray]
Runs = Sequence[tuple[str, Metrics]]
"""Several runs to draw in one figure: (label, metrics); the label prefixes each trace ("" for one run)."""

PALETTE = qualitative.D3 + qualitative.Dark2
DASHES = ("solid", "dot", "dash", "dashdot", "longdash", "longdashdot")
MAX_POINTS = 800  # points per line sent to the browser (longer series are thinned evenly; ~2 per pixel)
DIGITS = 5  # decimals kept in the lines sent to the browser (halves the JSON; far below what a plot shows)
HEIGHT = 340
LOSS_TITLE = "training loss (cross-entropy, nats)"
ENTROPY_TITLE = "output entropy H(y) (nats)"
SLOPE_TITLE = "mean ∂y/∂u (slope of tanh)"
NO_TEMPLATE = go.layout.Template()  # Streamlit's theme styles the charts; a plotly template costs ~40 ms a figure
LEGEND_RIGHT = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}
LEGEND_BELOW = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": -0.3, "yanchor": "top"}
TANH_AXIS = {"range": [-1.05, 1.05], "tickvals": [-1, -0.5, 0, 0.5, 1]}
SPREADS = ("min–max", "interquartile", "every seed")  # how a band shows the seeds (``Plot.band``)


# --- small helpers ------------------------------------------------------------------------------------


def rule_color(rule: str, alpha: float | None = None) -> str:
    """The rule's colour (``rgba`` with ``alpha`` for bands); unknown names get a stable colour too."""
    names = list(RULES)
    index = names.index(rule) if rule in names else len(names) + sum(map(ord, rule))
    color = PALETTE[index % len(PALETTE)]
    if alpha is None:
        return color
    # D3's colours are hex, Dark2's "rgb(r, g, b)" (rules beyond the tenth use them)
    red, green, blue = (
        int(v) for v in (colors.hex_to_rgb(color) if color.startswith("#") else colors.unlabel_rgb(color))
    )
    return f"rgba({red},{green},{blue},{alpha})"


def _label(prefix: str, name: str) -> str:
    return f"{prefix}: {name}" if prefix else name


def _texts(values: Any) -> list[str]:
    return [str(v) for v in np.atleast_1d(np.asarray(values))]


def _nanstats(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over ``axis`` of the finite values (NaN where there is none)."""
    values = np.asarray(values, dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis), np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)


def _nanquantiles(values: np.ndarray, qs: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Quantiles (linear interpolation, as ``np.quantile``) over the last axis of the finite values, NaN where a
    row has none. Vectorised: ``np.nanquantile`` goes row by row and took seconds for a gallery card's curves."""
    values = np.asarray(values, dtype=float)
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=-1)  # non-finite values sort last
    count = np.isfinite(values).sum(axis=-1)
    out = []
    for q in qs:
        position = q * np.maximum(count - 1, 0)
        low = np.floor(position).astype(int)[..., None]
        high = np.ceil(position).astype(int)[..., None]
        below, above = np.take_along_axis(ordered, low, -1)[..., 0], np.take_along_axis(ordered, high, -1)[..., 0]
        with np.errstate(invalid="ignore"):
            value = below + (position - np.floor(position)) * (above - below)
        out.append(np.where(count > 0, np.where(np.isfinite(value), value, below), np.nan))
    return tuple(out)


def spread_text(spread: str) -> str:
    """The chart-title phrase for a spread choice."""
    return {"min–max": "mean over seeds, band = min–max", "interquartile": "median over seeds, band = interquartile",
            "every seed": "mean over seeds, thin lines = each seed"}[spread]  # fmt: skip


def _nanmean(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=axis)


def thin(length: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices that keep at most ``max_points`` of ``length`` points, evenly spread, always the last one."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.linspace(0, length - 1, max_points).round().astype(int))


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average along axis 0 with bias correction (TensorBoard's smoothing).

    s_t = w·s_{t−1} + (1−w)·v_t, shown as s_t / (1 − w^{t}) so the start is not pulled toward 0. NaN values
    are skipped (they stay NaN and do not reset the average). ``weight`` 0 returns the values unchanged.
    """
    values = np.asarray(values, dtype=float)
    if weight <= 0 or len(values) == 0:
        return values
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1) (got {weight})")
    out = np.full_like(values, np.nan)
    state = np.zeros(values.shape[1:])
    count = np.zeros(values.shape[1:])
    for t, row in enumerate(values):
        finite = np.isfinite(row)
        state = np.where(finite, weight * state + (1 - weight) * np.where(finite, row, 0.0), state)
        count = count + finite
        out[t] = np.where(finite, state / (1 - weight ** np.maximum(count, 1)), np.nan)
    return out


def has_rows(metrics: Metrics, key: str) -> bool:
    value = metrics.get(key)
    return value is not None and np.asarray(value).ndim > 0 and len(value) > 0


# --- figure assembly ----------------------------------------------------------------------------------


def _suffix(number: int) -> str:
    return "" if number == 1 else str(number)


class Plot:
    """A figure under construction: a rows × cols grid of panels (numbered row by row, like plotly's
    ``make_subplots``), optional right-hand y axes, and lists of trace, shape and annotation dicts.
    ``figure()`` turns it into a validated ``go.Figure`` in one step."""

    def __init__(
        self,
        rows: int = 1,
        cols: int = 1,
        *,
        titles: Sequence[str] | None = None,
        hspace: float = 0.08,
        vspace: float = 0.14,
        row_heights: Sequence[float] | None = None,
        shared_y: bool = False,
        shared_x: bool = False,
        secondary_y: bool = False,
        spread: str = "min–max",
    ):
        if spread not in SPREADS:
            raise ValueError(f"spread must be one of {', '.join(SPREADS)} (got {spread!r})")
        self.rows, self.cols, self.secondary_y, self.spread = rows, cols, secondary_y, spread
        self.traces: list[dict] = []
        self.shapes: list[dict] = []
        self.annotations: list[dict] = []
        self.axes: dict[str, dict] = {}
        width = (1 - hspace * (cols - 1)) / cols
        heights = np.asarray(row_heights if row_heights is not None else [1.0] * rows, dtype=float)
        heights = heights / heights.sum() * (1 - vspace * (rows - 1))
        tops = 1 - np.concatenate([[0.0], np.cumsum(heights[:-1] + vspace)])
        for row in range(1, rows + 1):
            for col in range(1, cols + 1):
                n = self.panel(row, col)
                x0 = (col - 1) * (width + hspace)
                y1 = float(tops[row - 1])
                y0 = max(0.0, y1 - float(heights[row - 1]))
                self.axes[f"xaxis{_suffix(n)}"] = {"domain": [x0, min(1.0, x0 + width)], "anchor": f"y{_suffix(n)}"}
                self.axes[f"yaxis{_suffix(n)}"] = {"domain": [y0, y1], "anchor": f"x{_suffix(n)}"}
                if shared_y and col > 1:
                    self.axes[f"yaxis{_suffix(n)}"].update(matches=f"y{_suffix(self.panel(row, 1))}",
                                                           showticklabels=False)  # fmt: skip
                if shared_x and row < rows:
                    self.axes[f"xaxis{_suffix(n)}"].update(matches=f"x{_suffix(self.panel(rows, col))}",
                                                           showticklabels=False)  # fmt: skip
                if secondary_y:
                    m = self.secondary(row, col)
                    self.axes[f"yaxis{m}"] = {"overlaying": f"y{_suffix(n)}", "side": "right",
                                              "anchor": f"x{_suffix(n)}", "showgrid": False}  # fmt: skip
                if titles and n <= len(titles) and titles[n - 1]:
                    self.annotations.append({
                        "text": titles[n - 1], "showarrow": False, "xref": "paper", "yref": "paper",
                        "x": x0 + width / 2, "y": y1, "xanchor": "center", "yanchor": "bottom",
                        "font": {"size": 12},
                    })  # fmt: skip

    def panel(self, row: int, col: int) -> int:
        return (row - 1) * self.cols + col

    def secondary(self, row: int, col: int) -> int:
        return self.rows * self.cols + self.panel(row, col)

    def refs(self, row: int = 1, col: int = 1, secondary: bool = False) -> dict[str, str]:
        n = self.panel(row, col)
        y = self.secondary(row, col) if secondary else n
        return {"xaxis": f"x{_suffix(n)}", "yaxis": f"y{_suffix(y)}"}

    def add(self, trace: dict, row: int = 1, col: int = 1, secondary: bool = False) -> None:
        trace.setdefault("type", "scatter")
        if self.rows * self.cols > 1 or secondary:
            trace.update(self.refs(row, col, secondary))
        self.traces.append(trace)

    def xaxis(self, row: int = 1, col: int = 1, **props: Any) -> None:
        self.axes[f"xaxis{_suffix(self.panel(row, col))}"].update(props)

    def yaxis(self, row: int = 1, col: int = 1, secondary: bool = False, **props: Any) -> None:
        n = self.secondary(row, col) if secondary else self.panel(row, col)
        self.axes[f"yaxis{_suffix(n)}"].update(props)

    def all_axes(self, letter: str, **props: Any) -> None:
        for name, axis in self.axes.items():
            if name.startswith(letter) and "overlaying" not in axis:
                axis.update(props)

    def hline(self, y: float, text: str = "", *, row: int = 1, col: int = 1, dash: str = "dash",
              color: str = "#555", below: bool = False) -> None:  # fmt: skip
        """A horizontal reference line across one panel, with a small label at its right (or left) end."""
        refs = self.refs(row, col)
        xref, yref = f"{refs['xaxis']} domain", refs["yaxis"]
        self.shapes.append({"type": "line", "xref": xref, "x0": 0, "x1": 1, "yref": yref, "y0": y, "y1": y,
                            "line": {"dash": dash, "color": color, "width": 1}})  # fmt: skip
        if text:
            self.annotations.append({"text": text, "xref": xref, "x": 0 if below else 1, "yref": yref, "y": y,
                                     "showarrow": False, "xanchor": "left" if below else "right",
                                     "yanchor": "top" if below else "bottom",
                                     "font": {"size": 10, "color": color}})  # fmt: skip

    def band(self, x: np.ndarray, values: np.ndarray, name: str, rule: str, *, row: int = 1, col: int = 1,
             dash: str | None = None, showlegend: bool = True, markers: bool = False,
             max_points: int = MAX_POINTS) -> None:  # fmt: skip
        """The spread of ``values`` [T, K] over K (seeds), as the plot's ``spread`` says: the mean with a shaded
        min–max band, the median with the interquartile band, or the mean with every seed as a thin line.
        One series when K = 1."""
        values = np.asarray(values, dtype=float).reshape(len(x), -1)
        mean, low, high = _nanstats(values, axis=1)
        if self.spread == "interquartile" and values.shape[1] > 1:
            mean, low, high = _nanquantiles(values, (0.5, 0.25, 0.75))
        keep = thin(len(x), max_points)
        x = np.asarray(x)[keep]
        x = np.round(x, DIGITS) if x.dtype.kind == "f" else x
        mean, low, high = (np.round(v[keep], DIGITS) for v in (mean, low, high))
        if values.shape[1] > 1 and self.spread == "every seed":
            for k in range(values.shape[1]):
                self.add({"x": x, "y": np.round(values[keep, k], DIGITS), "name": f"{name} seed {k + 1}",
                          "mode": "lines", "line": {"width": 0.8, "color": rule_color(rule, 0.45), "dash": dash},
                          "legendgroup": name, "showlegend": False, "hoverinfo": "skip"}, row, col)  # fmt: skip
        elif values.shape[1] > 1:
            names = ("q25", "q75") if self.spread == "interquartile" else ("min", "max")
            for bound, y, fill in ((names[0], low, None), (names[1], high, "tonexty")):
                self.add({"x": x, "y": y, "name": f"{name} {bound}", "mode": "lines", "fill": fill,
                          "line": {"width": 0, "color": rule_color(rule)}, "fillcolor": rule_color(rule, 0.18),
                          "legendgroup": name, "showlegend": False, "hoverinfo": "skip"}, row, col)  # fmt: skip
        centre = "median" if self.spread == "interquartile" else "mean"
        label = f"{name} {centre} of {values.shape[1]}" if values.shape[1] > 1 else name
        self.add({"x": x, "y": mean, "name": label, "mode": "lines+markers" if markers else "lines",
                  "line": {"color": rule_color(rule), "width": 2, "dash": dash}, "legendgroup": name,
                  "showlegend": showlegend}, row, col)  # fmt: skip

    def figure(self, title: str, x_title: str = "", y_title: str = "", *, height: int = HEIGHT,
               legend: dict | None = None, margin: dict | None = None, subtitle: str = "") -> go.Figure:  # fmt: skip
        """The validated figure: title top left (``subtitle`` on a second, smaller line), legend right of the
        plot (or ``legend``), axis titles."""
        separate_coinciding(self.traces)
        if x_title:
            self.all_axes("x", title={"text": x_title})
        if y_title:
            self.all_axes("y", title={"text": y_title})
        layout = {
            "template": NO_TEMPLATE,
            "title": {
                "text": title,
                "x": 0.0,
                "xanchor": "left",
                "y": 0.98,
                "yanchor": "top",
                "font": {"size": 15},
                **({"subtitle": {"text": subtitle, "font": {"size": 11}}} if subtitle else {}),
            },
            "height": height,
            "margin": {"l": 60, "r": 20, "t": 70, "b": 50, **(margin or {})},
            "legend": {**(legend or LEGEND_RIGHT), "font": {"size": 11}, "tracegroupgap": 2},
            "hovermode": "closest",
            "shapes": self.shapes,
            "annotations": self.annotations,
            **self.axes,
        }
        return go.Figure(data=self.traces, layout=layout)


COINCIDE = 0.01  # two lines closer than 1 % of their panel's y span everywhere are drawn so that both show


def _is_main_line(trace: dict) -> bool:
    line = trace.get("line") or {}
    return (trace.get("type", "scatter") == "scatter" and "lines" in str(trace.get("mode", "lines"))
            and trace.get("hoverinfo") != "skip" and line.get("width", 2) != 0 and trace.get("y") is not None)  # fmt: skip


def separate_coinciding(traces: list[dict]) -> list[tuple[str, str]]:
    """Keep lines that lie on top of each other visible: where a later line coincides with an earlier one on
    the same axes (same x, within ``COINCIDE`` of the panel's y span everywhere), the earlier one is drawn
    wide underneath and the later one dashed on top, so both colours show. Returns the (under, over) names."""
    by_axes: dict[tuple, list[dict]] = {}
    for trace in traces:
        if _is_main_line(trace):
            by_axes.setdefault((trace.get("xaxis"), trace.get("yaxis")), []).append(trace)
    pairs = []
    for lines in by_axes.values():
        arrays = [np.asarray(t["y"], dtype=float) for t in lines]
        finite = np.concatenate([a[np.isfinite(a)] for a in arrays] + [np.zeros(0)])
        if finite.size < 2:
            continue
        tolerance = COINCIDE * max(float(finite.max() - finite.min()), 1e-12)
        for j in range(1, len(lines)):
            for i in range(j):
                a, b = arrays[i], arrays[j]
                if a.shape != b.shape or not np.array_equal(np.asarray(lines[i]["x"]), np.asarray(lines[j]["x"])):
                    continue
                both = np.isfinite(a) & np.isfinite(b)
                if both.sum() >= 2 and np.all(np.abs(a[both] - b[both]) <= tolerance):
                    under, over = lines[i], lines[j]
                    under["line"] = {**(under.get("line") or {}), "width": 5}
                    if (over.get("line") or {}).get("dash") in (None, "solid"):
                        over["line"] = {**(over.get("line") or {}), "dash": "dash"}
                    pairs.append((str(under.get("name")), str(over.get("name"))))
                    break
    return pairs


def _empty(title: str, message: str, x_title: str = "", y_title: str = "") -> go.Figure:
    plot = Plot()
    plot.annotations.append({"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                             "yref": "paper"})  # fmt: skip
    return plot.figure(title, x_title, y_title)


# --- network runs -------------------------------------------------------------------------------------


def members_by_rule(metrics: Metrics) -> dict[str, np.ndarray]:
    """Member indices of each rule of a network run, in the run's rule order."""
    members = np.asarray(metrics["members_rule"]).astype(str)
    rules = _texts(metrics["rules"]) if "rules" in metrics else list(dict.fromkeys(members))
    return {rule: np.flatnonzero(members == rule) for rule in rules}


def steps_to_epochs(metrics: Metrics, steps: np.ndarray) -> np.ndarray:
    """Optimizer steps → epochs (fractional), from the batch table's step/epoch columns."""
    steps = np.asarray(steps, dtype=float)
    batch_steps = np.asarray(metrics.get("batch/step", []), dtype=float)
    batch_epochs = np.asarray(metrics.get("batch/epoch", []), dtype=float)
    if len(batch_steps) < 2:
        return steps
    return np.interp(steps, batch_steps, batch_epochs)


def _alive(metrics: Metrics, step: float | None = None) -> np.ndarray:
    """[M] bool: members that had not diverged (by ``step``, or ever when ``step`` is None)."""
    diverged = np.asarray(metrics.get("diverged_step", []), dtype=float)
    if step is None:
        return diverged < 0
    return (diverged < 0) | (diverged > step)


def _use(metrics: Metrics, members: np.ndarray, step: float | None = None) -> np.ndarray:
    """The members to average: the non-diverged ones (by ``step``), or all when every one diverged."""
    if "diverged_step" not in metrics:
        return members
    alive = members[_alive(metrics, step)[members]]
    return alive if len(alive) else members


def loss_figure(runs: Runs, smoothing: float = 0.0, log_y: bool = False, max_points: int = MAX_POINTS,
                spread: str = "min–max") -> go.Figure:  # fmt: skip
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
                plot.band(epochs, loss[:, members], _label(prefix, rule), rule, dash=DASHES[run_index % len(DASHES)],
                          max_points=max_points)  # fmt: skip
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
        plot.add({"x": xs, "y": ys, "mode": "markers", "name": _label(prefix, f"{rule} diverged"), "text": texts,
                  "marker": {"symbol": "x", "size": 11, "color": rule_color(rule), "line": {"width": 1}},
                  "hovertemplate": "%{text}<extra></extra>"}, row, col)  # fmt: skip


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
            plot.band(epochs, accuracy[:, members], _label(prefix, rule), rule, markers=True,
                      dash=DASHES[run_index % len(DASHES)])  # fmt: skip
    if not drawn:
        return _empty(title, "no epoch finished yet", "epoch", f"{split} accuracy (%)")
    return plot.figure(title, "epoch", f"{split} accuracy (%)")


def loss_panels_figure(runs: Runs, smoothing: float = 0.0, log_y: bool = False, max_points: int = 400,
                       spread: str = "min–max") -> go.Figure:  # fmt: skip
    """Training loss of several runs side by side (one panel per run, e.g. one per learning rate), shared y."""
    runs = [(label, m) for label, m in runs if has_rows(m, "batch/loss")]
    title = f"Training loss per batch ({spread_text(spread)})"
    if not runs:
        return _empty(title, "no records yet", "epoch", LOSS_TITLE)
    plot = Plot(1, len(runs), titles=[label for label, _ in runs], hspace=0.03, shared_y=True, spread=spread)
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
            trace["meta"] = f"{label}: {trace['name']}"  # the CSV names the panel
        plot.xaxis(col=col, title={"text": "epoch"})
        if log_y:
            plot.yaxis(col=col, type="log")
    plot.yaxis(title={"text": LOSS_TITLE})
    return plot.figure(title)


def layer_series(metrics: Metrics, column: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Epochs of the layer table and, per rule, ``column`` averaged over that rule's non-diverged seeds [S, L]."""
    steps = np.asarray(metrics["layer/step"], dtype=float)
    values = np.asarray(metrics[f"layer/{column}"], dtype=float)  # [S, M, L]
    out = {
        rule: _nanmean(values[:, _use(metrics, members), :], axis=1)
        for rule, members in members_by_rule(metrics).items()
    }
    return steps_to_epochs(metrics, steps), out


def grad_lines_figure(runs: Runs, layers: Sequence[int]) -> go.Figure:
    """Mean ∂y/∂u = E[1 − y²] of chosen hidden layers (0-based) vs epoch, per rule (non-diverged seeds)."""
    title = "Mean slope ∂y/∂u per hidden layer"
    plot = Plot()
    drawn = False
    for run_index, (prefix, metrics) in enumerate(runs):
        if not has_rows(metrics, "layer/grad_y_u"):
            continue
        epochs, by_rule = layer_series(metrics, "grad_y_u")
        keep = thin(len(epochs))
        for rule, values in by_rule.items():
            for i, layer in enumerate(layers):
                if layer < values.shape[1]:
                    drawn = True
                    dash = DASHES[(i + run_index * len(layers)) % len(DASHES)]
                    plot.add({"x": epochs[keep], "y": values[keep, layer], "mode": "lines",
                              "name": _label(prefix, f"{rule}, layer {layer + 1}"),
                              "line": {"color": rule_color(rule), "dash": dash, "width": 2}})  # fmt: skip
    if not drawn:
        return _empty(title, "no layer statistics recorded yet", "epoch", SLOPE_TITLE)
    return plot.figure(title, "epoch", SLOPE_TITLE)


def fixed_point_figure(metrics: Metrics, layers: Sequence[int]) -> go.Figure:
    """Distance of α (left) and β (right) to each rule's own fixed point (``Rule.fixed_point_distance``, e.g.
    |α − 2E[xy]| and |E[y]| for IP, |α − σ[x]| and |β − E[x]| for incremental BN) in chosen hidden layers vs
    epoch, per rule (mean over units and non-diverged seeds), log scale. Rules without a fixed point are absent."""
    title = "Distance to the rule's own fixed point"
    if not has_rows(metrics, "layer/alpha_distance"):
        return _empty(title, "not recorded in this run (runs made before fixed-point distances were recorded)",
                      "epoch", "distance")  # fmt: skip
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
                plot.add({"x": epochs[keep], "y": values[keep, layer], "mode": "lines", "legendgroup": rule,
                          "name": f"{rule}, layer {layer + 1}", "showlegend": col == 1,
                          "line": {"color": rule_color(rule), "dash": DASHES[i % len(DASHES)], "width": 2}},
                         col=col)  # fmt: skip
        plot.xaxis(col=col, title={"text": "epoch"})
        plot.yaxis(col=col, type="log")
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
        plot.add({"type": "heatmap", "x": epochs[keep], "y": np.arange(1, values.shape[0] + 1), "z": values,
                  "name": rule, "zmin": zmin, "zmax": zmax, "colorscale": "Viridis",
                  "showscale": i == len(rules) - 1, "colorbar": {"title": {"text": short.get(column, column)}},
                  "hovertemplate": "epoch %{x:.2f}<br>layer %{y}<br>%{z:.3f}<extra>" + rule + "</extra>"},
                 col=i + 1)  # fmt: skip
        plot.xaxis(col=i + 1, title={"text": "epoch"})
    plot.yaxis(title={"text": "hidden layer"}, dtick=1)
    return plot.figure(title)


def time_index_label(metrics: Metrics, table: str, index: int) -> str:
    """ "epoch 1.25 (step 300)" for row ``index`` of a step-indexed table (``hist`` or ``layer``)."""
    step = np.asarray(metrics[f"{table}/step"], dtype=float)[index]
    return f"epoch {float(steps_to_epochs(metrics, np.array([step]))[0]):.2f} (step {int(step)})"


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
    plot = Plot(rows, columns, titles=[f"layer {i + 1}" for i in range(layers)], hspace=0.05,
                vspace=0.16 if rows > 1 else 0.1)  # fmt: skip
    for rule, members in members_by_rule(metrics).items():
        density = _nanmean(hist[_use(metrics, members, step)], axis=0)  # [L, bins]
        for layer in range(layers):
            plot.add({"x": centres, "y": density[layer], "mode": "lines", "name": rule if layer == 0 else
                      f"{rule}, layer {layer + 1}", "meta": f"{rule}, layer {layer + 1}", "legendgroup": rule,
                      "showlegend": layer == 0, "line": {"shape": "hvh", "color": rule_color(rule), "width": 1.5}},
                     layer // columns + 1, layer % columns + 1)  # fmt: skip
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
            plot.add({"x": np.arange(1, len(mean) + 1) + offset, "y": mean, "mode": "markers+lines", "name": rule,
                      "meta": f"{rule} {name}", "legendgroup": rule, "showlegend": col == 1,
                      "error_y": {"type": "data", "array": std, "visible": True},
                      "line": {"color": rule_color(rule), "width": 1}}, col=col)  # fmt: skip
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
        plot.add({"x": np.arange(1, len(mean) + 1), "y": mean, "mode": "markers+lines", "name": rule,
                  "line": {"color": rule_color(rule)},
                  "error_y": {"type": "data", "symmetric": False, "array": high - mean, "arrayminus": mean - low}})  # fmt: skip
    plot.hline(ENTROPY_MAX, "log 2 (uniform)")
    plot.xaxis(dtick=1)
    return plot.figure(title, "hidden layer", ENTROPY_TITLE, margin={"t": 90},
                       subtitle=f"at {time_index_label(metrics, 'layer', index)}")  # fmt: skip


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
                plot.add({"x": epochs[keep], "y": values[keep, layer], "mode": "lines",
                          "name": f"{rule}, layer {layer + 1}",
                          "line": {"color": rule_color(rule), "dash": DASHES[i % len(DASHES)]}})  # fmt: skip
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


# --- single-neuron runs -------------------------------------------------------------------------------


def neuron_rules(metrics: Metrics) -> list[str]:
    return _texts(metrics["rules"])


def centre_and_gain(rule: str, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Any rule's (α, β) as the divide form u = (x − c)/a: affine rules u = αx + β have a = 1/α, c = −β/α.
    c is the input where the tanh is centred (u = 0) — IP's β, comparable with the sample's median."""
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    if RULES.get(rule) is not None and RULES[rule].form == "affine":
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / alpha, -beta / alpha
    return alpha, beta


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
    return plot.figure(f"Output histogram after {iteration} iterations ({len(runs)} sample(s))", "y = tanh(u)",
                       "density")  # fmt: skip


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
            plot.add({"x": iters, "y": np.asarray(metrics[f"trace/{name}"], dtype=float)[:, i], "mode": "lines",
                      "name": rule, "meta": f"{rule} {name}", "legendgroup": rule, "showlegend": col == 1,
                      "line": {"color": rule_color(rule)}}, col=col)  # fmt: skip
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
    plot.add({"x": centres, "y": density, "name": "input density", "mode": "lines", "fill": "tozeroy",
              "line": {"color": "#9aa5b1", "shape": "hvh"}, "fillcolor": "rgba(154,165,177,0.35)"})  # fmt: skip
    iteration = int(np.asarray(metrics["trace/iter"])[index])
    for i, rule in enumerate(neuron_rules(metrics)):
        for when, dash, row in (("start", "dot", 0), (f"iteration {iteration}", "solid", index)):
            alpha = np.asarray(metrics["trace/alpha"], dtype=float)[row, i]
            beta = np.asarray(metrics["trace/beta"], dtype=float)[row, i]
            gain, centre = centre_and_gain(rule, alpha, beta)
            with np.errstate(all="ignore"):
                y = np.tanh((grid - centre) / gain) if np.isfinite(gain) and gain != 0 else np.full_like(grid, np.nan)
            plot.add({"x": grid, "y": y, "mode": "lines", "name": f"{rule} ({when})", "legendgroup": rule,
                      "line": {"color": rule_color(rule), "dash": dash}}, secondary=True)  # fmt: skip
    plot.yaxis(title={"text": "density of x"})
    plot.yaxis(secondary=True, title={"text": "y = tanh(u)"}, **TANH_AXIS)
    return plot.figure("tanh over the input density: start (dotted) and end (solid)", "input x", height=420,
                       legend=LEGEND_BELOW, margin={"b": 110})  # fmt: skip


def density_preview_figure(grid: np.ndarray, density: np.ndarray, title: str) -> go.Figure:
    """A distribution's density (the neuron lab's live preview), with tanh(x) for scale on the right axis."""
    plot = Plot(secondary_y=True)
    plot.add({"x": grid, "y": density, "mode": "lines", "fill": "tozeroy", "name": "density",
              "line": {"color": "#52606d"}})  # fmt: skip
    plot.add({"x": grid, "y": np.tanh(grid), "mode": "lines", "name": "tanh(x) before IP",
              "line": {"color": rule_color("none"), "dash": "dot"}}, secondary=True)  # fmt: skip
    plot.yaxis(title={"text": "density"})
    plot.yaxis(secondary=True, title={"text": "tanh(x)"}, **TANH_AXIS)
    return plot.figure(title, "input x", height=280, legend={**LEGEND_RIGHT, "x": 1.08})


# --- home page illustration ---------------------------------------------------------------------------


def ip_fixed_point(x: np.ndarray, weights: np.ndarray, iterations: int = 50) -> tuple[float, float]:
    """IP's fixed point on a weighted input: β = the median of x and α = 2E[x·tanh((x−β)/α)] (thesis §5.1,
    §5.3), found by fixed-point iteration from α = 1."""
    weights = weights / weights.sum()
    cdf = np.cumsum(weights)
    beta = float(x[np.searchsorted(cdf, 0.5)])
    alpha = 1.0
    for _ in range(iterations):
        alpha = max(float(2 * np.sum(weights * x * np.tanh((x - beta) / alpha))), 1e-6)
    return alpha, beta


def ip_illustration_figure(mu: float = 3.0, sigma: float = 1.0) -> go.Figure:
    """The thesis's Figure 3.1 idea, computed: an input density N(μ, σ) under tanh(x) (off-centre: the unit
    saturates, its slope ∂y/∂u ≈ 0 and its output piles up at ±1) and under tanh((x−β)/α) at IP's fixed point
    (centred: slope large where the inputs are, output spread over (−1, 1))."""
    x = np.linspace(mu - 5 * sigma, mu + 5 * sigma, 301)
    x = np.union1d(x, np.linspace(min(-3.0, x[0]), max(3.0, x[-1]), 151))
    density = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    weights = density * np.gradient(x)
    alpha, beta = ip_fixed_point(x, weights)
    cases = []
    for label, a, b in (("off-centre: y = tanh(x)", 1.0, 0.0),
                        (f"after IP: y = tanh((x − {beta:.2f}) / {alpha:.2f})", alpha, beta)):  # fmt: skip
        y = np.tanh((x - b) / a)
        mean_slope = float(np.sum(weights * (1 - y**2)) / weights.sum())
        cases.append((f"{label}<br>mean slope over the inputs {mean_slope:.3f}", y))
    plot = Plot(2, 2, titles=[c[0] for c in cases] + ["output density p(y)", "output density p(y)"],
                row_heights=[0.62, 0.38], vspace=0.2, hspace=0.3, secondary_y=True)  # fmt: skip
    edges = np.linspace(-1, 1, 41)
    for col, (_, y) in enumerate(cases, start=1):
        show = col == 1
        plot.add({"x": x, "y": density, "fill": "tozeroy", "mode": "lines", "name": "input density p(x)",
                  "line": {"color": "#9aa5b1"}, "legendgroup": "d", "showlegend": show}, 1, col)  # fmt: skip
        plot.add({"x": x, "y": y, "mode": "lines", "name": "y = tanh(u)", "line": {"color": "#c0392b", "width": 2.5},
                  "legendgroup": "y", "showlegend": show}, 1, col, secondary=True)  # fmt: skip
        plot.add({"x": x, "y": 1 - y**2, "mode": "lines", "name": "slope ∂y/∂u = 1 − y²", "legendgroup": "s",
                  "line": {"color": "#1f77b4", "dash": "dash"}, "showlegend": show}, 1, col, secondary=True)  # fmt: skip
        counts, _ = np.histogram(y, bins=edges, weights=weights)
        plot.add({"type": "bar", "x": (edges[:-1] + edges[1:]) / 2, "y": counts / (counts.sum() * np.diff(edges)),
                  "name": "output density p(y)", "marker": {"color": "#c0392b"}, "legendgroup": "o",
                  "showlegend": show}, 2, col)  # fmt: skip
        plot.xaxis(1, col, title={"text": "input x"})
        plot.yaxis(1, col, title={"text": "p(x)"})
        plot.yaxis(1, col, secondary=True, title={"text": "y, ∂y/∂u"}, **TANH_AXIS)
        plot.xaxis(2, col, title={"text": "output y"}, range=[-1, 1])
        plot.yaxis(2, col, title={"text": "p(y)"})
    for col in (1, 2):  # the lower panels have no right-hand axis
        plot.axes.pop(f"yaxis{plot.secondary(2, col)}", None)
    return plot.figure("", height=600, legend={**LEGEND_RIGHT, "x": 1.08}, margin={"t": 60})


# --- learning-rate sweeps and gallery summaries -------------------------------------------------------


def lr_sweep_figure(points: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Final training loss (mean over the healthy seeds, error bar min–max) and the share of failed seeds
    (diverged or collapsed to chance, ``ipcore.health``) vs the synaptic learning rate, per rule. ``points``:
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
        plot.add({"x": lr, "y": mean, "mode": "lines+markers", "name": rule, "legendgroup": rule,
                  "line": {"color": rule_color(rule)},
                  "error_y": {"type": "data", "symmetric": False, "array": high - mean, "arrayminus": mean - low}},
                 1, 1)  # fmt: skip
        plot.add({"x": lr, "y": share, "mode": "lines+markers", "name": f"{rule} failed", "legendgroup": rule,
                  "showlegend": False, "line": {"color": rule_color(rule), "dash": "dot"}, "marker": {"symbol": "x"}},
                 2, 1)  # fmt: skip
    rates = sorted({float(p["lr"]) for p in points})
    plot.all_axes("x", type="log", tickvals=rates, ticktext=[f"{r:g}" for r in rates])
    plot.xaxis(2, 1, title={"text": "synaptic learning rate (log scale)"})
    plot.yaxis(1, 1, title={"text": "final training loss (nats)"})
    plot.yaxis(2, 1, title={"text": "diverged or collapsed (%)"}, range=[-5, 105])
    return plot.figure("Final loss and divergence vs synaptic learning rate", height=520)


def _final_losses(metrics: Metrics, rule: str, dataset: str | None = None) -> tuple[np.ndarray, int, int, int]:
    """The rule's final training losses of its healthy seeds (``ipcore.health``; ``dataset`` names the class
    count for records that do not store it), its diverged and collapsed counts and its seed count."""
    members = members_by_rule(metrics).get(rule, np.array([], dtype=int))
    if has_rows(metrics, "epoch/train_loss"):
        final = np.asarray(metrics["epoch/train_loss"], dtype=float)[-1]
    elif has_rows(metrics, "batch/loss"):
        final = np.asarray(metrics["batch/loss"], dtype=float)[-1]
    else:
        final = np.full(len(np.asarray(metrics["members_rule"])), np.nan)
    health = member_health(metrics, dataset)
    values = final[members][health.healthy[members]]
    diverged, collapsed = int(health.diverged[members].sum()), int(health.collapsed[members].sum())
    return values[np.isfinite(values)], diverged, collapsed, int(len(members))


def final_loss_point(metrics: Metrics, rule: str, lr: float) -> dict[str, Any]:
    """One lr-sweep point of a network run: the rule's final-epoch training loss over its healthy seeds."""
    values, diverged, collapsed, seeds = _final_losses(metrics, rule)
    return {
        "rule": rule,
        "lr": float(lr),
        "loss_mean": float(values.mean()) if values.size else None,
        "loss_min": float(values.min()) if values.size else None,
        "loss_max": float(values.max()) if values.size else None,
        "diverged": diverged,
        "collapsed": collapsed,
        "seeds": seeds,
    }


def sweep_points(runs: Sequence[tuple[float, Metrics]], dataset: str | None = None) -> list[dict[str, Any]]:
    """lr-sweep points from network runs of one setting (on ``dataset``): per (rule, lr) the final training
    losses of the healthy seeds of all runs at that lr pooled, with the numbers of diverged and collapsed seeds."""
    pooled: dict[tuple[str, float], dict[str, Any]] = {}
    for lr, metrics in runs:
        for rule in members_by_rule(metrics):
            values, diverged, collapsed, seeds = _final_losses(metrics, rule, dataset)
            slot = pooled.setdefault((rule, float(lr)), {"losses": [], "diverged": 0, "collapsed": 0, "seeds": 0})
            slot["losses"].extend(values.tolist())
            slot["diverged"] += diverged
            slot["collapsed"] += collapsed
            slot["seeds"] += seeds
    points = []
    for (rule, lr), slot in pooled.items():
        values = np.asarray(slot["losses"], dtype=float)
        points.append({
            "rule": rule, "lr": lr, "diverged": slot["diverged"], "collapsed": slot["collapsed"],
            "seeds": slot["seeds"],
            "loss_mean": float(values.mean()) if values.size else None,
            "loss_min": float(values.min()) if values.size else None,
            "loss_max": float(values.max()) if values.size else None,
        })  # fmt: skip
    return sorted(points, key=lambda p: (p["rule"], p["lr"]))


def beta_median_scatter(points: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Final β against the input's median (●) and mean (◇), one point per run, grouped by input; on the
    diagonal means β equals that statistic. ``points``: dicts with label, median, mean, beta."""
    plot = Plot()
    labels = list(dict.fromkeys(p["label"] for p in points))
    values = [v for p in points for v in (p["median"], p["mean"], p["beta"]) if v is not None and math.isfinite(v)]
    for i, label in enumerate(labels):
        rows = [p for p in points if p["label"] == label]
        for stat, symbol in (("median", "circle"), ("mean", "diamond-open")):
            plot.add({"x": [p[stat] for p in rows], "y": [p["beta"] for p in rows], "mode": "markers",
                      "name": f"{label}: β vs {stat}",
                      "marker": {"symbol": symbol, "color": PALETTE[i % len(PALETTE)], "size": 9}})  # fmt: skip
    if values:
        lo, hi = min(values), max(values)
        plot.add({"x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "β = statistic",
                  "line": {"dash": "dash", "color": "#555"}})  # fmt: skip
    return plot.figure("Final β vs the input's median and mean", "input median / mean", "final β")


def stability_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Diverged seeds and α ≤ 0 events per rule at each η scale. ``rows``: dicts with scale, rule, diverged,
    seeds, alpha_nonpositive."""
    plot = Plot(1, 2, titles=["diverged seeds", "α ≤ 0 events"], hspace=0.12)
    for rule in dict.fromkeys(r["rule"] for r in rows):
        mine = [r for r in rows if r["rule"] == rule]
        scales = [f"η ×{r['scale']}" for r in mine]
        plot.add({"type": "bar", "x": scales, "y": [r["diverged"] for r in mine], "name": rule, "legendgroup": rule,
                  "marker": {"color": rule_color(rule)}}, col=1)  # fmt: skip
        plot.add({"type": "bar", "x": scales, "y": [r["alpha_nonpositive"] for r in mine], "name": f"{rule} α ≤ 0",
                  "legendgroup": rule, "showlegend": False, "marker": {"color": rule_color(rule)}}, col=2)  # fmt: skip
    plot.yaxis(col=1, title={"text": "seeds"})
    plot.yaxis(col=2, title={"text": "count (units × steps)"})
    for col, key, text in ((1, "diverged", "no seed diverged<br>at any η"), (2, "alpha_nonpositive", "no α ≤ 0 event")):
        if rows and not any(r[key] for r in rows):
            # Bars of height 0 are invisible: say what the empty panel means, and show the seeds' scale.
            refs = plot.refs(col=col)
            plot.annotations.append({"text": text, "showarrow": False, "xref": f"{refs['xaxis']} domain", "x": 0.5,
                                     "yref": f"{refs['yaxis']} domain", "y": 0.5, "font": {"size": 13}})  # fmt: skip
            top = max((int(r.get("seeds", 1)) for r in rows), default=1) if key == "diverged" else 1
            plot.yaxis(col=col, range=[0, top])
    figure = plot.figure("Stability: which rule breaks first as η grows")
    figure.layout.barmode = "group"
    return figure


# --- data out -----------------------------------------------------------------------------------------


def figure_csv(fig: go.Figure) -> str:
    """The data behind a figure as CSV, one row per point: series, x, y (and z for heatmaps, error bars when
    present). Series names are the trace names ("ip mean of 3", "ip min", …), or their ``meta`` text where a
    legend label alone would be ambiguous (panels, layers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["series", "x", "y", "z", "error_plus", "error_minus"])
    for trace in fig.data:
        name = trace.meta if isinstance(trace.meta, str) else (trace.name or trace.type)
        if trace.type == "heatmap":
            z = np.asarray(trace.z, dtype=float)
            for i, y in enumerate(np.asarray(trace.y)):
                for j, x in enumerate(np.asarray(trace.x)):
                    writer.writerow([name, _cell(x), _cell(y), _cell(z[i, j]), "", ""])
            continue
        xs = [] if trace.x is None else list(trace.x)
        ys = [] if trace.y is None else list(trace.y)
        error = getattr(trace, "error_y", None)
        plus = list(error.array) if error is not None and error.array is not None else []
        minus = list(error.arrayminus) if error is not None and error.arrayminus is not None else plus
        for k, (x, y) in enumerate(zip(xs, ys, strict=False)):
            writer.writerow([name, _cell(x), _cell(y), "", _cell(plus[k]) if plus else "",
                             _cell(minus[k]) if minus else ""])  # fmt: skip
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def run_json(config: Mapping[str, Any], summary: Mapping[str, Any], metrics: Metrics, **extra: Any) -> str:
    """A whole run as one JSON document: config, summary and every metric as (nested) lists; NaN → null."""
    document = {**extra, "config": dict(config), "summary": dict(summary), "metrics": dict(metrics)}
    return json.dumps(json_ready(document))
