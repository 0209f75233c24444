"""Whose runs these are: a browser's owner key, kept in a cookie so that a reload keeps it.

Each browser gets a random 128-bit key (32 hex digits) the first time it opens the app; the key names the jobs it
submits (``app.jobs.owner``) and, as a SHA-256 digest, the records they save (``extra.owner``). Streamlit starts a
new session on every reload, so a key kept only in the session's state was lost with it, and with it the owner's
*Delete* button. The key is therefore also set as a cookie (``ipcore_owner``: path ``/``, ``SameSite=Strict``,
``Secure`` over HTTPS, one year) by a line of script in the page, and read back from the cookies the browser sends
when a session starts (``st.context.cookies``). Nothing else ever shows the key: other visitors see neither it nor
its digest, so they cannot claim a run, and a cookie holding anything but 32 hex digits is ignored (a new key is
made). The key lives in one browser: another browser, a private window or cleared cookies is another owner.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import streamlit as st

from ipcore.results.records import owner_digest

COOKIE = "ipcore_owner"
MAX_AGE_S = 365 * 24 * 3600
_KEY = re.compile(r"[0-9a-f]{32}")


def owner() -> str:
    """This browser's owner key: the one its cookie holds, else a new one (kept in the session's state)."""
    if "owner" not in st.session_state:
        sent = str(st.context.cookies.get(COOKIE) or "")
        st.session_state["owner"] = sent if _KEY.fullmatch(sent) else uuid.uuid4().hex
    return st.session_state["owner"]


def owner_cookie_script() -> str:
    """The script that sets the owner cookie in the browser, or "" when the browser already sent this session's
    key (``app.main`` puts it at the foot of every page; it is a few bytes and loads nothing)."""
    key = owner()
    if st.context.cookies.get(COOKIE) == key or not _KEY.fullmatch(key):
        return ""
    return (
        "<script>document.cookie = "
        f"'{COOKIE}={key}; path=/; max-age={MAX_AGE_S}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )


def owns_record(meta: Mapping[str, Any]) -> bool:
    """Whether this browser made the record ``meta`` (its ``extra.owner`` is the digest of this browser's key)."""
    extra = meta.get("extra") or {}
    return isinstance(extra, Mapping) and extra.get("owner") == owner_digest(owner())
