"""What every chart is built with: ``Plot`` (a figure assembled as plain dicts), a rule's colour, seed bands,
thinning and smoothing, the metric readers the charts share, and ``figure_csv`` (the data behind any figure).

The charts themselves live by subject: ``ipcore.charts.training`` (a network run over training),
``ipcore.charts.layers`` (inside the hidden layers at one moment), ``ipcore.charts.neuron`` (single-neuron runs),
``ipcore.charts.lab`` (α/β over time, comparing runs), ``ipcore.charts.gallery`` (the gallery's own summaries),
``ipcore.charts.sweep`` (learning-rate and η sweeps), ``ipcore.charts.home`` (the home page's illustration).
Pure functions, no streamlit and no torch (only ``home`` needs it): every chart is unit-testable, draws in a
notebook as it draws in the app, and its data can be written out with ``figure_csv``. A rule keeps one colour
everywhere (its place in ``ipcore.specs.rules.RULE_SPECS``; rules registered at run time come after the built-ins).

Figures are assembled as plain trace/layout dicts by ``Plot`` and validated once by ``go.Figure`` — several
times cheaper than ``make_subplots``/``add_hline``/``update_*`` calls, which matters because the labs redraw
every chart once a second while a run trains.

Metric names (see ``ipcore.training.loop`` and ``ipcore.training.neuron``):
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
import html
import io
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly import colors
from plotly.colors import qualitative

from ipcore.jobs.serving import plot_text
from ipcore.specs.rules import RULE_SPECS

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
ENTROPY_MAX = math.log(2.0)  # a uniform output on (−1, 1); ``ipcore.results.statistics.ENTROPY_MAX``, without its torch


# --- small helpers ------------------------------------------------------------------------------------


def rule_color(rule: str, alpha: float | None = None) -> str:
    """The rule's colour (``rgba`` with ``alpha`` for bands); unknown names get a stable colour too."""
    names = list(RULE_SPECS)
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
    """A trace's name: the run's label (a user's run name, a record's part) before the rule's, as plotly text."""
    return plot_text(f"{prefix}: {name}" if prefix else name)


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
    return {
        "min–max": "mean over seeds, band = min–max",
        "interquartile": "median over seeds, band = interquartile",
        "every seed": "mean over seeds, thin lines = each seed",
    }[spread]


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
                    self.axes[f"yaxis{_suffix(n)}"].update(
                        matches=f"y{_suffix(self.panel(row, 1))}", showticklabels=False
                    )
                if shared_x and row < rows:
                    self.axes[f"xaxis{_suffix(n)}"].update(
                        matches=f"x{_suffix(self.panel(rows, col))}", showticklabels=False
                    )
                if secondary_y:
                    m = self.secondary(row, col)
                    self.axes[f"yaxis{m}"] = {
                        "overlaying": f"y{_suffix(n)}",
                        "side": "right",
                        "anchor": f"x{_suffix(n)}",
                        "showgrid": False,
                    }
                if titles and n <= len(titles) and titles[n - 1]:
                    self.annotations.append(
                        {
                            "text": titles[n - 1],
                            "showarrow": False,
                            "xref": "paper",
                            "yref": "paper",
                            "x": x0 + width / 2,
                            "y": y1,
                            "xanchor": "center",
                            "yanchor": "bottom",
                            "font": {"size": 12},
                        }
                    )

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

    def hline(
        self,
        y: float,
        text: str = "",
        *,
        row: int = 1,
        col: int = 1,
        dash: str = "dash",
        color: str = "#555",
        below: bool = False,
    ) -> None:
        """A horizontal reference line across one panel, with a small label at its right (or left) end."""
        refs = self.refs(row, col)
        xref, yref = f"{refs['xaxis']} domain", refs["yaxis"]
        self.shapes.append(
            {
                "type": "line",
                "xref": xref,
                "x0": 0,
                "x1": 1,
                "yref": yref,
                "y0": y,
                "y1": y,
                "line": {"dash": dash, "color": color, "width": 1},
            }
        )
        if text:
            self.annotations.append(
                {
                    "text": text,
                    "xref": xref,
                    "x": 0 if below else 1,
                    "yref": yref,
                    "y": y,
                    "showarrow": False,
                    "xanchor": "left" if below else "right",
                    "yanchor": "top" if below else "bottom",
                    "font": {"size": 10, "color": color},
                }
            )

    def band(
        self,
        x: np.ndarray,
        values: np.ndarray,
        name: str,
        rule: str,
        *,
        row: int = 1,
        col: int = 1,
        dash: str | None = None,
        showlegend: bool = True,
        markers: bool = False,
        max_points: int = MAX_POINTS,
    ) -> None:
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
                self.add(
                    {
                        "x": x,
                        "y": np.round(values[keep, k], DIGITS),
                        "name": f"{name} seed {k + 1}",
                        "mode": "lines",
                        "line": {"width": 0.8, "color": rule_color(rule, 0.45), "dash": dash},
                        "legendgroup": name,
                        "showlegend": False,
                        "hoverinfo": "skip",
                    },
                    row,
                    col,
                )
        elif values.shape[1] > 1:
            names = ("q25", "q75") if self.spread == "interquartile" else ("min", "max")
            for bound, y, fill in ((names[0], low, None), (names[1], high, "tonexty")):
                self.add(
                    {
                        "x": x,
                        "y": y,
                        "name": f"{name} {bound}",
                        "mode": "lines",
                        "fill": fill,
                        "line": {"width": 0, "color": rule_color(rule)},
                        "fillcolor": rule_color(rule, 0.18),
                        "legendgroup": name,
                        "showlegend": False,
                        "hoverinfo": "skip",
                    },
                    row,
                    col,
                )
        centre = "median" if self.spread == "interquartile" else "mean"
        label = f"{name} {centre} of {values.shape[1]}" if values.shape[1] > 1 else name
        self.add(
            {
                "x": x,
                "y": mean,
                "name": label,
                "mode": "lines+markers" if markers else "lines",
                "line": {"color": rule_color(rule), "width": 2, "dash": dash},
                "legendgroup": name,
                "showlegend": showlegend,
            },
            row,
            col,
        )

    def figure(
        self,
        title: str,
        x_title: str = "",
        y_title: str = "",
        *,
        height: int = HEIGHT,
        legend: dict | None = None,
        margin: dict | None = None,
        subtitle: str = "",
    ) -> go.Figure:
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
    return (
        trace.get("type", "scatter") == "scatter"
        and "lines" in str(trace.get("mode", "lines"))
        and trace.get("hoverinfo") != "skip"
        and line.get("width", 2) != 0
        and trace.get("y") is not None
    )


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
    plot.annotations.append({"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper"})
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


def neuron_rules(metrics: Metrics) -> list[str]:
    return _texts(metrics["rules"])


def layer_series(metrics: Metrics, column: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Epochs of the layer table and, per rule, ``column`` averaged over that rule's non-diverged seeds [S, L]."""
    steps = np.asarray(metrics["layer/step"], dtype=float)
    values = np.asarray(metrics[f"layer/{column}"], dtype=float)  # [S, M, L]
    out = {
        rule: _nanmean(values[:, _use(metrics, members), :], axis=1)
        for rule, members in members_by_rule(metrics).items()
    }
    return steps_to_epochs(metrics, steps), out


def time_index_label(metrics: Metrics, table: str, index: int) -> str:
    """ "epoch 1.25 (step 300)" for row ``index`` of a step-indexed table (``hist`` or ``layer``)."""
    step = np.asarray(metrics[f"{table}/step"], dtype=float)[index]
    return f"epoch {float(steps_to_epochs(metrics, np.array([step]))[0]):.2f} (step {int(step)})"


# --- data out -----------------------------------------------------------------------------------------


def figure_csv(fig: go.Figure) -> str:
    """The data behind a figure as CSV, one row per point: series, x, y (and z for heatmaps, error bars when
    present). Series names are the trace names ("ip mean of 3", "ip min", …), or their ``meta`` text where a
    legend label alone would be ambiguous (panels, layers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["series", "x", "y", "z", "error_plus", "error_minus"])
    for trace in fig.data:
        name = _series_name(trace.meta if isinstance(trace.meta, str) else (trace.name or trace.type))
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
            writer.writerow(
                [name, _cell(x), _cell(y), "", _cell(plus[k]) if plus else "", _cell(minus[k]) if minus else ""]
            )
    return out.getvalue()


def _series_name(text: str) -> str:
    """A trace's name as a CSV cell: plotly's entities turned back into the characters a user typed, and a
    leading ``=`` ``+`` ``-`` ``@`` (which a spreadsheet would run as a formula) quoted by a leading apostrophe."""
    name = html.unescape(text)
    return "'" + name if name[:1] in ("=", "+", "-", "@") else name


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)
