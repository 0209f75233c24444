"""Sweeps: any grid of learning rate × η, trained as one batched model here or on a Ray cluster, as heatmaps per rule
— plus the 1-D "final loss vs learning rate" view of the thesis's claim that IP keeps deep nets trainable at larger
learning rates.

The setup is a ``SweepConfig`` kept in the page address (``app.state``), so a link reopens the same grid. Launching
queues ``ipcore.training.sweep.run_sweep`` as a job of the server's one job manager (``app.sweeps``), on this machine or on the Ray cluster named by
``IPCORE_RAY_ADDRESS``; a fragment follows it and the heatmaps fill in as grid points finish. Every point is saved
as a record, so finished sweeps appear below ("from stored runs") and in the gallery's run list. Nothing the page
sends names a server path: datasets are chosen by name and read from the server's own data root.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from app import lab

lab.heading(
    "Learning-rate sweep",
    "A grid of synaptic learning rate × η per rule, every point comparing the chosen rules over several seeds. "
    "The whole grid trains as one batched model on this server (or spreads over a Ray cluster); each point "
    "equals training that setting alone.",
)  # first, so the page shows before the engine and the charts are imported
lab.preload_charts()  # the plotly chunk loads in the browser while this script computes

from app import controls, state, views  # noqa: E402
from app import jobs as app_jobs  # noqa: E402
from app import sweeps as app_sweeps  # noqa: E402
from app.text import name_help, plain, public_message, public_paths  # noqa: E402
from ipcore.charts import sweep as sweep_charts  # noqa: E402
from ipcore.config import ConfigError, SweepConfig  # noqa: E402
from ipcore.data import browser_datasets  # noqa: E402
from ipcore.results.health import no_healthy_text  # noqa: E402
from ipcore.results.records import MAX_NAME_LENGTH, CorruptRecord, RunNotFound, check_name  # noqa: E402
from ipcore.specs.rules import RULE_SPECS, default_eta  # noqa: E402

PAGE = "sweep"
IGNORED = ("lr", "data_root", "device", "log_every", "hist_every")
DEFAULT = SweepConfig(
    dataset="clusters", rules=["ip", "none"], lr=[0.003, 0.01, 0.03], eta={"ip": [1e-3, 1e-2]}, depth=7, width=50,
    epochs=2, seeds=2,
)  # fmt: skip
DEFAULT_NOTE = (
    "This first grid shows IP acting: on the synthetic clusters at lr 0.003, IP with η = 0.01 ends 2 epochs with "
    "about half the standard net's loss (0.48 vs 0.98 nats when measured), while with η = 0.001 the two nearly "
    "coincide; at lr 0.03 both stay at chance. About 15 s on a 2-core CPU."
)


# --- the 1-D view from stored runs (unchanged idea: runs that differ only in lr) ------------------------------


def setting_key(config: dict) -> str:
    """Everything but the learning rate (and where/how it ran): runs with the same key form one sweep."""
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in IGNORED}, sort_keys=True)


def setting_label(config: dict, metas: list[dict]) -> str:
    lrs = sorted({m["config"]["lr"] for m in metas})
    experiments = sorted({m["experiment"] for m in metas if m.get("experiment")})
    source = f"from {', '.join(experiments)}" if experiments else "your runs"
    etas = " ".join(f"η {k}={v:g}" for k, v in sorted((config.get("eta") or {}).items()))
    return (f"{public_paths(config['dataset'])} · depth {config['depth']} × {config['width']} · rules {', '.join(config['rules'])} · "
            f"{etas + ' · ' if etas else ''}{config['epochs']} epoch(s) · {config['seeds']} seed(s) · "
            f"{len(lrs)} learning rates ({source})")  # fmt: skip


def sweeps_from_records(metas: list[dict]) -> dict[str, list[dict]]:
    """Finished network runs grouped by setting; only groups with at least two learning rates."""
    groups: dict[str, list[dict]] = {}
    for meta in metas:
        config = meta.get("config") or {}
        if config.get("kind") != "train" or meta.get("state") == "failed":
            continue
        groups.setdefault(setting_key(config), []).append(meta)
    return {k: v for k, v in groups.items() if len({m["config"]["lr"] for m in v}) >= 2}


def sweep_plot(runs: list[tuple[float, Any]], key: str, dataset: str | None = None) -> None:
    points = sweep_charts.sweep_points(runs, dataset)
    views.chart(sweep_charts.lr_sweep_figure(points), key, "lr-sweep")

    def number(value: float | None, point: dict) -> str:  # no healthy seed: say why instead of "None"
        return (
            no_healthy_text(point["diverged"], point["collapsed"], point["seeds"]) if value is None else f"{value:.4g}"
        )

    table = [
        {"rule": p["rule"], "lr": p["lr"], "final loss (mean of healthy seeds)": number(p["loss_mean"], p),
         "min": number(p["loss_min"], p), "max": number(p["loss_max"], p),
         "diverged seeds": f"{p['diverged']} of {p['seeds']}", "collapsed seeds": f"{p['collapsed']} of {p['seeds']}"}
        for p in points
    ]  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch")


def load_runs(run_ids: list[tuple[float, str]]) -> list[tuple[float, Any]]:
    runs = []
    for lr, run_id in run_ids:
        try:
            runs.append((lr, app_jobs.record(run_id).metrics))
        except (RunNotFound, CorruptRecord, ConfigError, OSError) as error:
            st.warning(f"Run {plain(run_id)} could not be read: {public_message(error)}")
    return runs


def records_section(metas: list[dict]) -> None:
    st.subheader("From stored runs")
    groups = sweeps_from_records(metas)
    if not groups:
        st.info("No stored sweep yet: network runs that differ only in their learning rate appear here (the "
                "gallery's figures 3.5, 3.6, 4.2 and 4.3 once computed, or a sweep you launch above).")  # fmt: skip
        return
    labels = {setting_label(v[0]["config"], v): k for k, v in groups.items()}
    choice = st.selectbox("setting", list(labels), key="sweep.setting")
    runs = load_runs([(m["config"]["lr"], m["run_id"]) for m in groups[labels[choice]]])
    sweep_plot(runs, "sweep.records", groups[labels[choice]][0]["config"].get("dataset"))


# --- the setup ----------------------------------------------------------------------------------------------


# Fields drawn from their declarations in the first row; then subset and batch size; every other declared field
# goes under "advanced" (``controls.other_fields``).
GRID = ("depth", "width", "epochs", "seeds")
SAMPLES = ("subset", "batch_size")
UNITS = ("activation", "optimizer")
CUSTOM = ("dataset", "rules", "lr", "eta", *GRID, *SAMPLES, *UNITS)


def seed_values(config: SweepConfig) -> dict[str, Any]:
    values = {**controls.seed_values(config, PAGE), "sweep.rules": list(config.rules), "sweep.lrs": list(config.lr)}
    for rule in controls.rules_with_eta(RULE_SPECS):
        values[f"sweep.eta.{rule}"] = list(config.eta.get(rule) or [float(default_eta(rule) or 0.0)])
    return values


def setup_widgets(available: dict[str, dict]) -> tuple[SweepConfig | None, str | None]:
    """The grid from the widgets (bound to session keys, seeded from the address): the config or the error."""

    def dataset_label(name: str) -> str:
        info = available.get(name)
        return name if info is None or info["available"] else f"{name} (not on this server)"

    cols = st.columns([2, 3])
    dataset = cols[0].selectbox("dataset", browser_datasets(), key="sweep.dataset", format_func=dataset_label)
    rules = cols[1].multiselect("rules (each grid point compares them)", list(RULE_SPECS), key="sweep.rules",
                                format_func=controls.rule_label)  # fmt: skip
    values: dict[str, Any] = {}
    for column, name in zip(st.columns(len(GRID)), GRID, strict=True):
        values.update(controls.fields_widgets(SweepConfig, [name], PAGE, column))
    cols = st.columns([1, 1, 2])
    for column, name in zip(cols[:2], SAMPLES, strict=True):
        values.update(controls.fields_widgets(SweepConfig, [name], PAGE, column))
    lr_options = controls.log_options(controls.LR_GRID, *st.session_state.get("sweep.lrs", []), high=10.0)
    lrs = cols[2].multiselect("learning rates", lr_options, key="sweep.lrs", format_func=lambda v: f"{v:g}")
    for column, name in zip(st.columns(len(UNITS)), UNITS, strict=True):
        values.update(controls.fields_widgets(SweepConfig, [name], PAGE, column))
    eta: dict[str, list[float]] = {}
    swept = controls.rules_with_eta(rules)
    if swept:
        eta_cols = st.columns(len(swept))
        for column, rule in zip(eta_cols, swept, strict=True):
            key = f"sweep.eta.{rule}"
            high = 1.0 if RULE_SPECS[rule].weighted_decay else float("inf")
            options = controls.log_options(controls.ETA_GRID, *st.session_state.get(key, []), high=high)
            default = float(default_eta(rule) or 0.0)
            chosen = column.multiselect(f"η for {rule}", options, key=key, format_func=lambda v: f"{v:g}",
                                        help=f"one value or several (a grid axis); the thesis: {default:g}")  # fmt: skip
            if sorted(chosen) != [default]:
                eta[rule] = sorted(chosen)
    with st.expander("advanced"):
        values.update(controls.other_fields(SweepConfig, PAGE, CUSTOM))
    values.update(dataset=dataset, rules=rules, lr=sorted(lrs), eta=eta)
    try:
        return SweepConfig.from_dict(values), None
    except ConfigError as error:
        return None, str(error)


# --- a running or finished sweep ----------------------------------------------------------------------------


def grid_view(run: app_sweeps.SweepRun, key: str) -> None:
    config = run.config
    entries = run.finished_entries()
    done = len(entries)
    st.markdown(f"**Sweep {plain(run.name)}** ({run.backend}): {done} of {run.points} grid points finished · "
                f"{run.state}")  # fmt: skip
    if run.state == "queued":
        st.caption(views.queued_text(run.queue_position, run.running_jobs))
    st.progress(min(max(run.progress, 0.0), 1.0))
    if run.error:
        st.error(f"The sweep reported a problem: {public_message(run.error)}", icon=":material/error:")
    if not entries:
        return
    swept = list(config.eta)
    cols = st.columns([3, 1])
    metric = cols[0].radio("heatmap", list(sweep_charts.METRICS), key=f"{key}.metric", horizontal=True,
                           format_func=lambda m: sweep_charts.METRICS[m])  # fmt: skip
    layer = 0
    if metric == "grad_y_u":
        layer = cols[1].number_input("layer", 1, config.depth, min(3, config.depth), key=f"{key}.layer") - 1
    figure = sweep_charts.grid_heatmaps(entries, config.rules, swept, metric, layer, config.seeds)
    views.chart(figure, f"{key}.grid", f"sweep-{run.name}-{metric}")
    rows = list(dict.fromkeys(sweep_charts.eta_label(e["eta"], swept) for e in entries))
    row = st.selectbox("1-D view: final loss vs learning rate at", rows, key=f"{key}.row") if len(rows) > 1 else rows[0]
    chosen = [(e["lr"], e["run_id"]) for e in entries if sweep_charts.eta_label(e["eta"], swept) == row]
    runs = load_runs(chosen)
    if runs:
        sweep_plot(runs, f"{key}.line")


@st.fragment(run_every=1.0)
def live_grid(sweep_id: str) -> None:
    run = app_sweeps.get(sweep_id)
    if run is None:
        return
    if not run.active:
        st.rerun()
    if st.button("Stop the sweep", icon=":material/stop_circle:", key="sweep.stop"):
        app_sweeps.stop(sweep_id)
    grid_view(run, "sweep.live")


# --- page ---------------------------------------------------------------------------------------------------

try:
    available = lab.datasets()
except Exception as error:  # listing must never break the page
    views.engine_error(error, "listing the datasets")
    available = {}


def grid_error(error: str) -> None:
    st.error(f"This grid cannot run: {plain(error)}", icon=":material/error:")


lab_state = lab.lab_page(SweepConfig, PAGE, seed_values, lambda: setup_widgets(available), default=DEFAULT,
                         on_error=grid_error)  # fmt: skip
config, error = lab_state.config, lab_state.error

cols = st.columns([2, 2, 3])
ray_address = app_sweeps.ray_address()
backend = cols[0].radio(
    "run on", ["local", "ray"], key="sweep.backend", horizontal=True,
    format_func=lambda b: "this server" if b == "local" else "Ray cluster",
    help=f"Ray: the cluster at ${app_sweeps.RAY_ADDRESS_VARIABLE}" + ("" if ray_address else " (not set on this server)"),
)  # fmt: skip
name = cols[1].text_input("sweep name (optional)", key="sweep.name", placeholder="a re-run with it resumes",
                          max_chars=MAX_NAME_LENGTH, help=name_help())  # fmt: skip
missing = not error and not (available.get(config.dataset) or {"available": True})["available"]
if missing:
    st.warning(f"**{config.dataset}** is not on this server, so this grid cannot train here. How to get it: "
               f"{available[config.dataset]['how']}. The synthetic datasets (clusters, spirals) always work.",
               icon=":material/cloud_off:")  # fmt: skip
if backend == "ray" and not ray_address:
    st.info(f"No Ray cluster is configured: start the app with {app_sweeps.RAY_ADDRESS_VARIABLE}=HOST:PORT "
            "(see docs/sweeps.md).", icon=":material/info:")  # fmt: skip
sweep_id = st.session_state.get("sweep.run")
current = app_sweeps.get(sweep_id)
active = current is not None and current.active
if not error:
    points = len(config.points())
    networks = points * len(config.rules) * config.seeds
    cols[2].caption(f"{points} grid points × {len(config.rules)} rules × {config.seeds} seeds = {networks} networks "
                    f"of depth {config.depth} × {config.width}, {config.epochs} epoch(s) each.")  # fmt: skip
clicked = st.button("Launch sweep", type="primary", icon=":material/play_arrow:",
                    disabled=bool(error) or missing or active or (backend == "ray" and not ray_address))  # fmt: skip
if not error and config == DEFAULT:
    st.caption(DEFAULT_NOTE)
# drawn when opened: st.code costs the page Streamlit's syntax-highlighter chunk (1.5 MB, 0.3-0.6 s of the browser)
with st.expander("share this grid", key="sweep.share.open", on_change="rerun") as share:
    if share.open:
        st.caption("The address bar holds this grid; copy it to reopen exactly this setup. Its query:")
        st.code(state.share_link(config), language=None, wrap_lines=True)

if clicked and not error:
    try:
        digest = hashlib.sha1(config.to_json().encode()).hexdigest()[:6]
        sweep_name = check_name(name) if name.strip() else f"sweep-{config.dataset}-{digest}-{app_jobs.owner()[:4]}"
        sweep_id = app_sweeps.start(config, name=sweep_name, backend=backend)
        st.session_state["sweep.run"] = sweep_id
        current = app_sweeps.get(sweep_id)
        active = True
    except ConfigError as launch_error:
        views.engine_error(launch_error, "cannot launch")

if active:
    live_grid(sweep_id)
elif current is not None:
    grid_view(current, "sweep.done")

st.divider()
try:
    metas = app_jobs.runs()
except Exception as list_error:
    views.engine_error(list_error, "reading the run records")
    metas = []
records_section(metas)
