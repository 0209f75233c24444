"""The app's entry point: ``streamlit run app/main.py`` from the repository root.

Puts the repository root on ``sys.path`` (so ``app`` and ``ipcore`` import when Streamlit runs this file
directly), points the engine at the project's datasets when no data folder is configured, sets the page
config and wires the pages with ``st.navigation``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
if not os.environ.get("IPCORE_DATA") and SHARED_DATASETS.is_dir():
    # The project's datasets live beside the checkout (../shared/datasets); use them unless told otherwise.
    os.environ["IPCORE_DATA"] = str(SHARED_DATASETS)

st.set_page_config(
    page_title="ipcore — intrinsic plasticity lab",
    # a file of our own: a Material icon as favicon makes every visitor's browser fetch it from Google's servers
    page_icon=str(ROOT / "app" / "favicon.svg"),  # sent to the browser as a data URL
    layout="wide",
    initial_sidebar_state="expanded",
)

PAGES = [
    st.Page(ROOT / "pages" / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(ROOT / "pages" / "network_lab.py", title="Network lab", icon=":material/hub:"),
    st.Page(ROOT / "pages" / "neuron_lab.py", title="Neuron lab", icon=":material/scatter_plot:"),
    st.Page(ROOT / "pages" / "gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page(ROOT / "pages" / "lr_sweep.py", title="Learning-rate sweep", icon=":material/show_chart:"),
]

from app import frame_guard  # noqa: E402
from app.owner import owner_cookie_script  # noqa: E402

try:
    st.navigation(PAGES).run()
finally:  # at the page's foot, where the element of these two scripts takes no visible room
    # The owner cookie keeps this browser's runs its own across a reload (the gallery viewer's Delete button);
    # the frame guard covers the app inside another site's frame (the proxy's header is the sure way).
    st.html(owner_cookie_script() + frame_guard.SCRIPT, unsafe_allow_javascript=True)
