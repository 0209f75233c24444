"""No other site may show the app inside its own page (clickjacking): a line of script covers a framed app.

The sure defence is the ``Content-Security-Policy: frame-ancestors 'none'`` header (and ``X-Frame-Options: DENY``
for old browsers), which Streamlit cannot send: the reverse proxy in docs/serving.md adds it. Without a proxy, this
script does what a page can do itself. The app is a JavaScript application, so a frame that disables scripts
disables the app too; a frame that allows them runs this check, which covers the whole page with an opaque notice
that takes every click, so no click meant for the framing site lands on a button of the app.
"""

from __future__ import annotations

NOTICE = "This lab may not be shown inside another site. Open it in its own tab."
SCRIPT = (
    "<script>(function () {"
    " var framed; try { framed = window.top !== window.self; } catch (e) { framed = true; }"
    " if (!framed || document.getElementById('ipcore-framed')) return;"
    " var cover = document.createElement('div'); cover.id = 'ipcore-framed';"
    " cover.setAttribute('style', 'position:fixed;inset:0;z-index:2147483647;background:#fff;color:#1f2933;"
    "display:flex;align-items:center;justify-content:center;font:18px sans-serif;padding:2em;text-align:center');"
    f" cover.textContent = {NOTICE!r};"
    " document.body.appendChild(cover);"
    "})();</script>"
)
"""Covers the page when it is shown inside a frame of another page (``app.main`` puts it at every page's foot)."""
