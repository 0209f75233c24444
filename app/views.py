"""Shared Streamlit views: a chart with its CSV, job progress, engine errors, and the two run views (a network
run's charts, a single-neuron run's charts) that the labs, the gallery and the sweep page all use."""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import export
from app import jobs as app_jobs
from app.live import PROGRESS_S, QUEUED_S, STARTING_S, LiveBudget, needs_retune
from app.live_plot import live_plot, preload_native_charts_script
from app.text import code, plain, public_message
from ipcore.charts import base as charts
from ipcore.charts import lab as charts_lab
from ipcore.charts import layers as charts_layers
from ipcore.charts import neuron as charts_neuron
from ipcore.charts import training as charts_training
from ipcore.charts.base import ENTROPY_MAX
from ipcore.config import ConfigError
from ipcore.jobs.process import STOP_GRACE_S
from ipcore.results.reader import RunReader, centre_and_gain
from ipcore.results.records import check_name


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "chart"


FILE_PREFIX: contextvars.ContextVar[str] = contextvars.ContextVar("FILE_PREFIX", default="")
_LIVE = contextvars.ContextVar("live_charts", default=False)
"""True while a live fragment draws: charts then update in place (``app.live_plot``) instead of remounting."""


@contextlib.contextmanager
def files_named_after(run: str) -> Iterator[None]:
    """Within the block, downloaded chart files start with ``run`` (e.g. ``gallery-fig4.4-mnist-loss.svg``)."""
    token = FILE_PREFIX.set(slug(run))
    try:
        yield
    finally:
        FILE_PREFIX.reset(token)


def chart(fig: go.Figure, key: str, filename: str | None = None) -> None:
    """A plotly figure, full width, with buttons that download its data as CSV and the figure as SVG or PNG at
    publication size (each generated on click; the file is named after what the chart shows). Inside a live
    view the chart is drawn by ``app.live_plot`` so that each refresh updates it in place."""
    if _LIVE.get():
        live_plot(fig, key=f"{key}.live")
    else:
        st.plotly_chart(fig, key=f"{key}.fig", config={"displaylogo": False})
    name = slug("-".join(p for p in (FILE_PREFIX.get(), filename or key) if p))
    with st.container(horizontal=True, gap="small"):
        st.download_button(
            "CSV of this chart",
            data=lambda: charts.figure_csv(fig),
            file_name=f"{name}.csv",
            mime="text/csv",
            key=f"{key}.csv",
            icon=":material/download:",
            on_click="ignore",
            type="tertiary",
        )
        for fmt in ("svg", "png"):
            st.download_button(
                fmt.upper(),
                data=lambda fmt=fmt: export.image(fig, fmt),
                file_name=export.file_name(name, fmt),
                mime=export.FORMATS[fmt],
                key=f"{key}.{fmt}",
                on_click="ignore",
                type="tertiary",
                help=f"this chart as {fmt.upper()}, {export.WIDTH} px wide"
                + (" at 3× (300 dpi)" if fmt == "png" else ""),
            )


def engine_error(error: BaseException, what: str = "") -> None:
    """An engine error as a message: a ConfigError names its field; anything else its type and text. Shown as
    plain text with server paths outside the data folder hidden (``app.text.public_message``)."""
    prefix = f"{plain(what)}: " if what else ""
    st.error(f"{prefix}{public_message(error)}", icon=":material/error:")


def setup_error(error: str) -> None:
    """A setup that cannot run, said beside its controls in the sidebar and on the page (as plain text)."""
    st.sidebar.error(plain(error), icon=":material/error:")
    st.error(f"This setup cannot run: {plain(error)}", icon=":material/error:")


def start_job(config: Any, name: str, session_key: str) -> str | None:
    """Submit ``config`` as a background job (``name``, checked, or none when blank) and keep its id in the
    session under ``session_key``; the job's id, or None when it could not start (the reason shown)."""
    try:
        run_name = check_name(name) if name.strip() else None
        st.session_state[session_key] = job_id = app_jobs.submit(config, name=run_name)
    except ConfigError as submit_error:
        engine_error(submit_error, "could not start")
        return None
    return job_id


def share_setup(query: str) -> None:
    """The sidebar's "share this setup": the page address's query that reopens this configuration."""
    # drawn when opened: st.code costs every page that shows it Streamlit's syntax-highlighter chunk (1.5 MB)
    with st.sidebar.expander("share this setup", key="share_setup.open", on_change="rerun") as share:
        if share.open:
            st.caption("The address bar holds this setup; copy it to reopen exactly this configuration. Its query:")
            st.code(query, language=None, wrap_lines=True)


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def queued_text(position: int | None, running: int | None) -> str:
    """What a queued job waits for: the queued jobs before it and the running ones whose slots it needs
    ("0 ahead" alone read as if nothing were in the way while another job held the only slot)."""
    parts = []
    if position:
        parts.append(f"{position} queued job{'s' if position != 1 else ''} ahead of it")
    if running:
        parts.append(f"{running} job{'s' if running != 1 else ''} running")
    waits = f" — {', '.join(parts)}" if parts else ""
    return f"queued{waits}; it starts when a job slot is free"


def progress(status: Mapping[str, Any]) -> None:
    """Progress bar with state, elapsed time and ETA (or the queue position)."""
    state = status["state"]
    if state == "queued":
        st.progress(0.0, text=queued_text(status.get("queue_position"), status.get("running_jobs")))
        return
    fraction = float(status.get("progress") or 0.0)
    text = f"{state} — {fraction * 100:.0f} % · {duration(status.get('elapsed_s'))} elapsed"
    if state == "running":
        text += (
            f" · about {duration(status.get('remaining_s'))} left"
            if status.get("remaining_s") is not None
            else " · ETA …"
        )
    st.progress(min(max(fraction, 0.0), 1.0), text=text)


def job_outcome(status: Mapping[str, Any]) -> None:
    """The message for an ended job: saved as a record, cancelled, or failed with the engine's message."""
    state, run_id = status["state"], status.get("run_id")
    saved = f" Saved as {code(run_id)} (Gallery → my runs)." if run_id else ""
    if status.get("save_error"):
        st.warning(f"This run could not be saved: {public_message(status['save_error'])}. Its charts below are all "
                   "there is; download it as JSON to keep it.", icon=":material/save:")  # fmt: skip
    if state == "done":
        st.success(f"Finished in {duration(status.get('elapsed_s'))}.{saved}", icon=":material/check_circle:")
    elif state == "cancelled":
        why = f" ({public_message(status['stopped'])})" if status.get("stopped") else ""
        st.info(f"Stopped after {duration(status.get('elapsed_s'))}{why}; what was recorded is kept.{saved}")
    elif state == "failed":
        st.error(f"The run failed: {public_message(status.get('error') or 'unknown error')}{saved and ' ' + saved}",
                 icon=":material/error:")  # fmt: skip


def run_downloads(config: Mapping[str, Any], summary: Mapping[str, Any], metrics: Mapping[str, np.ndarray],
                  name: str, key: str) -> None:  # fmt: skip
    """Download the whole run (config, summary, every metric) as one JSON file."""
    st.download_button(
        "Run as JSON (config, summary, all metrics)",
        data=lambda: export.run_json(config, summary, metrics, name=name),
        file_name=f"{slug(name)}.json",
        mime="application/json",
        key=f"{key}.json",
        icon=":material/data_object:",
        on_click="ignore",
    )


def time_slider(label: str, steps: np.ndarray, key: str, describe: Callable[[int], str], live: bool = False) -> int:
    """Pick a recorded row (index into ``steps``, labelled by ``describe``); while a run is live, "follow the
    newest" keeps the last one."""
    count = len(steps)
    if live:  # the same two elements from the first record on, so the charts below keep their place (and frame)
        follow = st.toggle("follow the newest record", value=True, key=f"{key}.follow")
        if follow or count <= 1:
            st.caption(f"{label}: {describe(count - 1)}" if count else f"{label}: none recorded yet")
            return count - 1
    elif count <= 1:
        return count - 1
    if key not in st.session_state or not 0 <= st.session_state[key] < count:
        st.session_state[key] = count - 1
    return int(st.select_slider(label, options=range(count), key=key, format_func=describe))


# --- network runs -------------------------------------------------------------------------------------


DASH_NAMES = ("solid", "dotted", "dashed", "dash-dot", "long dashes", "long dash-dot")  # charts.DASHES in words
SPREAD_HELP = "how the seeds' spread is drawn: min–max band, interquartile band (around the median), or every seed"


def spread_control(where: Any, key: str, default: str = charts.SPREADS[0]) -> str:
    """The spread-band choice (``charts.SPREADS``) for the charts that pool seeds."""
    # shown with ASCII hyphens: Streamlit compiles its emoji catalog (0.6 s of a server's CPU, once per process)
    # the first time an option of a segmented control starts with a non-ASCII word, such as "min–max"
    return where.segmented_control("seeds shown as", charts.SPREADS, default=default, key=f"{key}.spread",
                                   format_func=lambda s: s.replace("–", "-"), help=SPREAD_HELP) or default  # fmt: skip


ALPHA_NONPOSITIVE_NOTE = (
    "α ≤ 0 count: over all seeds and hidden units, how many unit-steps had a gain α at or below zero. A unit's "
    "u = (x − β)/α needs α > 0; a rule that drives α through zero (e.g. IP at a large η) has flipped or blown up "
    "that unit. The run goes on and records it, as it records divergence; 0 is the healthy value."
)


def train_summary_rows(metrics: Mapping[str, np.ndarray], dataset: str | None = None) -> list[dict[str, Any]]:
    """Per rule: latest batch loss, test accuracy and mean ∂y/∂u over all layers at the latest record, as means
    over the *healthy* seeds (``ipcore.results.reader``: neither diverged nor at chance level at the last epoch; empty
    when none is), with how many seeds that is, how many collapsed or diverged, the α ≤ 0 count of all seeds and
    the dead output units (``dataset`` names the class count for records that do not store it)."""
    rows = []
    reader = RunReader(metrics, dataset)
    for rule, seeds in reader.rules().items():
        row: dict[str, Any] = {
            "rule": rule,
            "seeds": seeds.note,
            "diverged": seeds.diverged,
            "collapsed": seeds.collapsed,
        }
        if charts.has_rows(metrics, "batch/loss"):
            row["latest loss"] = _rounded(reader.mean(rule, "latest_loss"))
        if charts.has_rows(metrics, "epoch/test_acc"):
            accuracy = reader.mean(rule, "test_acc")
            row["test accuracy %"] = None if accuracy is None else 100 * _rounded(accuracy)
        if charts.has_rows(metrics, "layer/grad_y_u"):
            row["mean ∂y/∂u"] = _rounded(reader.mean(rule, "latest_slope"))
        if charts.has_rows(metrics, "layer/alpha_nonpositive"):
            row["α ≤ 0 count"] = int(reader.total(rule, "latest_alpha_nonpositive") or 0)
        dead = reader.health.dead_output_units[seeds.members]
        row["dead output units"] = dead_units_text(dead, seeds.seeds, reader.health.classes)
        rows.append(row)
    return rows


def dead_units_text(dead: np.ndarray, seeds: np.ndarray, classes: int | None) -> str:
    """The dead output units of each seed, labelled: "0 of 10 (seed 0), 2 of 10 (seed 1)"; "not recorded"
    when a seed's count is unknown (−1: a record made before they were counted)."""
    if len(dead) == 0 or (np.asarray(dead) < 0).any():
        return "not recorded"
    of = f" of {classes}" if classes else ""
    return ", ".join(f"{int(d)}{of} (seed {int(seed)})" for d, seed in zip(dead, seeds, strict=True))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def depth_profile(metrics: Mapping[str, np.ndarray], key: str) -> None:
    """Per-layer quantities against depth (``ipcore.charts.beyond``): where the gradient vanishes, where units
    saturate, how much each unit's output carries."""
    from ipcore.charts import beyond as charts_beyond

    present = [c for c in charts_beyond.PROFILE_METRICS if charts.has_rows(metrics, f"layer/{c}")]
    if not present:
        return
    left, right = st.columns(2)
    column = left.selectbox("across depth", present, format_func=charts_beyond.PROFILE_METRICS.get,
                            key=f"{key}.profile")  # fmt: skip
    window = right.radio("averaged over", charts_beyond.WINDOWS, horizontal=True, key=f"{key}.profile_window")
    chart(charts_beyond.layer_profile_figure([("", metrics)], column, window), f"{key}.profile_fig", "depth-profile")
    st.caption("Each hidden layer's value averaged over the recorded steps and seeds. RMS ∂loss/∂W: how much "
               "gradient reaches the layer's incoming weights — a fall toward layer 1 is a vanishing gradient. "
               "Per-unit entropy: each unit's own output histogram on a batch, not pooled over the layer.")  # fmt: skip


def train_run_view(metrics: Mapping[str, np.ndarray], key: str, live: bool = False, dataset: str | None = None) -> None:
    """Every chart of a network run: loss (smoothing, log scale), accuracy, ∂y/∂u lines and heatmap, histograms,
    α/β spread and entropy per layer at a chosen time, and the diverged and collapsed seeds."""
    if not charts.has_rows(metrics, "batch/loss"):
        st.info("Waiting for the first recorded batch …", icon=":material/hourglass_top:")
        return
    rows = train_summary_rows(metrics, dataset)
    st.dataframe(rows, hide_index=True, width="stretch")
    if any(row.get("α ≤ 0 count") for row in rows):
        st.caption(ALPHA_NONPOSITIVE_NOTE)
    collapsed = sum(row["collapsed"] for row in rows)
    if collapsed:
        st.warning(
            f"{collapsed} seed(s) sit at chance level at the last epoch (train accuracy within 2 points of 1/C and "
            "loss within 2 % of ln C: collapsed, e.g. every ReLU output unit dead); the means above leave them out.",
            icon=":material/warning:",
        )
    diverged = charts_training.divergence_rows(metrics)
    if diverged:
        st.warning(
            f"{len(diverged)} seed(s) diverged (non-finite loss); they are marked ✕ on the loss curve and left out "
            "of the means after that point.",
            icon=":material/warning:",
        )
    controls = st.columns([2, 1, 2, 1])
    smoothing = controls[0].slider("loss smoothing", 0.0, 0.99, 0.6, 0.01, key=f"{key}.smooth",
                                   help="exponential moving average weight (0 = raw per-batch loss)")  # fmt: skip
    log_y = controls[1].toggle("log scale (loss)", key=f"{key}.logy")
    spread = spread_control(controls[2], key)
    split = controls[3].radio("accuracy of", ["test", "train"], horizontal=True, key=f"{key}.split")
    left, right = st.columns(2)
    with left:
        chart(charts_training.loss_figure([("", metrics)], smoothing, log_y, spread=spread), f"{key}.loss", "loss")
    with right:
        chart(charts_training.accuracy_figure([("", metrics)], split, spread=spread), f"{key}.acc", f"{split}-accuracy")

    if not charts.has_rows(metrics, "layer/grad_y_u"):
        return
    layers = int(np.asarray(metrics["layer/grad_y_u"]).shape[-1])
    default_layers = sorted({0, layers // 2, layers - 1})
    chosen = st.multiselect("hidden layers to plot", list(range(layers)), default=default_layers,
                            format_func=lambda i: f"layer {i + 1}", key=f"{key}.layers")  # fmt: skip
    left, right = st.columns(2)
    with left:
        chart(charts_training.grad_lines_figure([("", metrics)], chosen), f"{key}.grad", "dy-du-lines")
    with right:
        chart(charts_training.entropy_time_figure(metrics, chosen), f"{key}.enttime", "entropy-over-time")
    chart(charts_training.grad_heatmap_figure(metrics), f"{key}.heat", "dy-du-heatmap")
    if charts.has_rows(metrics, "layer/alpha_distance"):
        chart(charts_training.fixed_point_figure(metrics, chosen), f"{key}.fixed", "distance-to-fixed-point")
        st.caption("How far each rule's α and β are from the rule's own fixed point on the current batch (IP: "
                   "|α − 2E[xy]| and |E[y]|; WD: |α − 2E[xy]| and |β − E[y]|; incremental BN: |α − σ[x]| and "
                   "|β − E[x]|; Infomax: |α − 1/(2E[xy])| and |E[y]|). A rule far from it is still ramping, not "
                   "yet doing what its equation aims at.")  # fmt: skip
    depth_profile(metrics, key)
    log_alpha = st.toggle("α on a log scale", key=f"{key}.logalpha",
                          help="α spans decades between rules (IP ≈ 1, WD ≈ 10): a log axis shows both")  # fmt: skip
    chart(charts_lab.alpha_beta_time_figure(metrics, chosen, log_alpha), f"{key}.abtime", "alpha-beta-over-time")

    st.markdown("##### Inside the layers at one moment")
    hist_steps = np.asarray(metrics.get("hist/step", []))
    layer_steps = np.asarray(metrics["layer/step"])
    if charts.has_rows(metrics, "hist/hist"):
        index = time_slider("recorded histogram", hist_steps, f"{key}.t",
                            lambda i: charts.time_index_label(metrics, "hist", i), live)  # fmt: skip
        step = hist_steps[index]
        layer_index = int(np.searchsorted(layer_steps, step, side="right") - 1)
        layer_index = min(max(layer_index, 0), len(layer_steps) - 1)
        chart(charts_layers.histogram_figure(metrics, index), f"{key}.hist", "activation-histograms")
    else:
        layer_index = time_slider("recorded step", layer_steps, f"{key}.t",
                                  lambda i: charts.time_index_label(metrics, "layer", i), live)  # fmt: skip
    left, right = st.columns(2)
    with left:
        chart(charts_layers.alpha_beta_figure(metrics, layer_index, log_alpha), f"{key}.ab", "alpha-beta-per-layer")
    with right:
        chart(charts_layers.entropy_layers_figure(metrics, layer_index), f"{key}.ent", "entropy-per-layer")
    if diverged:
        st.markdown("##### Diverged seeds")
        st.dataframe(diverged, hide_index=True)


# --- single-neuron runs -------------------------------------------------------------------------------


def neuron_summary_rows(metrics: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per rule at the latest record: α, β, the tanh's centre, entropy (and its share of log 2), E[y], α ≤ 0."""
    rows = []
    last = -1
    for i, rule in enumerate(charts.neuron_rules(metrics)):
        alpha = float(np.asarray(metrics["trace/alpha"])[last, i])
        beta = float(np.asarray(metrics["trace/beta"])[last, i])
        _, centre = centre_and_gain(rule, np.array(alpha), np.array(beta))
        entropy = float(np.asarray(metrics["trace/entropy"])[last, i])
        rows.append(
            {
                "rule": rule,
                "α": round(alpha, 4) if math.isfinite(alpha) else None,
                "β": round(beta, 4) if math.isfinite(beta) else None,
                "tanh centre": round(float(centre), 4) if np.isfinite(centre) else None,
                "entropy H (nats)": round(entropy, 4) if math.isfinite(entropy) else None,
                "log 2 − H": round(ENTROPY_MAX - entropy, 4) if math.isfinite(entropy) else None,
                "E[y]": round(float(np.asarray(metrics["trace/mean_y"])[last, i]), 4),
                "α ≤ 0 count": int(np.asarray(metrics["trace/alpha_nonpositive"])[last, i]),
            }
        )
    return rows


def neuron_run_view(
    metrics: Mapping[str, np.ndarray],
    key: str,
    live: bool = False,
    entropy_bound: float | None = None,
    target: tuple[str, float | None] | None = None,
) -> None:
    """Every chart of a single-neuron run: output histogram over a chosen iteration, entropy vs log 2 (and
    ``entropy_bound``, the most a tanh can reach on this input, when known), α and β, the tanh's centre vs the
    sample's median and mean, and the tanh over the input density. ``target`` (the unit's activation and
    Triesch's target mean): a logistic unit's output is drawn against its own targets on (0, 1) in place of the
    tanh's histogram on [−1, 1]."""
    if not charts.has_rows(metrics, "trace/iter"):
        st.info("Waiting for the first record …", icon=":material/hourglass_top:")
        return
    iters = np.asarray(metrics["trace/iter"])
    st.caption(
        f"Sample: median {float(metrics['sample_median']):.4g}, mean {float(metrics['sample_mean']):.4g}, "
        f"std {float(metrics['sample_std']):.4g}. Values at iteration {int(iters[-1])}:"
    )
    st.dataframe(neuron_summary_rows(metrics), hide_index=True, width="stretch")
    chart(charts_neuron.neuron_histogram_heatmap(metrics), f"{key}.histmap", "output-density-over-iterations")
    index = time_slider("iteration shown", iters, f"{key}.t", lambda i: f"iteration {int(iters[i])}", live)
    left, right = st.columns(2)
    with left:
        # One picture of the output at the chosen iteration against its maximum-entropy target: for a tanh unit the
        # histogram on [−1, 1] with the uniform ½ drawn on it; a logistic unit's lives on (0, 1), where the target
        # chart draws the uniform there (and Triesch's exponential). Both at once were the same curves twice.
        if target is not None and target[0] != "tanh":
            from ipcore.charts import beyond as charts_beyond

            chart(charts_beyond.output_vs_target_figure(metrics, index, *target), f"{key}.target", "output-vs-target")
        else:
            chart(charts_neuron.neuron_histogram_figure(metrics, index), f"{key}.hist", "output-histogram")
    with right:
        chart(charts_neuron.tanh_over_density_figure(metrics, index), f"{key}.tanh", "tanh-over-density")
    if target is not None and target[0] == "logistic":
        st.caption("Logistic units: the output lives on (0, 1), whose uniform density has entropy log 1 = 0 nats. "
                   "The log 2 line, the 'log 2 − H' column and the density heatmap's ½ reference below are the "
                   "tanh unit's; compare the entropy with 0 here.")  # fmt: skip
    left, right = st.columns(2)
    with left:
        chart(
            charts_neuron.neuron_entropy_figure([("", metrics)], bound=entropy_bound),
            f"{key}.ent",
            "entropy-vs-iteration",
        )
    with right:
        chart(charts_neuron.beta_median_figure(metrics), f"{key}.beta", "centre-vs-median")
    log_alpha = st.toggle("α on a log scale", key=f"{key}.logalpha",
                          help="α spans decades between rules (IP ≈ 1, WD ≈ 10): a log axis shows both")  # fmt: skip
    chart(charts_neuron.alpha_beta_trajectory_figure(metrics, log_alpha), f"{key}.ab", "alpha-beta-trajectories")


RunView = Callable[..., None]  # train_run_view or neuron_run_view: (metrics, key, live=False)


@st.cache_resource(show_spinner=False)
def live_budget() -> LiveBudget:
    """The server's one refresh budget, shared by every session that watches a job (``app.live``)."""
    return LiveBudget()


LIVE_CHARTS_KEY = "live-charts"
"""The class (``st-key-live-charts…``) of the container that holds a job's live charts."""

KEEP_LIVE_CHARTS_OPAQUE = (
    '<style>[class*="st-key-live-charts"] [data-stale="true"], [data-stale="true"]:has([class*="st-key-live-charts"])'
    " { opacity: 1 !important; transition: none !important; }</style>"
)
"""Streamlit fades an element that a rerun has not yet sent again ("stale"). A live chart is updated in place and
shows the job's latest recorded rows until the next ones arrive, so a fade would only say that the server is
busy: on a loaded machine the charts' fragment takes over 0.5 s and every chart dimmed on each refresh."""

STOP_WAIT_S = STOP_GRACE_S + 0.4
"""How long a click on Stop waits for the job to end before the page is drawn again (a job in a process ends
within ``STOP_GRACE_S`` unless it has said it is stopping; such a one is shown stopping, then stopped)."""


def live_job(job_id: str, run_view: RunView, prefix: str) -> None:
    """A lab's job while queued or running, drawn by two fragments that refresh on their own timers (the script
    never blocks): the progress bar every second (every few seconds while queued), and the charts at the interval
    the server's budget allows this session (``app.live``: at least every 2 s, slower when many people watch or the
    machine is busy); Stop stands beside the progress, outside the fragments. A full rerun happens only when the
    job starts or ends, when Stop is clicked, or when the chart interval should change. ``prefix`` keys the
    widgets (``<prefix>.stop``, ``<prefix>.run``)."""
    status = app_jobs.status(job_id)
    if status is None or status["state"] not in app_jobs.ACTIVE_STATES:
        # It ended (or was forgotten) since the page looked, e.g. a Stop whose wait ran out just before: drawn live
        # now, with its ended state as the one the header compares with, it would never be drawn ended.
        st.rerun()
    running = status["state"] == "running"
    interval = None
    if running:  # until the first rows arrive, look again at once; then at the server's budget
        interval = live_budget().chart_interval() if _recorded(job_id) else STARTING_S
    starting = not running and not status.get("queue_position") and not _slots_full()
    st.session_state[f"{prefix}.live"] = {"state": status["state"], "interval": interval}
    if not st.session_state.get("live_plot.preloaded"):  # the finished view's charts, ready when the job ends
        st.session_state["live_plot.preloaded"] = True
        st.html(preload_native_charts_script(), unsafe_allow_javascript=True)
    header_every = PROGRESS_S if running else (STARTING_S if starting else QUEUED_S)
    top = st.columns([5, 1])
    with top[0]:
        st.fragment(run_every=header_every)(_live_header)(job_id, prefix)
    # outside the fragments: a click starts a full rerun, which Streamlit lets interrupt a fragment's run (a chart
    # being drawn, seconds on a busy server); a fragment's own rerun would wait for it to finish
    top[1].button("Stop", key=f"{prefix}.stop", icon=":material/stop_circle:", width="stretch",
                  on_click=_stop, args=(job_id,))  # fmt: skip
    if running:
        st.html(KEEP_LIVE_CHARTS_OPAQUE)
        st.fragment(run_every=interval)(_live_charts)(job_id, run_view, prefix)
    else:
        live_budget().left(app_jobs.owner())
        st.info("The charts appear here as soon as the job starts.", icon=":material/hourglass_top:")


def _recorded(job_id: str) -> bool:
    """Whether the job has recorded its first rows (a network's first batch, a neuron's first iteration)."""
    try:
        metrics = app_jobs.manager().snapshot(job_id)
    except app_jobs.UnknownJob:
        return False
    return any(charts.has_rows(metrics, key) for key in ("batch/loss", "trace/iter"))


def _slots_full() -> bool:
    queue = app_jobs.queue_summary()
    return queue["running"] >= queue["cap"]


def _live_header(job_id: str, prefix: str) -> None:
    """Progress; a full rerun once the job has started or ended, or its chart timer needs retuning."""
    status = app_jobs.status(job_id)
    drawn = st.session_state.get(f"{prefix}.live") or {}
    if status is None or status["state"] not in app_jobs.ACTIVE_STATES or status["state"] != drawn.get("state"):
        st.rerun()
    waiting = drawn.get("interval") == STARTING_S  # the charts' fragment reruns the page at the first rows
    if (
        status["state"] == "running"
        and not waiting
        and needs_retune(drawn.get("interval"), live_budget().chart_interval())
    ):
        st.rerun()
    progress(status)


def _stop(job_id: str) -> None:
    """Stop's callback, run first in the rerun its click starts: cancel the job — its process hears of it at once
    and ends within ``STOP_GRACE_S``, killed if need be — and wait for the end, so that this rerun draws the run
    stopped rather than a later one. A toast says so at once: the rerun reaches the job's place on the page
    only after the controls above it (2.7 s on a busy 2-core server)."""
    app_jobs.manager().cancel(job_id)
    ended = app_jobs.manager().wait(job_id, timeout=STOP_WAIT_S)
    if ended["state"] == "cancelled":
        st.toast(f"Stopped after {duration(ended.get('elapsed_s'))}; what was recorded is kept.",
                 icon=":material/stop_circle:")  # fmt: skip


def _live_charts(job_id: str, run_view: RunView, prefix: str) -> None:
    """The run's charts from the job's latest snapshot; the time it took feeds the server's budget."""
    started = time.perf_counter()
    budget = live_budget()
    budget.watching(app_jobs.owner())
    try:
        metrics = app_jobs.manager().snapshot(job_id)
    except app_jobs.UnknownJob:
        st.rerun()
    token = _LIVE.set(True)
    try:
        with st.container(key=f"{LIVE_CHARTS_KEY}-{slug(prefix)}"):
            run_view(metrics, key=f"{prefix}.run", live=True)
    finally:
        _LIVE.reset(token)
    budget.measured(time.perf_counter() - started)
    drawn = st.session_state.get(f"{prefix}.live") or {}
    if drawn.get("interval") == STARTING_S and _recorded(job_id):
        st.rerun()  # the first points are drawn: from now on refresh at the budget's interval


def finished_job(status: Mapping[str, Any], run_view: RunView, prefix: str) -> None:
    """A lab's ended job: its outcome, its charts (from the manager, or from its record once forgotten) and
    downloads."""
    live_budget().left(app_jobs.owner())
    job_outcome(status)
    try:
        metrics = app_jobs.manager().snapshot(status["job_id"])
    except app_jobs.UnknownJob:
        metrics = app_jobs.record(status["run_id"]).metrics if status.get("run_id") else {}
    if metrics:
        run_view(metrics, key=f"{prefix}.run")
        run_downloads(status["config"], status.get("summary") or {}, metrics,
                      status.get("run_id") or status["job_id"], f"{prefix}.run")  # fmt: skip
