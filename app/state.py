"""The lab setups in the page address (``st.query_params``), like TensorFlow Playground's links.

A lab's setup is one config dataclass (``NeuronConfig``, ``TrainConfig``); its flat form (``to_flat``: only the
fields that differ from the defaults, ``rules=ip,wd``, ``eta.ip=0.001``) is the query string, so copying the
address and opening it elsewhere restores the same setup. Reading is forgiving: an invalid value is reported
(field and allowed range) and only that field falls back to its default — never a traceback.

Widgets are bound to session-state keys; ``seed_widgets`` fills those keys from a config before the widgets
are drawn (only keys the session does not hold yet, so the user's edits stay), and the page's last valid
config is remembered in the session so leaving the page and coming back keeps the setup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import streamlit as st

from app.text import plain
from ipcore.config import Config, ConfigError
from ipcore.jobs.serving import check_browser_config

MAX_REPAIRS = 20


def config_keys(cls: type[Config], params: Mapping[str, str]) -> dict[str, str]:
    """The query parameters that belong to ``cls`` (its field names, and ``field.sub`` for dict fields)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in params.items() if k.split(".", 1)[0] in names}


def parse_flat(cls: type[Config], flat: Mapping[str, str]) -> tuple[Config, list[str]]:
    """Build ``cls`` from flat text; each invalid field is dropped (its default used) and reported.

    Returns the config and the messages ("depth: must be ≤ 16 (got 99)"), empty when all was valid. What only
    the server's operator may choose (a data folder, an image folder's path) is refused like an invalid value.
    """
    flat = dict(flat)
    messages: list[str] = []
    for _ in range(MAX_REPAIRS):
        try:
            config = cls.from_flat(flat)
            check_browser_config(config)
            return config, messages
        except ConfigError as error:
            messages.append(str(error))
            bad = [k for k in flat if k == error.field or k.split(".", 1)[0] == error.field.split(".", 1)[0]]
            if not bad:
                break
            for key in bad:
                flat.pop(key)
        except (TypeError, ValueError) as error:  # a malformed value the config's own checks did not name
            messages.append(f"unreadable setting ({error})")
            break
    return cls(), messages


def read_config(cls: type[Config], page: str) -> tuple[Config, list[str]]:
    """The page's setup: from the address if it holds any of the config's keys, else the session's last
    setup on this page, else the defaults. Also returns the messages about invalid address values."""
    params = config_keys(cls, st.query_params.to_dict())
    if params:
        remembered = st.session_state.get(f"{page}.config")
        if remembered is not None and type(remembered) is cls and remembered.to_flat() == params:
            return remembered, []
        return parse_flat(cls, params)
    remembered = st.session_state.get(f"{page}.config")
    if remembered is not None and type(remembered) is cls:
        return remembered, []
    return cls(), []


def remember(config: Config, page: str, extra: Mapping[str, str] | None = None) -> None:
    """Keep ``config`` as the page's setup and put it (plus ``extra`` page parameters) in the address."""
    st.session_state[f"{page}.config"] = config
    wanted = {**config.to_flat(), **{k: v for k, v in (extra or {}).items() if v not in (None, "")}}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def share_link(config: Config) -> str:
    """The query string that restores ``config`` (shown for copying)."""
    text = config.to_text()
    return f"?{text}" if text else "(the defaults: no parameters)"


def seed_widgets(values: Mapping[str, Any], force: bool = False) -> None:
    """Put ``values`` into the widgets' session-state keys, only where the session holds none (or ``force``)."""
    for key, value in values.items():
        if force or key not in st.session_state:
            st.session_state[key] = value


def show_messages(messages: list[str], where: Any = None) -> None:
    """Invalid address values, one warning (the page still works with the defaults for those fields). The
    messages quote what the address held, so they are shown as plain text, never as Markdown."""
    if messages:
        target = where or st
        target.warning(
            "The address held settings that are not valid, so their defaults are used instead:\n\n"
            + "\n".join(f"- {plain(m)}" for m in messages),
            icon=":material/link_off:",
        )
