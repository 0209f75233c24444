"""A server that is safe to share: what a browser may choose, what it is shown, and what a slow request costs.

The app's pages are driven in tests/test_app_pages.py (AppTest) and tests/test_browser.py (chromium); here the engine
and app pieces they rest on: operator-named image folders, the browser-config check, path redaction, Markdown
escaping, the refresh budget of live views, the Streamlit defaults, and cost-bounded sampling and previews.
"""

from __future__ import annotations

import re
import sys
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from app.live import MAX_CHART_S, MIN_CHART_S, LiveBudget, needs_retune  # noqa: E402
from app.text import WORD_JOINER, plain  # noqa: E402
from ipcore.config import ConfigError, NeuronConfig, TrainConfig  # noqa: E402
from ipcore.data import available_datasets, check_dataset_name, image_folders, load_dataset  # noqa: E402
from ipcore.jobs.serving import check_browser_config, redact_paths  # noqa: E402
from ipcore.training.neuron import draw_sample, preview_density, simulate  # noqa: E402

SLOW = {"dist": "studentized_range", "params": {"k": 3.0, "df": 10.0}}  # ~0.1-0.3 s per sample


def make_images(folder: Path, classes: int = 2, per_class: int = 3) -> None:
    from PIL import Image

    for c in range(classes):
        (folder / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", (6, 5), color=40 * c + i).save(folder / f"class{c}" / f"{i}.png")


# --- operator-named image folders ---------------------------------------------------------------------


def test_operator_folders_are_offered_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    make_images(photos)
    monkeypatch.setenv("IPCORE_IMAGE_FOLDERS", f"photos={photos}:empty={tmp_path / 'none'}")
    assert image_folders() == {"photos": photos, "empty": tmp_path / "none"}
    check_dataset_name("folder:photos")
    data = load_dataset("folder:photos")
    assert data.train_x.shape[1] == 30 and data.num_classes == 2
    assert str(photos) not in data.description and "folder:photos" in data.description
    listed = {d["name"]: d for d in available_datasets()}
    assert listed["folder:photos"]["available"] and listed["folder:photos"]["location"] is None
    assert not listed["folder:empty"]["available"]
    with pytest.raises(ConfigError, match=r"dataset: unknown image folder 'other'; offered: folder:photos"):
        check_dataset_name("folder:other")


def test_no_operator_folders_means_none_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPCORE_IMAGE_FOLDERS", raising=False)
    with pytest.raises(ConfigError, match="none \\(the operator sets IPCORE_IMAGE_FOLDERS\\)"):
        TrainConfig(dataset="folder:x", rules=["none"])


@pytest.mark.parametrize("setting", ["noequals", "bad name=/x", "=/x", "a=", "a/b=/x"])
def test_a_malformed_operator_setting_is_named(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPCORE_IMAGE_FOLDERS", setting)
    with pytest.raises(ConfigError, match="IPCORE_IMAGE_FOLDERS: entries must be name=/path"):
        image_folders()


# --- what a browser may choose ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field",
    [({"dataset": "imagefolder:/root"}, "dataset"), ({"data_root": "/anywhere"}, "data_root")],
)
def test_a_browser_config_names_no_server_folder(changes: dict, field: str) -> None:
    config = TrainConfig(rules=["none"], **changes)  # fine from the command line …
    with pytest.raises(ConfigError) as error:  # … refused from a browser
        check_browser_config(config)
    assert error.value.field == field and "operator" in str(error.value)


def test_browser_configs_without_paths_pass() -> None:
    check_browser_config(TrainConfig(dataset="clusters:8", rules=["ip"]))
    check_browser_config(NeuronConfig(dist="gamma", params={"a": 2.0}))


def test_server_paths_are_redacted_except_under_the_data_root() -> None:
    text = "image folder /root/secret/x is unreadable; put files in /data/MNIST/raw. See (/etc/passwd), ~/.ssh."
    shown = redact_paths(text, ["/data"])
    assert "/root" not in shown and "/etc/passwd" not in shown and ".ssh" not in shown
    assert "/data/MNIST/raw." in shown and shown.count("<server path>") == 3
    assert redact_paths("a /datafoo/x", ["/data"]) == "a <server path>"  # a prefix is not a parent folder
    assert redact_paths("1/2 and https://example.org/a", []) == "1/2 and https://example.org/a"


@pytest.mark.parametrize(
    "text",
    ["![x](https://e.example/p.png)", "[a](javascript:alert(1))", "**b** _i_ `c` :red[x] $x$ <b>h</b>", "# h",
     "see http://e.example/y, www.e.example and me@e.example"],
)  # fmt: skip
def test_plain_escapes_every_markdown_construct(text: str) -> None:
    escaped = plain(text)
    assert re.sub(r"\\(.)", r"\1", escaped).replace(WORD_JOINER, "") == text  # nothing lost
    assert not re.search(r"(?i)(www\\?\.|https?\\?:|@[a-z])", escaped)  # no bare address left to autolink
    assert not re.search(r"(?<!\\)[!\[\]()*_`:$<>#]", escaped)  # every special character escaped


# --- the server's defaults ----------------------------------------------------------------------------


def test_streamlit_defaults_are_safe_to_share() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["address"] == "127.0.0.1"  # others reach it only when the operator opts in
    assert settings["client"]["showErrorDetails"] == "none"  # no tracebacks for visitors
    assert settings["server"]["enableXsrfProtection"] and settings["server"]["enableCORS"]


# --- live views' refresh budget -----------------------------------------------------------------------


def test_chart_refresh_slows_down_as_watchers_join(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.live.load_factor", lambda: 1.0)
    now = [0.0]
    budget = LiveBudget(cpu_share=0.25, clock=lambda: now[0])
    for _ in range(60):
        budget.measured(0.3)  # each chart refresh takes 0.3 s
    budget.watching("a")
    alone = budget.chart_interval()
    for session in "bcdefgh":
        budget.watching(session)
    eight = budget.chart_interval()
    assert alone == max(MIN_CHART_S, budget._cost / 0.25) and eight == pytest.approx(8 * budget._cost / 0.25)
    assert 8 * 0.3 / eight == pytest.approx(0.25, rel=1e-4)  # all eight together stay within a quarter of a core
    for session in "ijklmnopqrstuvwxyz0123456789":
        budget.watching(session)
    assert budget.chart_interval() == MAX_CHART_S  # capped: a chart never freezes for long
    now[0] += 31  # sessions that stopped refreshing no longer count
    budget.watching("a")
    assert budget.watchers() == 1 and budget.chart_interval() == max(MIN_CHART_S, budget._cost / 0.25)


def test_chart_refresh_slows_down_when_the_machine_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = LiveBudget(cpu_share=0.25)
    budget.watching("a")
    monkeypatch.setattr("app.live.load_factor", lambda: 1.0)
    calm = budget.chart_interval()
    monkeypatch.setattr("app.live.load_factor", lambda: 3.0)
    assert budget.chart_interval() == pytest.approx(min(MAX_CHART_S, 3 * calm))
    assert needs_retune(None, 2.0) and needs_retune(2.0, 3.0) and not needs_retune(2.0, 2.5)


# --- slow distributions cannot tie up the server ------------------------------------------------------


def test_a_slow_distribution_has_no_preview_but_a_message() -> None:
    config = NeuronConfig(n=10_000, **SLOW)
    with pytest.raises(ConfigError, match=r"dist: studentized_range (draws samples too slowly|is too slow to preview)"):
        preview_density(config, budget_s=0.3)


def test_a_slow_sample_stops_when_nobody_waits() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    result = simulate(NeuronConfig(n=10_000, iters=10, rules=["ip"], **SLOW), should_stop=stop.is_set)
    assert result.state == "cancelled" and result.summary == {}


def test_chunked_draws_are_the_same_sample() -> None:
    """Drawing in chunks (to be stoppable) gives the very numbers one call gives, so runs stay reproducible."""
    for name, params in (("gamma", {"a": 2.0}), ("t", {"df": 3.0}), ("beta", {"a": 2.0, "b": 3.0})):
        sample = draw_sample(NeuronConfig(dist=name, params=params, n=5000, seed=7))
        expected = getattr(scipy.stats, name)(**params).rvs(size=5000, random_state=np.random.default_rng(7))
        assert np.array_equal(sample, expected), name


def test_the_preview_shows_the_runs_own_sample() -> None:
    for config in (NeuronConfig(dist="gaussian", mu=5, sigma=2), NeuronConfig(dist="gamma", params={"a": 2.0})):
        shown = preview_density(config)
        sample = draw_sample(config)
        assert shown["median"] == pytest.approx(float(np.median(sample)))
        assert shown["mean"] == pytest.approx(float(sample.mean()))
        assert 50 <= len(shown["grid"]) <= 500 and np.all(np.isfinite(shown["density"]))


def test_record_views_name_no_server_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.text import public_record

    monkeypatch.setenv("IPCORE_DATA", "/data")
    shown = public_record(
        {"config": {"data_root": "../shared/datasets", "dataset": "imagefolder:/home/op/faces", "depth": 7},
         "summary": {"dataset": "image folder /home/op/faces: 3×8×8", "source": "/data/MNIST/raw"}}
    )  # fmt: skip
    assert shown["config"]["data_root"] == "<the server's data folder>" and shown["config"]["depth"] == 7
    assert "/home/op" not in str(shown) and shown["summary"]["source"] == "<the data folder>/MNIST/raw"


def test_the_live_chart_component_works_offline_without_a_writable_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live-chart page and the plotly.js it loads are written where they can be: the cache folder, else the
    temporary folder; both come from the installed plotly package (no download)."""
    import app.live_plot as live_plot

    monkeypatch.setenv("IPCORE_CACHE", "/proc/not-writable")
    folder = live_plot._component_folder()
    assert (folder / "index.html").read_text() == live_plot.index_html("./plotly.min.js")
    assert (folder / "plotly.min.js").stat().st_size > 1_000_000


def test_plotly_js_is_served_once_per_browser_from_the_static_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every live chart is a frame that loads plotly.js (4.8 MB). From the component's folder it comes with no
    validator and is gzipped anew for each frame; from the app's static folder it comes with Last-Modified (the
    package file's, months old) and ETag, so a browser fetches it once. The page points there when static
    serving is on, else at its own copy."""
    import os

    import streamlit as st

    import app.live_plot as live_plot

    assert st.get_option("server.enableStaticServing")  # .streamlit/config.toml turns it on
    src = live_plot._static_script()
    assert src == f"../../app/static/plotly-{live_plot.plotly.__version__}.min.js"
    copy = live_plot.STATIC_FOLDER / src.rsplit("/", 1)[1]
    source = live_plot._plotly_source()
    assert copy.stat().st_size == source.stat().st_size and copy.stat().st_mtime == source.stat().st_mtime
    page = (live_plot._component_folder(src) / "index.html").read_text()
    assert f'script.src = "{src}";' in page and "./plotly.min.js" not in page  # loaded in turn (app.live_plot)
    assert not (live_plot._component_folder(src) / "plotly.min.js").exists()
    monkeypatch.setattr(live_plot, "STATIC_FOLDER", live_plot.STATIC_FOLDER / "not-here" / "deeper")
    assert live_plot._static_script() is None  # cannot be written: the component's own copy is used
    assert os.path.basename(str(live_plot._component_folder(None))) == "local"
