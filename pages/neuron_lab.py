"""Neuron lab: one tanh unit, a fixed input sample, several rules — watch the output become uniform.

The sidebar is a ``NeuronConfig`` (mirrored in the address). The input density is previewed as you change it;
*Run* submits the comparison as a job (a 10 000 × 10 000 comparison takes seconds) and a fragment shows its
progress; then the output histogram over the iterations, entropy against log 2, α and β, the tanh's centre
against the sample's median and mean, and the tanh over the input density at the start and the end.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import streamlit as st

from app import lab

lab.heading(
    "Neuron lab",
    "One tanh unit y = tanh(u) receives a fixed sample of inputs; each rule adapts its α and β on the whole "
    "sample, iteration after iteration (thesis §5.2). A uniform output has the maximum entropy, log 2.",
)  # first, so the page shows before the engine and the charts are imported
lab.preload_charts()  # the plotly chunk loads in the browser while this script computes

from app import controls, lab_guide, state, views  # noqa: E402
from app.text import name_help  # noqa: E402
from ipcore.charts import neuron as charts_neuron  # noqa: E402
from ipcore.config import BUILTIN_DISTS, ConfigError, NeuronConfig, config_from_dict, parse_pairs  # noqa: E402
from ipcore.results.records import MAX_NAME_LENGTH  # noqa: E402

PAGE = "neuron"
OTHER = "other (scipy.stats)"
AWAITING_NAME = "awaiting a scipy.stats name"  # sidebar_config's "error" before the user has typed a name
DIST_FIELDS = {
    "uniform": (("center", "centre"), ("width", "width")),
    "gaussian": (("mu", "mean μ"), ("sigma", "standard deviation σ")),
    "laplace": (("mu", "location μ"), ("b", "scale b")),
    "lognormal": (("mu", "μ of log x"), ("sigma", "σ of log x")),
    "mixture": (
        ("weight", "weight of the first"),
        ("mu", "first mean"),
        ("sigma", "first σ"),
        ("mu2", "second mean"),
        ("sigma2", "second σ"),
    ),  # fmt: skip
}
N_GRID = (100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000)
ITERS_GRID = (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)


def format_params(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


DIST_PARAMETERS = {name for fields in DIST_FIELDS.values() for name, _ in fields}
# Fields this page draws itself; every other declared field is generated under "advanced".
CUSTOM = ("dist", "params", "n", "iters", "rules", "eta", "activation", *DIST_PARAMETERS)


def seed_values(config: NeuronConfig) -> dict:
    values = {
        **controls.seed_values(config, PAGE),
        "neuron.dist": config.dist if config.dist in BUILTIN_DISTS else OTHER,
        "neuron.scipy_name": "" if config.dist in BUILTIN_DISTS else config.dist,
        "neuron.params": format_params(config.params),
        "neuron.rules": [r for r in config.rules if r in controls.RULES],
    }
    values.update(controls.eta_seed_values("neuron", config.eta, config.rules, "neuron"))
    return values


def pick_from_grid(label: str, key: str, grid: tuple[int, ...], help: str) -> int:
    options = sorted({*grid, int(st.session_state[key])})
    return int(st.sidebar.select_slider(label, options, key=key, format_func=lambda v: f"{v:,}", help=help))


def sidebar_config() -> tuple[NeuronConfig | None, str | None]:
    """Draw every control (all of them, even while one holds a bad value); returns the config or the error."""
    sb = st.sidebar
    sb.header("Input")
    choice = sb.selectbox("input distribution", [*BUILTIN_DISTS, OTHER], key="neuron.dist")
    values: dict = {}
    problem: ConfigError | None = None
    if choice == OTHER:
        values["dist"] = sb.text_input("scipy.stats name", key="neuron.scipy_name", placeholder="gamma").strip()
        params_text = sb.text_input("parameters", key="neuron.params", placeholder="a=2, scale=1.5",
                                    help="shape parameters, loc and scale, as name=value pairs")  # fmt: skip
        try:
            values["params"] = parse_pairs(params_text, "params")
        except ConfigError as error:
            problem = error
        if not values["dist"]:  # nothing typed yet: a prompt, not an error
            return None, AWAITING_NAME
    else:
        values["dist"] = choice
        for name, label in DIST_FIELDS[choice]:
            values[name] = sb.number_input(label, key=f"neuron.{name}", step=0.1, format="%g")
    values["n"] = pick_from_grid("sample size N", "neuron.n", N_GRID, "inputs drawn once; every rule sees them all")
    values.update(controls.fields_widgets(NeuronConfig, ["seed"], PAGE, sb))
    sb.header("Rules")
    values.update(controls.fields_widgets(NeuronConfig, ["activation"], PAGE, sb))
    values["rules"] = sb.multiselect("rules to compare", list(controls.RULES), key="neuron.rules",
                                     format_func=controls.rule_label)  # fmt: skip
    with sb.expander("η per rule", expanded=False):
        values["eta"] = controls.eta_sliders("neuron", values["rules"], "neuron")
    values["iters"] = pick_from_grid("iterations", "neuron.iters", ITERS_GRID, "full-batch updates per rule")
    with sb.expander("advanced"):
        values.update(controls.other_fields(NeuronConfig, PAGE, {*CUSTOM, "seed"}))
    if problem is not None:
        return None, str(problem)
    try:
        return NeuronConfig.from_dict(values), None
    except ConfigError as error:
        return None, str(error)


@st.cache_data(show_spinner=False, max_entries=64)
def preview(config_json: str):
    """The input density on a grid spanning the sample (0.5–99.5 % quantiles, widened), and a caption."""
    from ipcore.training.neuron_input import preview_density  # numpy only for the built-in inputs

    config = NeuronConfig.from_json(config_json)
    shown = preview_density(config)  # bounded in time: a slow scipy distribution gets a message instead
    text = f"median ≈ {shown['median']:.3g}, mean ≈ {shown['mean']:.3g}, std ≈ {shown['std']:.3g}"
    if shown.get("ip_fixed_point"):  # where ip and ip_notebook settle; ip_printed has no fixed point
        text += " — IP's fixed point α* = {:.4g}, β* = {:.4g}".format(*shown["ip_fixed_point"])
    return charts_neuron.density_preview_figure(
        shown["grid"], shown["density"], f"Input density: {config.dist} ({text})"
    )


# --- page ---------------------------------------------------------------------------------------------

# The page opens on the thesis's example (§5.2): an input N(5, 2²) far from zero, where the plain tanh
# saturates and the rules differ; on N(0, 1) every rule starts at its optimum and they all look alike.
THESIS_CASE = NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0)


def setup() -> tuple[NeuronConfig | None, str | None]:
    result = sidebar_config()
    st.sidebar.text_input("run name (optional)", key="neuron.name", max_chars=MAX_NAME_LENGTH, help=name_help())
    return result


lab_state = lab.lab_page(NeuronConfig, PAGE, seed_values, setup, default=THESIS_CASE, quiet_errors=(AWAITING_NAME,))
config, error = lab_state.config, lab_state.error
if error == AWAITING_NAME:
    st.info("Type the name of a continuous `scipy.stats` distribution in the sidebar (e.g. `gamma`, `beta`, "
            "`weibull_min`) and its parameters (e.g. `a=2, scale=1.5`).", icon=":material/keyboard:")  # fmt: skip
elif not error:
    try:
        views.chart(preview(config.to_json()), "neuron.preview", "input-density")
    except (ConfigError, ValueError, FloatingPointError) as preview_error:
        views.engine_error(preview_error, "previewing the density")

lab_state.run_button("Run", st.session_state.get("neuron.name", ""))
lab_state.share()

if not error:
    st.caption(f"{len(config.rules)} rule(s) × {config.iters:,} iterations on {config.n:,} inputs, recorded every "
               f"{config.record_every} iterations.")  # fmt: skip
    for note in lab_guide.too_short(config):
        st.warning(note, icon=":material/hourglass_empty:")


@st.cache_resource(show_spinner=False)
def bounds_known() -> threading.Event:
    """Set once this server process knows the best entropy a tanh reaches on a gaussian and on a uniform input
    (``ipcore.gallery.entries.input_entropy_bound``: seconds of integration per family, the first time only), which a
    thread started by the first view of a run works out. Worked out inside a live view's chart fragment, it held
    the script thread for 6 s on a busy 2-core machine, and a Stop clicked meanwhile waited for it."""
    known = threading.Event()

    def work_out() -> None:
        try:
            from ipcore.gallery.entries import input_entropy_bound

            for family in (SimpleNamespace(dist="gaussian", mu=0.0, sigma=1.0),
                           SimpleNamespace(dist="uniform", center=0.0, width=1.0)):  # fmt: skip
                input_entropy_bound(family)
        finally:  # a failure is met again, and said, when a view asks for the bound itself
            known.set()

    threading.Thread(target=work_out, name="ipcore-entropy-bounds", daemon=True).start()
    return known


def entropy_bound(job_config: Any, wait: bool = True) -> float | None:
    """The most a tanh can reach on a gaussian or uniform input (shown beside log 2), else None; also None while
    ``bounds_known`` works it out, unless ``wait`` (a live view draws it at a later refresh)."""
    if getattr(job_config, "dist", None) not in ("gaussian", "uniform"):
        return None
    if getattr(job_config, "activation", "tanh") != "tanh":
        return None
    if not bounds_known().is_set() and not wait:
        return None
    bounds_known().wait()
    from ipcore.gallery.entries import input_entropy_bound

    return input_entropy_bound(job_config)["entropy_hist"]


def output_target(job_config: Any) -> tuple[str, float | None] | None:
    """(unit, Triesch's target mean when triesch_logistic runs) for the output-vs-target chart, or None."""
    if job_config is None:
        return None
    activation = getattr(job_config, "activation", "tanh")
    mean = job_config.logistic_mean if "triesch_logistic" in getattr(job_config, "rules", []) else None
    return activation, mean


def finished_view(metrics: Any, **kwargs: Any) -> None:
    try:  # the bound of the setup the job ran, not of the widgets' setup now
        ran = config_from_dict(lab_state.status["config"]) if isinstance(lab_state.status.get("config"), dict) else None
    except Exception:  # an old or foreign config: no bound, the charts still show
        ran = None
    views.neuron_run_view(metrics, entropy_bound=entropy_bound(ran), target=output_target(ran), **kwargs)


def idle() -> None:
    st.info("Pick an input and the rules, then press **Run**. The page opens on the thesis's example, a Gaussian "
            "far from zero (N(5, 2²)): the plain tanh saturates, IP centres itself on the median and its output "
            "becomes uniform. On N(0, 1) every rule starts near its optimum and they look alike.",
            icon=":material/lightbulb:")  # fmt: skip
    st.button("Use the thesis's example: N(5, 2²)", on_click=state.seed_widgets,
              args=({"neuron.dist": "gaussian", "neuron.mu": 5.0, "neuron.sigma": 2.0},), kwargs={"force": True},
              icon=":material/bolt:")  # fmt: skip
    st.button("Which IP? The text's (ip), as printed (ip_printed) and the notebooks' (ip_notebook) on N(5, 2²)",
              on_click=state.seed_widgets, args=({"neuron.dist": "gaussian", "neuron.mu": 5.0, "neuron.sigma": 2.0,
                                                  "neuron.rules": ["ip", "ip_printed", "ip_notebook"]},),
              kwargs={"force": True}, icon=":material/compare_arrows:")  # fmt: skip


def run_view(metrics: Any, **kwargs: Any) -> None:
    # the bound is worked out only once a run is drawn (it loads the gallery's statistics, and torch), and a live view
    # never waits for it
    bound = entropy_bound(config, wait=not kwargs.get("live"))
    views.neuron_run_view(metrics, entropy_bound=bound, target=output_target(config), **kwargs)


lab_state.job_view(run_view, finished_view, idle)
