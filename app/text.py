"""User text shown as text: Markdown escaping and messages without server paths.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.warning`` … as Markdown, so a value from
the address, a run name or an engine message quoting them could otherwise show a live link or load a remote
image inside the app's own message. Everything a user typed passes through ``plain`` before it is shown; every
engine message through ``public_message`` (which also hides server paths outside the data folder).
"""

from __future__ import annotations

import re
from typing import Any

from ipcore.config import ConfigError
from ipcore.data import data_root
from ipcore.serving import redact_paths

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=])")


def plain(text: Any) -> str:
    """``text`` escaped for Streamlit's Markdown: every character that could start a link, an image, emphasis,
    code, a heading, HTML, LaTeX, an emoji shortcode or a bare-URL autolink is backslash-escaped, so text a
    user wrote (an address value, a run name, an engine message quoting it) is shown exactly as written."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", "  \n")


def public_message(error: BaseException | str) -> str:
    """An engine error or message as a visitor may see it: a ConfigError names its field; anything else its
    type and text; server paths outside the configured data folder redacted; Markdown escaped."""
    if isinstance(error, BaseException):
        text = str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
    else:
        text = str(error)
    return plain(redact_paths(text, [data_root()]))
