"""Network lab: train deep tanh MLPs with intrinsic rules and watch them learn, live.

The sidebar is the setup (a ``TrainConfig``, mirrored in the address); *Train* submits it to the server's job
manager, *Stop* cancels. While the job runs, a fragment re-reads its snapshot every second — the script never
blocks or sleeps — and draws every chart. The finished run is saved and shows up in the gallery under "my runs".
"""

from __future__ import annotations

import streamlit as st

from app import lab

lab.heading("Network lab")  # first, so the page shows before the engine and the charts are imported

from app import PAGES_DIR, controls, lab_guide, state, views  # noqa: E402
from app import jobs as app_jobs  # noqa: E402
from app.text import name_help, public_paths  # noqa: E402
from ipcore.config import ConfigError, TrainConfig, field_spec  # noqa: E402
from ipcore.data import CLUSTERS_DEFAULT_DIM, CLUSTERS_MAX_DIM, DATASETS  # noqa: E402
from ipcore.jobs.serving import check_browser_config  # noqa: E402
from ipcore.results.records import MAX_NAME_LENGTH  # noqa: E402

PAGE = "net"
# Datasets that need no files (always available).
SYNTHETIC = {name for name, spec in DATASETS.items() if spec.locate is None and spec.browser}


def split_dataset(name: str) -> tuple[str, int]:
    """(picker choice, clusters dimension) of a dataset name."""
    if name.startswith("clusters"):
        dim = name.split(":", 1)[1] if ":" in name else str(CLUSTERS_DEFAULT_DIM)
        return "clusters", int(dim) if dim.isdigit() else CLUSTERS_DEFAULT_DIM
    return name, CLUSTERS_DEFAULT_DIM


# Fields drawn from their declarations right after the rules; the rest of the generated ones go under
# "advanced" (``controls.other_fields``), except those this page draws itself (``CUSTOM``).
PLAIN = ("depth", "width", "activation", "optimizer")
MAIN = ("epochs",)
AFTER_SEEDS = ("output", "subset")
CUSTOM = ("dataset", "rules", "eta", "lr", "seeds", "batch_size", *PLAIN, *MAIN, *AFTER_SEEDS)


def seed_values(config: TrainConfig) -> dict:
    base, dim = split_dataset(config.dataset)
    values = {
        **controls.seed_values(config, PAGE),
        "net.dataset": base if base in controls.dataset_choices() else "mnist",
        "net.clusters_dim": dim,
        "net.rules": [r for r in config.rules if r in controls.RULES],
    }
    values.update(controls.eta_seed_values("net", config.eta, config.rules, "network"))
    return values


def sidebar_config(available: dict[str, dict]) -> tuple[TrainConfig | None, str | None]:
    """Draw the setup controls; returns the config (None with the message when it is invalid) and the error."""
    sb = st.sidebar
    sb.header("Setup")

    def dataset_label(name: str) -> str:
        info = available.get(name)
        if info is None:
            return name
        return f"{name} {'✓' if info['available'] else '— not found here'}"

    base = sb.selectbox("dataset", controls.dataset_choices(), key="net.dataset", format_func=dataset_label,
                        help="✓ = found on this machine; synthetic sets need no files; folder:NAME = an image "
                             "folder this server's operator offers (IPCORE_IMAGE_FOLDERS)")  # fmt: skip
    dataset = base
    if base == "clusters":
        dim = sb.number_input("cluster input dimension", 1, CLUSTERS_MAX_DIM, key="net.clusters_dim", step=1)
        dataset = "clusters" if dim == CLUSTERS_DEFAULT_DIM else f"clusters:{int(dim)}"
    rules = sb.multiselect("rules to compare", list(controls.RULES), key="net.rules", format_func=controls.rule_label,
                           help="each rule trains its own copy of the network from the same initial weights")  # fmt: skip
    values = controls.fields_widgets(TrainConfig, PLAIN, PAGE, sb)
    lr = controls.log_slider(field_spec(TrainConfig, "lr").label, "net.lr", controls.LR_GRID, high=10.0, container=sb,
                             help="the weights' learning rate; the thesis's claim is about large values")  # fmt: skip
    with sb.expander("η per rule", expanded=bool(controls.rules_with_eta(rules))):
        if controls.rules_with_eta(rules):
            eta = controls.eta_sliders("net", rules, "network")
        else:
            st.caption("none of the chosen rules has an η")
            eta = {}
    values.update(controls.fields_widgets(TrainConfig, MAIN, PAGE, sb))
    seeds = sb.slider("seeds per rule", 1, max(10, int(st.session_state.get("net.seeds", 1))), key="net.seeds",
                      help="repeats with different initial weights; charts show the mean and the min–max band")  # fmt: skip
    batch_options = sorted({16, 32, 50, 64, 100, 128, 200, 256, 500, 1000, int(st.session_state["net.batch_size"])})
    batch_size = sb.select_slider("batch size", batch_options, key="net.batch_size")
    values.update(controls.fields_widgets(TrainConfig, AFTER_SEEDS, PAGE, sb))
    with sb.expander("advanced"):
        values.update(controls.other_fields(TrainConfig, PAGE, CUSTOM))
    values.update(dataset=dataset, rules=rules, eta=eta, lr=lr, seeds=seeds, batch_size=batch_size)
    try:
        config = TrainConfig.from_dict(values)
        check_browser_config(config)
        return config, None
    except ConfigError as error:
        return None, str(error)


def use_demo(demo: lab_guide.Demo, dataset: str) -> None:
    """Button callback (runs before the widgets are drawn): load a demo's setup."""
    state.seed_widgets(lab_guide.demo_values(demo, dataset), force=True)
    st.session_state["net.demo"] = demo.key


def demos(available: dict[str, dict], expanded: bool) -> None:
    """The one-click demos: each shows one claim, on the best dataset here, with its measured time."""
    dataset = lab_guide.demo_dataset(available)
    with st.expander("One-click demos: setups that each show one claim of the thesis", expanded=expanded,
                     icon=":material/bolt:"):  # fmt: skip
        epochs = lab_guide.demo_epochs(lab_guide.DEMOS[0], dataset)
        measured = lab_guide.demo_times()
        when = (f"measured {measured['measured']} on {measured['cpus']} CPU cores at load {measured['load_average'][0]:g} "
                "(bench/bench_demos.py)") if measured.get("measured") else "not measured"  # fmt: skip
        st.caption(f"On {dataset} (the best dataset here), depth 7 × 50 units, 2 seeds, {epochs} epoch(s). Times: "
                   f"the whole job, {when}; the first chart points show within a second or two.")  # fmt: skip
        for demo in lab_guide.DEMOS:
            seconds = lab_guide.demo_seconds(demo, dataset)
            text, button = st.columns([4, 1], vertical_alignment="center")
            text.markdown(f"**{demo.title}** — look for {demo.look_for}"
                          + (f" · about {seconds:.0f} s" if seconds else ""))  # fmt: skip
            button.button("Load this demo", key=f"net.demo.{demo.key}", on_click=use_demo, args=(demo, dataset),
                          width="stretch")  # fmt: skip


def missing_dataset(config: TrainConfig, available: dict[str, dict]) -> str | None:
    """The chosen dataset's name when it is a known dataset that is not on this machine (Train is then off)."""
    base = split_dataset(config.dataset)[0]
    info = available.get(base)
    return base if info is not None and base not in SYNTHETIC and not info["available"] else None


def dataset_notice(config: TrainConfig, available: dict[str, dict]) -> None:
    base = split_dataset(config.dataset)[0]
    info = available.get(base)
    if base in SYNTHETIC:
        st.caption(f"Dataset: {DATASETS[base].description}, {DATASETS[base].sizes}.")
    elif info and info["available"]:
        where = f" — read from `{public_paths(info['location'])}`" if info["location"] else ""
        st.caption(f"Dataset: {info['description']}{where}.")
    elif info:
        st.warning(
            f"**{base}** is not on this machine, so *Train* is off for it. "
            f"{lab_guide.how_to_get(base)} The synthetic datasets "
            f"({', '.join(sorted(SYNTHETIC))}) always work.",
            icon=":material/cloud_off:",
        )


# --- page ---------------------------------------------------------------------------------------------

try:
    available = lab.datasets()
except Exception as error:  # listing must never break the page
    views.engine_error(error, "listing the datasets")
    available = {}


def open_on_a_present_dataset(config: TrainConfig) -> TrainConfig:
    """Offline with the default dataset absent: open on one that is here instead of a setup that cannot run."""
    if (
        "dataset" not in st.query_params
        and "net.dataset" not in st.session_state
        and missing_dataset(config, available)
    ):
        return config.replace(dataset=lab_guide.demo_dataset(available))
    return config


def setup() -> tuple[TrainConfig | None, str | None]:
    result = sidebar_config(available)
    st.sidebar.text_input("run name (optional)", key="net.name", placeholder="e.g. deep-ip-lr0.01",
                          max_chars=MAX_NAME_LENGTH, help=name_help())  # fmt: skip
    return result


lab_state = lab.lab_page(TrainConfig, PAGE, seed_values, setup, adjust=open_on_a_present_dataset)
config, error = lab_state.config, lab_state.error
missing = None if error else missing_dataset(config, available)
lab_state.run_button("Train", st.session_state.get("net.name", ""),
                     blocked=missing and f"{missing} is not on this machine (see the note on the right for how to get it)")  # fmt: skip
lab_state.share()

if not error:
    dataset_notice(config, available)
    members = len(config.rules) * config.seeds
    st.caption(
        f"{len(config.rules)} rule(s) × {config.seeds} seed(s) = {members} networks of {config.depth} × "
        f"{config.width} {config.activation} units, trained in lockstep for {config.epochs} epoch(s) by "
        f"{config.optimizer} at lr {config.lr:g}."
    )
    for note in lab_guide.too_short(config):
        st.warning(note, icon=":material/hourglass_empty:")
    demo = next((d for d in lab_guide.DEMOS if d.key == st.session_state.get("net.demo")), None)
    if demo is not None and lab_guide.demo_matches(demo, config):
        st.info(f"**{demo.title}.** Look for {demo.look_for}.", icon=":material/visibility:")

demos(available, expanded=lab_state.status is None)


def idle() -> None:
    st.info(
        "Choose a setup on the left and press **Train**, or load one of the demos above: each shows one of the "
        "thesis's claims within a minute on a CPU. Every chart updates live while it trains.",
        icon=":material/lightbulb:",
    )
    st.page_link(
        str(PAGES_DIR / "gallery.py"), label="Or open a stored run in the gallery", icon=":material/photo_library:"
    )


lab_state.job_view(views.train_run_view, idle=idle)

mine = app_jobs.my_jobs()
if mine:
    with st.sidebar.expander(f"your jobs ({len(mine)})"):
        for job in mine:
            st.caption(
                f"{job['kind']} · {job['state']} · {job['progress'] * 100:.0f} % · {job.get('run_id') or job['job_id']}"
            )
