"""The app's entry point: ``streamlit run app/main.py`` from the repository root.

Puts the repository root on ``sys.path`` (so ``app`` and ``ipcore`` import when Streamlit runs this file
directly), sets the page config, loads the rules of the operator's own (``IPCORE_RULE_MODULES``: files named
by whoever starts the server, never by a browser) and wires the pages with ``st.navigation``. The datasets' folder
follows the engine's one rule (``ipcore.locations``), the same as the command line's.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from ipcore.specs.rules import env_rule_modules  # noqa: E402

st.set_page_config(
    page_title="ipcore — intrinsic plasticity lab",
    # a file of our own: a Material icon as favicon makes every visitor's browser fetch it from Google's servers
    page_icon=str(ROOT / "app" / "favicon.svg"),  # sent to the browser as a data URL
    layout="wide",
    initial_sidebar_state="expanded",
)

RULE_MODULES_ERROR = None
if env_rule_modules():  # rules of the operator's own (IPCORE_RULE_MODULES): loaded once, a no-op on later reruns
    from ipcore.engine.custom_rules import RuleError, load_env_rule_modules

    try:
        load_env_rule_modules()
    except RuleError as error:
        logging.getLogger("ipcore.app").error("IPCORE_RULE_MODULES: %s", error)
        RULE_MODULES_ERROR = error
if RULE_MODULES_ERROR is not None:  # the built-in rules still work; the server's log names the file
    from app.text import public_message  # only here: it imports numpy, which the page's heading need not wait for

    st.error(f"The rules of this server's own could not be loaded: {public_message(RULE_MODULES_ERROR)}",
             icon=":material/error:")  # fmt: skip

PAGES = [
    st.Page(ROOT / "pages" / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(ROOT / "pages" / "network_lab.py", title="Network lab", icon=":material/hub:"),
    st.Page(ROOT / "pages" / "neuron_lab.py", title="Neuron lab", icon=":material/scatter_plot:"),
    st.Page(ROOT / "pages" / "gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page(ROOT / "pages" / "lr_sweep.py", title="Learning-rate sweep", icon=":material/show_chart:"),
]

try:
    st.navigation(PAGES).run()
finally:  # at the page's foot, where the element of these two scripts takes no visible room
    # imported here, after the page: app.owner reads records (numpy), which the page's heading need not wait for
    from app import frame_guard
    from app.owner import owner_cookie_script

    # The owner cookie keeps this browser's runs its own across a reload (the gallery viewer's Delete button);
    # the frame guard covers the app inside another site's frame (the proxy's header is the sure way).
    st.html(owner_cookie_script() + frame_guard.SCRIPT, unsafe_allow_javascript=True)
