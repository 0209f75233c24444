"""User text shown as text: Markdown escaping and messages without server paths.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.warning`` … as Markdown, so a value from
the address, a run name or an engine message quoting them could otherwise show a live link or load a remote
image inside the app's own message. Everything a user typed passes through ``plain`` before it is shown; every
engine message through ``public_message`` (which also hides server paths: a path inside the data folder is shown
below its name, ``<the data folder>/MNIST/raw``, any other as ``<server path>``); ``code`` shows a value
verbatim in a code span. Names that reach a plotly figure pass ``ipcore.jobs.serving.plot_text`` instead.
"""

from __future__ import annotations

import re
from typing import Any

from ipcore.config import ConfigError
from ipcore.data import data_root
from ipcore.jobs.serving import redact_paths
from ipcore.results.records import MAX_NAME_LENGTH, NAME_ALPHABET_TEXT

DATA_FOLDER = "the data folder"
"""How pages name the server's data folder (``IPCORE_DATA``): by this name, never by its path."""

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=])")


_AUTOLINK_START = re.compile(r"(?i)(\b(?:www|https?|ftp|mailto|xmpp)(?=[.:])|@)")
WORD_JOINER = "\u2060"
"""An invisible character that breaks a bare URL's pattern (GitHub-flavoured Markdown links ``http://…``,
``www.…`` and ``name@host`` even where every character is backslash-escaped: it links text after escapes)."""


def plain(text: Any) -> str:
    """``text`` escaped for Streamlit's Markdown, so that text a user wrote (an address value, a run name, an
    engine message quoting it) is shown as written: every character that could start a link, an image,
    emphasis, code, a heading, HTML, LaTeX or an emoji shortcode is backslash-escaped, and an invisible word
    joiner follows ``http``, ``www`` and ``@`` so that no bare address becomes a live link."""
    joined = _AUTOLINK_START.sub(lambda m: m.group(0) + WORD_JOINER, str(text))
    return _MARKDOWN_SPECIALS.sub(r"\\\1", joined).replace("\n", "  \n")


def name_help() -> str:
    """The tooltip of a run or sweep name's input: the characters a name may hold."""
    return f"A name holds {plain(NAME_ALPHABET_TEXT)}; at most {MAX_NAME_LENGTH} characters."


def public_message(error: BaseException | str) -> str:
    """An engine error or message as a visitor may see it: a ConfigError names its field; anything else its
    type and text; server paths outside the configured data folder redacted; Markdown escaped."""
    if isinstance(error, BaseException):
        text = str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
    else:
        text = str(error)
    return plain(public_paths(text))


def public_paths(text: Any) -> str:
    """``text`` with no server path in it: a path inside the data folder keeps only its part below it, behind
    the folder's name (``<the data folder>/MNIST/raw``); any other absolute path is ``<server path>``."""
    try:
        named = {DATA_FOLDER: data_root()}
    except ConfigError:  # IPCORE_DATA names a filesystem root: no folder to name, every path is redacted
        named = {}
    return redact_paths(str(text), named=named)


def public_record(value: Any) -> Any:
    """A record's config or summary as a visitor may see it (the viewer's JSON, the run download): server paths
    redacted in every text (``public_paths``), and the recording machine's data folder not named."""
    if isinstance(value, dict):
        return {
            key: ("<the server's data folder>" if key == "data_root" and item else public_record(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [public_record(item) for item in value]
    if isinstance(value, str):
        return public_paths(value)
    return value


def code(text: object) -> str:
    """``text`` as a Markdown code span: fenced by one more backtick than its longest run of backticks."""
    value = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{pad}{value}{pad}{fence}"
