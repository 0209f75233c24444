"""Plotly charts that update in place while a job trains, instead of being rebuilt on every refresh.

``st.plotly_chart`` derives each chart's identity from its figure (Streamlit 1.67 hashes the spec into the
element id even when a key is given), so every refresh with new data mounts a new chart and drops the old one:
for a moment the chart is blank, and a browser scrolled to it sees it vanish (measured: all eight network-lab
charts were replaced on every refresh). This module draws a live chart through a small Streamlit component
whose identity is its key: the same frame stays, and new data reach it as arguments that ``Plotly.react`` draws
over the old (zoom and legend choices kept through ``uirevision``).

The component is one HTML page plus the plotly.js that the installed ``plotly`` package ships, so it works
offline. plotly.js is 4.8 MB and every chart is a frame of its own that loads it: served from the component's
folder (``$IPCORE_CACHE`` or ``~/.cache/ipcore``), it is sent without anything a browser can cache by and gzipped
anew for every frame — about 0.4 s of the server's event loop each, ten per page, stalling every session. So a
copy goes into the app's static folder (``app/static/``, served by ``server.enableStaticServing`` with
Last-Modified and ETag: the copy keeps the package file's modification time, so a browser fetches it once and
then reuses it), and the page loads it from there; where that folder cannot be written, or static serving is
off, it falls back to the component's own copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components

from ipcore.data import cache_dir

INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8">
<style>html, body { margin: 0; padding: 0; background: transparent; } #plot { width: 100%; }</style></head>
<body><div id="plot"></div>
<script>
// The Streamlit component protocol (v1): announce readiness, draw on every render message, report the height.
const send = (type, data) => window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
const theme = {font: {family: "sans-serif", color: "#1f2933", size: 12}, paper_bgcolor: "rgba(0,0,0,0)",
               plot_bgcolor: "#ffffff", colorway: ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]};
let drawn = null, pending = null;
const draw = (spec) => {
  if (!spec || spec === drawn) return;
  if (!window.Plotly) { pending = spec; return; }  // drawn once this frame's plotly.js has run
  drawn = spec;
  const figure = JSON.parse(spec);
  const layout = Object.assign({}, theme, figure.layout || {}, {uirevision: "live", autosize: true});
  Plotly.react("plot", figure.data || [], layout, {displaylogo: false, responsive: true});
  send("streamlit:setFrameHeight", {height: (layout.height || 340) + 6});
};
window.addEventListener("message", (event) => {
  const message = event.data;
  if (message && message.type === "streamlit:render") draw((message.args || {}).spec);
});
// Every frame runs plotly.js (4.8 MB) on the page's one main thread: eleven frames loading it at once held every
// chart grey for ~10 s on a busy machine. The frames of a page take turns, the ones in view first, so the charts
// beside the table are drawn after one load, not eleven, and the page stays responsive between loads.
const load = (done) => {
  const script = document.createElement("script");
  script.src = "{plotly_src}";
  script.onload = script.onerror = () => { done(); const spec = pending; pending = null; draw(spec); };
  document.head.appendChild(script);
};
const inView = () => {
  const box = window.frameElement.getBoundingClientRect();
  return box.bottom > 0 && box.top < window.parent.innerHeight;
};
let queue = null;
try { queue = window.parent.__ipcorePlotlyTurns || (window.parent.__ipcorePlotlyTurns = {busy: false, waiting: []}); }
catch (error) { queue = null; }  // a parent on another origin: every frame loads at once
if (!queue || !window.frameElement) {
  load(() => {});
} else {
  // A turn ends when its frame's plotly.js has run; a turn whose frame was removed, or that is older than 5 s,
  // is over too (its frame's own timers died with it), so the waiting frames never wait for ever.
  const next = () => {
    const busy = queue.busy;
    if (busy && busy.frame.isConnected && Date.now() - busy.started < 5000) return;
    queue.waiting = queue.waiting.filter((turn) => turn.frame.isConnected);
    if (!queue.waiting.length) { queue.busy = false; return; }
    const turn = queue.waiting.find((t) => t.inView()) || queue.waiting[0];
    queue.waiting.splice(queue.waiting.indexOf(turn), 1);
    turn.started = Date.now();
    queue.busy = turn;
    turn.start(() => { if (queue.busy === turn) queue.busy = false; });
  };
  const mine = {frame: window.frameElement, inView: inView, start: load, started: 0};
  queue.waiting.push(mine);
  const poll = () => { next(); if (!mine.started) setTimeout(poll, 100); };
  poll();
}
send("streamlit:componentReady", {apiVersion: 1});
</script></body></html>
"""


STATIC_FOLDER = Path(__file__).resolve().parent / "static"
"""Streamlit serves ``<folder of app/main.py>/static`` at ``/app/static/`` when ``server.enableStaticServing`` is on."""


def _plotly_source() -> Path:
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` (modification time kept) unless an equal-sized copy is there; a half-written
    file is never served."""
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return
    temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
    shutil.copy2(source, temporary)
    os.replace(temporary, target)


def _static_script() -> str | None:
    """The address of plotly.js in the app's static folder, relative to the component's page, or None where
    static serving is off or the folder cannot be written."""
    if not st.get_option("server.enableStaticServing"):
        return None
    name = f"plotly-{plotly.__version__}.min.js"
    try:
        STATIC_FOLDER.mkdir(exist_ok=True)
        _copy_atomically(_plotly_source(), STATIC_FOLDER / name)
    except OSError:
        return None
    return f"../../app/static/{name}"  # the page is <base>/component/<name>/index.html


def index_html(plotly_src: str) -> str:
    return INDEX_HTML.replace("{plotly_src}", plotly_src)


def _component_folder(plotly_src: str | None = None) -> Path:
    """The component's page and — when the page does not load plotly.js from ``plotly_src`` — its own copy of
    plotly.js, written once per plotly version in the cache folder or, where that cannot be written, the
    system's temporary folder."""
    for base in (cache_dir(), Path(tempfile.gettempdir()) / "ipcore"):
        try:
            return _write_component(base / "plotly-live" / plotly.__version__, plotly_src)
        except OSError:
            continue
    raise OSError("no writable folder for the live-chart component (set IPCORE_CACHE)")


def _write_component(folder: Path, plotly_src: str | None) -> Path:
    page = index_html(plotly_src or "./plotly.min.js")
    variant = "static" if plotly_src else "local"  # one page per variant: servers with either setting can share
    folder = folder / variant
    folder.mkdir(parents=True, exist_ok=True)
    if plotly_src is None:
        _copy_atomically(_plotly_source(), folder / "plotly.min.js")
    index = folder / "index.html"
    if not index.is_file() or index.read_text() != page:
        temporary = folder / f".index.html.{os.getpid()}.tmp"
        temporary.write_text(page)
        os.replace(temporary, index)
    return folder


_live_plot = components.declare_component("ipcore_live_plot", path=str(_component_folder(_static_script())))


HEAVY_BYTES = 20_000
"""A figure whose spec is larger than this (many panels, histograms, heatmaps) is costly for the browser to draw."""
HEAVY_EVERY = 3
"""Heavy figures are redrawn at every third refresh; in between the frame keeps its figure (sent unchanged, which
the page ignores), so watching costs the viewer's machine — and the server's, where browsers run beside it —
a third of the drawing."""


def live_plot(fig: go.Figure, key: str) -> None:
    """Draw ``fig`` in the frame that ``key`` names, replacing its previous figure in place (a heavy figure only
    every ``HEAVY_EVERY`` refreshes of this session's view)."""
    spec = pio.to_json(fig, validate=False)
    drawn = st.session_state.setdefault("live_plot.drawn", {})
    previous, refreshes = drawn.get(key, (None, 0))
    if previous is not None and len(spec) > HEAVY_BYTES and refreshes % HEAVY_EVERY:
        spec = previous
    else:
        previous = spec
    drawn[key] = (previous, refreshes + 1)
    _live_plot(spec=spec, key=key, default=None)


def _native_chart_module() -> str | None:
    """The file name of Streamlit's own plotly chunk (``static/js/PlotlyChart.<hash>.js``), or None."""
    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if found else None


def preload_native_charts_script() -> str:
    """A script that has the browser fetch and compile Streamlit's own plotly chunk (4.7 MB) ahead of need, or "".

    ``st.plotly_chart`` loads that chunk the first time a page shows one: a job's finished view (the live view's
    charts are frames of their own) stood seconds with grey placeholders under its table while it loaded.
    Preloaded while the job runs, the finished charts are drawn with the table. The address is relative to the
    page, so it holds under a proxy's base path too."""
    name = _native_chart_module()
    if name is None:
        return ""
    return (
        "<script>if (!document.querySelector('link[data-ipcore-preload]')) {"
        " const link = document.createElement('link'); link.rel = 'modulepreload';"
        f" link.href = new URL('static/js/{name}', document.baseURI).href; link.dataset.ipcorePreload = '1';"
        " document.head.appendChild(link); }</script>"
    )
