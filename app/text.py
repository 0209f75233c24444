"""User text shown as text: run names, address values and messages that quote them are never rendered as
Markdown (Streamlit renders Markdown in titles, captions, alerts and ``st.markdown``).

``code`` wraps text in a code span (shown verbatim, monospace); ``escape`` backslash-escapes every character
Markdown, Streamlit's colour/icon directives (``:red[…]``, ``:material/x:``) or LaTeX (``$``) would interpret.
"""

from __future__ import annotations

import re

# Special anywhere in a line; ":" only where it opens a Streamlit directive (:red[…], :material/x:, :smile:).
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]<$~|&]|:(?=[\w/+-]+[:\[]))")
LINE_START = re.compile(r"^(\s*)(\d+)?([#+\-!>=.)])")  # special only where a line begins (heading, list …)


def escape(text: object) -> str:
    """``text`` with Markdown's special characters escaped, so it reads exactly as typed; newlines become spaces."""
    escaped = MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(str(text).splitlines()))
    return LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}\\{m.group(3)}", escaped)


def code(text: object) -> str:
    """``text`` as a Markdown code span: fenced by one more backtick than its longest run of backticks."""
    value = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    return f"{fence}{pad}{value}{pad}{fence}"
