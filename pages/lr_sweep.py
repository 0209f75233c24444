"""Learning-rate sweep: final loss and divergence vs the synaptic learning rate, per rule — the thesis's
"IP makes deep nets robust to larger learning rates" in one plot.

From records: network runs that share every setting but the learning rate form one sweep (the gallery's
three-rate figures, or the user's own runs). Or launch one: one job per learning rate through the server's
queue; a fragment follows the jobs and the plot fills in as they finish. The sweep's runs are saved, so they
appear here (and in the gallery) afterwards.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import streamlit as st

from app import charts, controls, views
from app import jobs as app_jobs
from ipcore.config import ConfigError, TrainConfig
from ipcore.records import CorruptRecord, RunNotFound

IGNORED = ("lr", "data_root", "device", "log_every", "hist_every")
DEFAULT_LRS = (1e-3, 3e-3, 0.01, 0.03, 0.1)


def setting_key(config: dict) -> str:
    """Everything but the learning rate (and where/how it ran): runs with the same key form one sweep."""
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in IGNORED}, sort_keys=True)


def setting_label(config: dict, metas: list[dict]) -> str:
    lrs = sorted({m["config"]["lr"] for m in metas})
    experiments = sorted({m["experiment"] for m in metas if m.get("experiment")})
    source = f"gallery {', '.join(experiments)}" if experiments else "your runs"
    return (f"{config['dataset']} · depth {config['depth']} × {config['width']} · rules {', '.join(config['rules'])} · "
            f"{config['epochs']} epoch(s) · {config['seeds']} seed(s) · {len(lrs)} learning rates ({source})")  # fmt: skip


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
    points = charts.sweep_points(runs, dataset)
    views.chart(charts.lr_sweep_figure(points), key, "lr-sweep")
    table = [
        {"rule": p["rule"], "lr": p["lr"], "final loss (mean)": p["loss_mean"], "min": p["loss_min"],
         "max": p["loss_max"], "diverged seeds": f"{p['diverged']} of {p['seeds']}",
         "collapsed seeds": f"{p['collapsed']} of {p['seeds']}"}
        for p in points
    ]  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch")


def records_section(metas: list[dict]) -> None:
    st.subheader("From stored runs")
    groups = sweeps_from_records(metas)
    if not groups:
        st.info("No stored sweep yet: network runs that differ only in their learning rate appear here (the "
                "gallery's figures 3.5, 3.6, 4.2 and 4.3 once computed, or a sweep you launch below).")  # fmt: skip
        return
    labels = {setting_label(v[0]["config"], v): k for k, v in groups.items()}
    choice = st.selectbox("setting", list(labels), key="sweep.setting")
    runs = []
    for meta in groups[labels[choice]]:
        try:
            record = app_jobs.record(meta["run_id"])
        except (RunNotFound, CorruptRecord, ConfigError, OSError) as error:
            st.warning(f"Run {meta['run_id']} could not be read: {error}")
            continue
        runs.append((record.config.lr, record.metrics))
    sweep_plot(runs, "sweep.records", groups[labels[choice]][0]["config"].get("dataset"))


def base_config() -> TrainConfig:
    """The network lab's current setup if this session has one, else a quick synthetic default."""
    remembered = st.session_state.get("net.config")
    if isinstance(remembered, TrainConfig):
        return remembered
    return TrainConfig(dataset="clusters", rules=["ip", "none"], depth=7, width=50, epochs=1, seeds=2)


def launch_section() -> None:
    st.subheader("Launch a sweep")
    base = base_config()
    st.caption("Starts from the Network lab's setup (or a quick synthetic one); one job per learning rate, run "
               "through the server's queue one after another.")  # fmt: skip
    with st.form("sweep.form"):
        cols = st.columns(4)
        dataset = cols[0].text_input(
            "dataset", base.dataset, key="sweep.dataset", help="mnist, fashion-mnist, cifar10, clusters, spirals"
        )
        rules = cols[1].multiselect(
            "rules", list(controls.RULES), default=base.rules, format_func=controls.rule_label, key="sweep.rules"
        )
        depth = cols[2].slider("depth", 1, 12, min(base.depth, 12), key="sweep.depth")
        width = cols[3].number_input("width", 1, 2048, base.width, key="sweep.width")
        cols = st.columns(4)
        epochs = cols[0].number_input("epochs", 1, 1000, base.epochs, key="sweep.epochs")
        seeds = cols[1].number_input("seeds", 1, 64, base.seeds, key="sweep.seeds")
        subset = cols[2].number_input(
            "train subset (0 = all)", 0, 10_000_000, base.subset, step=100, key="sweep.subset"
        )
        batch_size = cols[3].number_input("batch size", 1, 65536, base.batch_size, key="sweep.batch")
        lrs = st.multiselect(
            "learning rates",
            controls.LR_GRID,
            default=list(DEFAULT_LRS),
            format_func=lambda v: f"{v:g}",
            key="sweep.lrs",
        )
        launched = st.form_submit_button("Launch sweep", type="primary", icon=":material/play_arrow:")
    if not launched:
        return
    if len(lrs) < 2:
        st.error("lr: choose at least two learning rates to sweep", icon=":material/error:")
        return
    try:
        config = TrainConfig.from_dict(
            base.to_dict()
            | {
                "dataset": dataset.strip(),
                "rules": rules,
                "depth": depth,
                "width": width,
                "epochs": epochs,
                "seeds": seeds,
                "subset": subset,
                "batch_size": batch_size,
                "eta": {r: v for r, v in base.eta.items() if r in rules},
            }  # fmt: skip
        )
        tag = secrets.token_hex(2)
        jobs = [app_jobs.submit(config.replace(lr=float(lr)), name=f"sweep-{tag} lr={lr:g}") for lr in sorted(lrs)]
    except ConfigError as error:
        views.engine_error(error, "cannot launch")
        return
    st.session_state["sweep.jobs"] = jobs


@st.fragment(run_every=1.0)
def live_sweep(job_ids: list[str]) -> None:
    statuses = [s for s in (app_jobs.status(j) for j in job_ids) if s is not None]
    if not any(s["state"] in app_jobs.ACTIVE_STATES for s in statuses):
        st.rerun()
    sweep_progress(statuses)


def sweep_progress(statuses: list[dict]) -> None:
    done = sum(1 for s in statuses if s["state"] not in app_jobs.ACTIVE_STATES)
    st.markdown(f"**Your sweep:** {done} of {len(statuses)} learning rates finished.")
    rows = [{"lr": s["config"]["lr"], "state": s["state"], "progress %": round(100 * s["progress"]),
             "elapsed": views.duration(s["elapsed_s"]), "run": s.get("run_id") or "", "error": s.get("error") or ""}
            for s in statuses]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch")
    running = [s for s in statuses if s["state"] == "running"]
    if running and st.button("Stop the sweep", icon=":material/stop_circle:", key="sweep.stop"):
        for s in statuses:
            if s["state"] in app_jobs.ACTIVE_STATES:
                app_jobs.manager().cancel(s["job_id"])
    runs = []
    for s in statuses:
        if s["state"] in ("done", "cancelled"):
            try:
                runs.append((s["config"]["lr"], app_jobs.manager().snapshot(s["job_id"])))
            except app_jobs.UnknownJob:
                continue
    runs = [(lr, m) for lr, m in runs if charts.has_rows(m, "batch/loss")]
    if runs:
        sweep_plot(runs, "sweep.live")
    failed = [s for s in statuses if s["state"] == "failed"]
    for s in failed:
        st.error(f"lr {s['config']['lr']:g} failed: {s['error']}", icon=":material/error:")


# --- page ---------------------------------------------------------------------------------------------

st.title("Learning-rate sweep")
st.caption("Final training loss (mean over seeds, error bar min–max) and the share of diverged seeds against the "
           "synaptic learning rate, per rule. The thesis: with IP (or WD) a deep tanh net keeps training at rates "
           "where the standard net degrades or diverges.")  # fmt: skip
try:
    metas = app_jobs.runs()
except Exception as error:
    views.engine_error(error, "reading the run records")
    metas = []

launch_section()
sweep_jobs = st.session_state.get("sweep.jobs") or []
statuses = [s for s in (app_jobs.status(j) for j in sweep_jobs) if s is not None]
if statuses and any(s["state"] in app_jobs.ACTIVE_STATES for s in statuses):
    live_sweep(sweep_jobs)
elif statuses:
    sweep_progress(statuses)
st.divider()
records_section(metas)
