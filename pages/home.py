"""Home: what intrinsic plasticity is, one live picture, the rules' equations, the device, the datasets here."""

from __future__ import annotations

import streamlit as st

from app import lab

lab.heading("Intrinsic plasticity lab")  # first, so the page shows before the engine and the charts are imported
lab.preload_charts()  # the plotly chunk loads in the browser while this script computes

from app import PAGES_DIR, lab_guide, views  # noqa: E402
from app import jobs as app_jobs  # noqa: E402
from app.text import public_paths  # noqa: E402
from ipcore.charts import home as charts_home  # noqa: E402
from ipcore.results.records import record_origin  # noqa: E402
from ipcore.specs.rules import RULE_SPECS  # noqa: E402  (the rules' words without torch: the engine has their code)


@st.cache_resource(show_spinner=False)
def device_text() -> str:
    from ipcore.specs.device import cpu_count, no_cuda_possible

    if no_cuda_possible():  # known without importing torch, which would cost the page seconds
        return f"CPU only, {cpu_count()} cores (no CUDA driver found): small networks train in seconds"
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return f"GPU: {names} (networks train there; the single-neuron lab runs on the CPU)"
    return f"CPU only, {torch.get_num_threads()} threads (no CUDA device found): small networks train in seconds"


@st.cache_data(show_spinner=False)
def illustration(mu: float, sigma: float):
    return charts_home.ip_illustration_figure(mu, sigma)


st.markdown(
    """
A tanh neuron is only useful where its slope is: if its inputs sit far from zero, **y = tanh(u)** saturates at
±1, its slope ∂y/∂u is almost 0, and no gradient flows back through it. **Intrinsic plasticity (IP)** gives every
hidden unit its own gain α and centre β, u = (x − β)/α, and moves them after each batch so that the unit's
*output* spreads over (−1, 1) — maximum entropy. β settles at the **median** of the unit's input, α at the
scale where the output is as informative as it can be. In a deep net this keeps the slopes large and, the thesis
claims, makes training robust to large learning rates. This app re-runs those experiments live.
"""
)

st.subheader("The idea in one picture")
left, right = st.columns([1, 3])
with left:
    st.markdown("Choose the neuron's input distribution, N(μ, σ):")
    mu = st.slider("input mean μ", -6.0, 6.0, 3.0, 0.25, key="home.mu")
    sigma = st.slider("input spread σ", 0.1, 4.0, 1.0, 0.1, key="home.sigma")
    st.caption(
        "Left: the plain tanh(x). Right: the tanh at IP's fixed point (β = median of x, α = 2E[xy]), computed "
        "for this input. Dashed: the slope ∂y/∂u = 1 − y². Bottom: the output distributions."
    )
with right:
    views.chart(illustration(mu, sigma), "home.ip", "ip-illustration")

st.subheader("Start here")
links = st.columns(4)
links[0].page_link(str(PAGES_DIR / "neuron_lab.py"), label="Neuron lab", icon=":material/scatter_plot:",
                   help="one tanh unit, any input distribution, every rule")  # fmt: skip
links[1].page_link(str(PAGES_DIR / "network_lab.py"), label="Network lab", icon=":material/hub:",
                   help="train deep tanh networks with the rules and watch them live")  # fmt: skip
links[2].page_link(str(PAGES_DIR / "gallery.py"), label="Gallery", icon=":material/photo_library:",
                   help="the thesis's figures, re-run, with an honest verdict; and your own runs")  # fmt: skip
links[3].page_link(str(PAGES_DIR / "lr_sweep.py"), label="Learning-rate sweep", icon=":material/show_chart:",
                   help="final loss and divergence vs the learning rate, per rule")  # fmt: skip
st.caption("Neuron lab: one unit, any input · Network lab: deep nets, live · Gallery: the thesis's figures and "
           "your runs · Sweep: robustness to large learning rates")  # fmt: skip

st.subheader("The rules")
st.caption("Each rule updates α and β of every hidden unit after a training forward pass, from that batch's "
           "statistics (E = batch mean, σ[x] = batch standard deviation). No gradient flows through α and β.")  # fmt: skip
columns = st.columns(2)
for i, (name, rule) in enumerate(RULE_SPECS.items()):
    with columns[i % 2].container(border=True):
        eta = ""
        if rule.default_eta_network is not None:
            eta = f" · default η: network {rule.default_eta_network:g}, single neuron {rule.default_eta_neuron:g}"
        st.markdown(f"**{rule.title}** (`{name}`) — {rule.source}{eta}")
        for part in rule.equation.split(r"\quad"):  # one line per part, so no equation is cut off
            st.latex(part.strip().strip(",").strip())
        if rule.printed_note:
            st.caption(rule.printed_note[0].upper() + rule.printed_note[1:] + ".")

st.subheader("This machine")
info, data = st.columns([1, 2])
with info:
    st.markdown(f"**Device.** {device_text()}")
    try:
        records = app_jobs.runs()
    except Exception as error:  # a broken runs folder must not break the home page
        views.engine_error(error, "reading the run records")
        records = []
    origins = [record_origin(r) for r in records]
    st.markdown(f"**Run records.** {origins.count('gallery')} gallery record(s) (the thesis's figures, re-run), "
                f"{origins.count('sweep')} sweep grid point(s) and {origins.count('own')} other run(s) made here.")  # fmt: skip
with data:
    st.markdown("**Datasets.**")
    try:
        for d in lab.datasets().values():
            if d["available"]:
                where = f" — `{public_paths(d['location'])}`" if d["location"] else ""
                st.markdown(f"- :green[**{d['name']}**] available{where}: {d['description']}")
            else:
                how = lab_guide.how_to_get(d["name"])  # written for the app
                st.markdown(f"- :red[**{d['name']}**] not on this machine: {d['description']}. {how}")
    except Exception as error:
        views.engine_error(error, "listing the datasets")
