"""Names and labels are data, and no server path reaches a visitor (issue 28, items 2 and 4).

Every hostile name is refused as a new name (the safe alphabet) and, stored in an old record, rendered in every
chart that shows names: no plotly markup survives (``<a href>``, ``<b>``, ``<br>``, ``<span style>``), the CSV gives
the name back as typed. Paths from stored configs and the data folder never reach a page.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_helpers import open_app  # noqa: E402

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from ipcore import cli  # noqa: E402
from ipcore.charts import base as charts  # noqa: E402
from ipcore.charts import beyond as charts_beyond  # noqa: E402
from ipcore.charts import gallery as charts_gallery  # noqa: E402
from ipcore.charts import lab as charts_lab  # noqa: E402
from ipcore.charts import neuron as charts_neuron  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.config import ConfigError, NeuronConfig, TrainConfig  # noqa: E402
from ipcore.jobs.serving import plot_text, redact_paths  # noqa: E402
from ipcore.results.records import check_name, check_stored_name, load_run, save_run  # noqa: E402
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.neuron import simulate  # noqa: E402

HOSTILE = [
    '<a href="https:evil.example">CLICKME <b>BOLD<br><span style="font-size:60px">BIG',  # the name
    "CLICKME <i>x &amp; &lt;b&gt; <sup>2",  # entities must stay entities (no "/": no stored name holds one)
    "CLICKME **bold** [l](javascript:alert(1)) $x^2$ %{x}",  # Markdown, LaTeX, a hover template
]
MARKUP = re.compile(r"<(?:a|b|br|i|span|sup|sub|em|s|u)\b|</", re.IGNORECASE)
TINY_TRAIN = {"dataset": "clusters", "rules": ["ip", "none"], "depth": 3, "width": 8, "epochs": 2, "seeds": 2,
              "subset": 400, "batch_size": 100, "device": "cpu"}  # fmt: skip
TINY_NEURON = {"dist": "gaussian", "mu": 3.0, "sigma": 1.0, "n": 400, "iters": 60, "record_every": 10,
               "rules": ["ip", "wd"]}  # fmt: skip


@pytest.fixture(scope="module")
def train_run():
    return train(TrainConfig(**TINY_TRAIN))


@pytest.fixture(scope="module")
def neuron_run():
    return simulate(NeuronConfig(**TINY_NEURON))


def strings(value) -> Iterator[str]:
    """Every text in a figure's JSON (trace names, titles, annotations, hover texts, meta)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_shown_as_text(figure, name: str) -> None:
    """The figure shows ``name`` (escaped) and no markup of it: every text that carries the name holds no tag."""
    texts = [t for t in strings(json.loads(figure.to_json())) if "CLICKME" in t]
    assert texts, "the name does not appear in the figure"
    for text in texts:
        assert not MARKUP.search(text), text
        assert plot_text(name) in text  # entities as plotly turns them back into the characters typed


# --- new names: a safe alphabet -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_new_name_is_refused_with_the_allowed_characters(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_name(name)
    assert error.value.field == "name" and "letters, digits, spaces and" in str(error.value)
    assert check_stored_name(name) == name  # an old record's name still loads (and is escaped where shown)


def test_ordinary_names_in_any_script_pass() -> None:
    for name in ("My run (fast) über α!", "lr=0.01, seed 3: ip+wd #2", "深層 ネット", "a@b ok?"):
        assert check_name(name) == name


@pytest.mark.parametrize("name", HOSTILE[:1])
def test_the_command_line_refuses_a_hostile_name(name: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["neuron", "--iters", "5", "--n", "50", "--name", name, "--runs-dir", str(tmp_path)])
    assert stop.value.code == 2 and not any(tmp_path.iterdir())


# --- old records: escaped in every chart that shows names --------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE)
def test_every_chart_that_shows_names_shows_a_hostile_name_as_text(name: str, train_run, neuron_run) -> None:
    train_runs = [(name, train_run.metrics), ("plain", train_run.metrics)]
    neuron_runs = [(name, neuron_run.metrics), ("plain", neuron_run.metrics)]
    figures = [
        charts_lab.compare_figure(train_runs, "batch/loss"),
        charts_lab.compare_figure(train_runs, "layer/grad_y_u", 1),
        charts_lab.compare_figure(neuron_runs, "trace/entropy"),
        charts_training.loss_figure(train_runs),
        charts_training.accuracy_figure(train_runs),
        charts_training.loss_panels_figure(train_runs),
        charts_training.grad_lines_figure(train_runs, [0]),
        charts_neuron.neuron_entropy_figure(neuron_runs),
        charts_beyond.layer_profile_figure(train_runs, "grad_y_u", "second half"),
        charts_gallery.beta_median_scatter([{"label": name, "median": 1.0, "mean": 1.2, "beta": 1.1}]),
    ]
    for figure in figures:
        assert_shown_as_text(figure, name)


def test_a_charts_csv_gives_names_back_as_typed_and_quotes_formulas(neuron_run) -> None:
    name = HOSTILE[0]

    def series(runs: list) -> set[str]:
        text = charts.figure_csv(charts_lab.compare_figure(runs, "trace/entropy"))
        return {row["series"] for row in csv.DictReader(io.StringIO(text))}

    assert series([(name, neuron_run.metrics)]) == {f"{name} · ip", f"{name} · wd"}
    assert series([("=HYPERLINK(1)", neuron_run.metrics)]) == {"'=HYPERLINK(1) · ip", "'=HYPERLINK(1) · wd"}


def test_plot_text_escapes_only_plotly_markup() -> None:
    assert plot_text('<a href="x">A & B</a>') == '&lt;a href="x"&gt;A &amp; B&lt;/a&gt;'
    assert plot_text("η ip 0.001 · lr 0.01") == "η ip 0.001 · lr 0.01"


# --- the app: Compare and the runs table with an old hostile record -----------------------------------------


def chart_specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def test_compare_shows_a_hostile_name_as_text(runs_dir: Path, neuron_run) -> None:
    hostile = save_run(runs_dir, neuron_run, name=HOSTILE[0])
    plain = save_run(runs_dir, neuron_run, name="plain run")
    at = open_app("gallery", {"view": "compare", "cmp": f"{hostile},{plain}"})
    assert not at.exception and not at.error
    (spec,) = [s for s in chart_specs(at) if "CLICKME" in s]
    names = [t["name"] for t in json.loads(spec)["data"] if "CLICKME" in t.get("name", "")]
    assert names and all(not MARKUP.search(n) and "&lt;a href" in n for n in names)


# --- server paths ------------------------------------------------------------------------------------------


def operator_record(runs_dir: Path, train_run) -> str:
    """An operator's command-line record on an image folder given by its path (stored as such)."""
    run_id = save_run(runs_dir, train_run, name="faces")
    config = runs_dir / run_id / "config.json"
    stored = json.loads(config.read_text())
    stored["dataset"] = "imagefolder:/srv/secret/faces"
    config.write_text(json.dumps(stored))
    assert load_run(runs_dir, run_id).config.dataset == "imagefolder:/srv/secret/faces"
    return run_id


def test_an_operators_image_folder_path_reaches_no_page(runs_dir: Path, train_run) -> None:
    secret = operator_record(runs_dir, train_run)
    other = save_run(runs_dir, train_run, name="other")
    at = open_app("gallery", {"view": "runs", "run": secret})
    assert not at.exception
    table = at.dataframe[0].value
    assert "imagefolder:<server path>" in set(table["data"]) and "/srv/secret" not in table.to_csv()
    page_text = " ".join(str(e.proto) for kind in ("caption", "markdown", "json", "alert") for e in at.get(kind))
    assert "faces" in page_text and "/srv/secret" not in page_text
    load = next(b for b in at.button if b.label == "Load this setup into the lab")
    assert load.disabled and "image folder" in load.help  # the address would carry the path
    at = open_app("gallery", {"view": "compare", "cmp": f"{secret},{other}"})
    assert not at.exception
    assert all("/srv/secret" not in s for s in chart_specs(at)) and any(
        "&lt;server path&gt;" in s for s in chart_specs(at)
    )
    options = " ".join(str(o) for o in at.multiselect(key="gallery.cmp.runs").options)
    assert "/srv/secret" not in options and "imagefolder:<server path>" in options


def test_load_into_the_lab_still_works_for_a_browser_setup(runs_dir: Path, train_run) -> None:
    run_id = save_run(runs_dir, train_run, name="clusters run")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    load = next(b for b in at.button if b.label == "Load this setup into the lab")
    assert not load.disabled


@pytest.mark.parametrize("page", ["home", "network_lab"])
def test_the_data_folder_is_named_not_printed(runs_dir: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.environ["IPCORE_DATA"]
    at = open_app(page, {"dataset": "mnist"} if page == "network_lab" else None)
    assert not at.exception
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.warning, *at.info])
    assert data not in shown and "data folder" in shown


def test_redaction_names_the_data_folder_and_keeps_closing_tags() -> None:
    named = {"the data folder": "/data"}
    assert redact_paths("put it in /data/MNIST/raw.", named=named) == "put it in <the data folder>/MNIST/raw."
    assert redact_paths("x </b> y </span>") == "x </b> y </span>"  # was "x <<server path>> y …"
    assert redact_paths("imagefolder:/srv/secret/faces") == "imagefolder:<server path>"


def test_a_record_label_shows_no_path() -> None:
    label = charts_lab.run_label({"kind": "train", "dataset": "imagefolder:/srv/secret/faces", "depth": 3})
    assert "/srv" not in label and "imagefolder:<server path>" in label
