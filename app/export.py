"""Export: any chart as SVG or PNG at publication size, a whole gallery card as one PDF — offline — and a run as
one JSON document (``run_json``).

Plotly's own image export (``Figure.to_image``) goes through kaleido ≥ 1, which drives a local Chrome; here that
is the system's chromium, found through ``BROWSER_PATH`` (set below when the variable is empty and
``/usr/bin/chromium`` exists), so nothing is downloaded. A card's PDF is an HTML page of its text and its charts
as inline SVG, printed by the same chromium (``--headless --print-to-pdf``). One kaleido browser is kept
running per process after the first export, so later exports take ≈ 0.3 s instead of a browser start each.

Sizes: 800 × 500 px (or the chart's own height, if taller) — 8 × 5 in at 100 px/in, a two-column figure;
PNG at scale 3 (2400 px wide, 300 dpi at 8 in). The exported figure uses plotly's white template (the app's
charts take Streamlit's theme, which a file does not have).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from ipcore.jsonable import json_ready

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
WIDTH, MIN_HEIGHT, PNG_SCALE = 800, 500, 3
FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


_SERVER_LOCK = threading.Lock()
_SERVER_STARTED = False


def _warm_browser() -> None:
    """Keep one kaleido browser running for this process (the first image ≈ 3–7 s here, the next ≈ 0.3 s instead
    of a browser start per image). Without it kaleido starts a browser per image."""
    global _SERVER_STARTED
    with _SERVER_LOCK:
        if _SERVER_STARTED:
            return
        try:
            import kaleido

            kaleido.start_sync_server(silence_warnings=True)  # ends with the process (stopping it at exit raced
            _SERVER_STARTED = True  # the browser's profile clean-up and printed a traceback)
        except (ImportError, AttributeError, RuntimeError):  # an older kaleido: one browser per image
            _SERVER_STARTED = True


class ExportError(RuntimeError):
    """The image could not be made here (no Chrome/chromium, or kaleido missing); the message says what to do."""


def chromium_path() -> str | None:
    """The browser kaleido will use: ``BROWSER_PATH`` if set, else the system's chromium, else None."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured
    if SYSTEM_CHROMIUM.exists():
        os.environ["BROWSER_PATH"] = str(SYSTEM_CHROMIUM)  # kaleido (choreographer) reads it
        return str(SYSTEM_CHROMIUM)
    return shutil.which("chromium") or shutil.which("google-chrome")


def file_name(name: str, fmt: str) -> str:
    """``fig3.5-loss`` → ``fig3.5-loss.svg``: letters, digits, ``.``, ``_`` and ``-`` only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "chart"
    return f"{stem}.{fmt}"


def publication(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` styled for a file: white template, publication width, at least 500 px high."""
    out = go.Figure(fig)
    height = max(int(out.layout.height or 0), MIN_HEIGHT)
    out.update_layout(template="plotly_white", width=WIDTH, height=height, paper_bgcolor="white",
                      plot_bgcolor="white")  # fmt: skip
    return out


def image(fig: go.Figure, fmt: str) -> bytes:
    """``fig`` as SVG, PNG or PDF bytes (publication size). Raises ExportError when no browser is available."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if chromium_path() is None:
        raise ExportError("image export needs Chrome or chromium (apt-get install chromium, or set BROWSER_PATH)")
    styled = publication(fig)
    scale = PNG_SCALE if fmt == "png" else 1
    _warm_browser()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # plotly notes that its browser options go unused
            return styled.to_image(format=fmt, width=WIDTH, height=int(styled.layout.height), scale=scale)
    except (ImportError, ValueError, RuntimeError) as error:
        raise ExportError(f"image export failed: {error}") from error


def card_html(title: str, lines: Sequence[str], figures: Sequence[go.Figure]) -> str:
    """A printable page: the title, the text lines (escaped: shown as text) and each figure as inline SVG."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in lines if line]
    for fig in figures:
        svg = image(fig, "svg").decode("utf-8")
        svg = re.sub(r"^<\?xml[^>]*>", "", svg)
        parts.append(f'<div class="fig">{svg}</div>')
    style = (
        "@page{size:A4;margin:12mm} body{font-family:'DejaVu Sans',sans-serif;font-size:10pt;color:#222}"
        "h1{font-size:15pt;margin:0 0 6pt} p{margin:0 0 5pt} .fig{margin-top:8pt;break-inside:avoid}"
        ".fig svg{width:100%;height:auto}"
    )
    body = "\n".join(parts)
    return f'<!doctype html><html><head><meta charset="utf-8"><style>{style}</style></head><body>{body}</body></html>'


def card_pdf(title: str, lines: Sequence[str], figures: Sequence[go.Figure], timeout: float = 120) -> bytes:
    """One PDF of a gallery card (title, claim, verdict, numbers, every chart), printed by headless chromium."""
    browser = chromium_path()
    if browser is None:
        raise ExportError("PDF export needs Chrome or chromium (apt-get install chromium, or set BROWSER_PATH)")
    with tempfile.TemporaryDirectory(prefix="ipcore-card-") as folder:
        page, pdf = Path(folder) / "card.html", Path(folder) / "card.pdf"
        page.write_text(card_html(title, lines, figures), encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--no-pdf-header-footer", f"--user-data-dir={folder}/profile",
                   f"--print-to-pdf={pdf}", page.as_uri()]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        if not pdf.is_file() or pdf.stat().st_size == 0:
            raise ExportError(f"chromium could not print the card (exit {done.returncode}): {done.stderr[-500:]!r}")
        return pdf.read_bytes()


def run_json(config: Mapping[str, Any], summary: Mapping[str, Any], metrics: Mapping[str, Any], **extra: Any) -> str:
    """A whole run as one JSON document: config, summary and every metric as (nested) lists; NaN → null."""
    document = {**extra, "config": dict(config), "summary": dict(summary), "metrics": dict(metrics)}
    return json.dumps(json_ready(document))
