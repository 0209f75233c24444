"""The one skeleton of the three lab pages (network lab, neuron lab, learning-rate sweep) and the datasets list
every page shows.

A lab page is: its heading (drawn first, before anything slow, so the page shows at once); its setup read from
the address or the session (``app.state``) and drawn by the page's own widgets; the address's invalid values and
the setup's error said once; a run button that submits the setup as this session's job; "share this setup"; and
the job's live view, its finished view or an invitation to start. ``lab_page`` and ``LabPage`` hold that order;
a page supplies only what differs (its config type, its widgets, its run view, its words).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st


@st.cache_data(show_spinner=False, ttl=30)
def datasets() -> dict[str, dict[str, Any]]:
    """The datasets this server offers, by the name a picker shows (``clusters:8`` → ``clusters``; an image
    folder keeps its ``folder:NAME``): ``available``, ``description``, ``how`` (to get it) and ``location``
    (a server path: pages show it only through ``ipcore.jobs.serving.redact_paths``). Cached for 30 s."""
    from ipcore.data import available_datasets

    return {(d["name"] if d["name"].startswith("folder:") else d["name"].split(":")[0]): d
            for d in available_datasets()}  # fmt: skip


def heading(title: str, caption: str | None = None) -> None:
    """The page's heading (and caption), drawn before any heavy import or computation."""
    st.title(title)
    if caption:
        st.caption(caption)


@functools.cache
def chart_module() -> str | None:
    """The file name of Streamlit's own plotly chunk (``static/js/PlotlyChart.<hash>.js``, 4.7 MB), or None."""
    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if found else None


def preload_charts() -> None:
    """Have the browser fetch, compile and run Streamlit's plotly chunk now, on a page that will show a chart.

    Streamlit loads that chunk only when the page's first chart arrives, after the script has computed it: a
    second of the browser's CPU that then comes last. Imported here, right after the heading, it is done while
    the browser waits for the server's script anyway; the page's charts then find the module ready (the browser
    keeps one module per address). The address is relative to the page (a proxy's base path holds) and comes
    from the installed Streamlit's files, never from a browser."""
    name = chart_module()
    if name is None:
        return
    st.html(  # on every run, so the page's elements stay where they are; the browser imports it once per tab
        "<script>if (!window.__ipcoreCharts) { window.__ipcoreCharts = import("
        f"new URL('static/js/{name}', document.baseURI).href).catch(() => null); }}</script>",
        unsafe_allow_javascript=True,
    )


@dataclasses.dataclass
class LabPage:
    """One lab page's setup, as ``lab_page`` read and drew it.

    ``config``: the setup to run (the last valid one when the widgets hold an error); ``error``: why the
    widgets' setup cannot run (None when it can); ``job_id``/``status``/``active``: this session's job on this
    page (``job_key`` in the session)."""

    page: str
    config: Any
    error: str | None
    job_key: str
    job_id: str | None = None
    status: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        from app import jobs as app_jobs

        return self.status is not None and self.status["state"] in app_jobs.ACTIVE_STATES

    def run_button(self, label: str, name: str, blocked: str | None = None, container: Any = None) -> bool:
        """The primary run button (off while the setup has an error, a job of this page runs, or ``blocked``
        says why); a click submits the setup as this session's job. True when a job was started."""
        from app import jobs as app_jobs
        from app import views

        where = container or st.sidebar
        reason = "a run is in progress: stop it or wait" if self.active else blocked
        clicked = where.button(label, type="primary", icon=":material/play_arrow:", width="stretch",
                               disabled=bool(self.error) or self.active or bool(blocked), help=reason)  # fmt: skip
        if clicked and not self.error and not blocked and (job_id := views.start_job(self.config, name, self.job_key)):
            self.job_id, self.status = job_id, app_jobs.status(job_id)
            return True
        return False

    def share(self) -> None:
        from app import state, views

        views.share_setup(state.share_link(self.config))

    def job_view(self, run_view: Callable[..., None], finished_view: Callable[..., None] | None = None,
                 idle: Callable[[], None] | None = None) -> None:  # fmt: skip
        """The job's live view while it runs, its finished view once it ended, else ``idle()``."""
        from app import views

        if self.active:
            views.live_job(self.job_id, run_view, self.page)
        elif self.status is not None:
            views.finished_job(self.status, finished_view or run_view, self.page)
        elif idle is not None:
            idle()


def lab_page(config_type: type, page: str, seed_values: Callable[[Any], dict[str, Any]],
             draw_setup: Callable[[], tuple[Any, str | None]], *, default: Any = None,
             job_key: str | None = None, quiet_errors: tuple[str, ...] = (),
             on_error: Callable[[str], None] | None = None, adjust: Callable[[Any], Any] | None = None) -> LabPage:  # fmt: skip
    """Read the page's setup (address, then session, then ``default`` or the config's defaults), seed its widgets
    (``seed_values``), draw them (``draw_setup`` returns the widgets' config or the error), say the address's
    invalid values and the setup's error (``on_error``, default ``views.setup_error``; errors in
    ``quiet_errors`` are the page's own prompts, not said here), remember a valid setup in the address, and
    find this session's job of this page. ``adjust`` may change the read config before the widgets are seeded."""
    from app import jobs as app_jobs
    from app import state, views  # here, not at the top: the heading must not wait for numpy (state imports it)

    config, url_messages = state.read_config(config_type, page)
    if default is not None and not state.config_keys(config_type, st.query_params.to_dict()):
        if st.session_state.get(f"{page}.config") is None:
            config = default
    if adjust is not None:
        config = adjust(config)
    state.seed_widgets(seed_values(config))
    new_config, error = draw_setup()
    state.show_messages(url_messages)
    if error and error not in quiet_errors:
        (on_error or views.setup_error)(error)
    elif not error:
        state.remember(new_config, page)
        config = new_config
    key = job_key or f"{page}.job"
    job_id = st.session_state.get(key)
    return LabPage(page=page, config=config, error=error, job_key=key, job_id=job_id, status=app_jobs.status(job_id))
