"""The Streamlit app: chart builders on real runs, the URL ↔ config round trip, and every page driven through
``streamlit.testing.v1.AppTest`` (renders, runs a neuron comparison, trains a tiny synthetic network, shows
errors as messages). Every test writes its runs into a temporary ``IPCORE_RUNS_DIR``, never into the repo.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, ROOT

sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app import (  # noqa: E402
    charts,
    charts_gallery,
    charts_home,
    charts_lab,
    charts_layers,
    charts_neuron,
    charts_training,
    export,
    lab_guide,
    sweep_charts,
)
from app.text import code, plain  # noqa: E402
from ipcore.config import NeuronConfig, TrainConfig  # noqa: E402
from ipcore.data import available_datasets  # noqa: E402
from ipcore.results.records import list_runs, save_run  # noqa: E402
from ipcore.results.statistics import ENTROPY_MAX  # noqa: E402
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.neuron import simulate  # noqa: E402

MAIN = str(ROOT / "app" / "main.py")
PAGES = ["home", "network_lab", "neuron_lab", "gallery", "lr_sweep"]
TINY_TRAIN = {"dataset": "clusters", "rules": ["ip", "none"], "depth": 3, "width": 8, "epochs": 2, "seeds": 2,
              "subset": 800, "batch_size": 100, "device": "cpu"}  # fmt: skip
SMALL_NEURON = {"dist": "gaussian", "mu": 4.0, "sigma": 1.5, "n": 1000, "iters": 300, "record_every": 10,
                "rules": ["ip", "wd", "infomax"]}  # fmt: skip


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_run():
    """A real, tiny network run on the synthetic clusters task (seconds on a CPU)."""
    return train(TrainConfig(**TINY_TRAIN))


@pytest.fixture(scope="module")
def neuron_run():
    return simulate(NeuronConfig(**SMALL_NEURON))


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh runs folder for the app, and a fixed data folder so the app never changes the environment."""
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(folder))
    monkeypatch.setenv("IPCORE_GALLERY_DIR", str(folder))  # isolated from the committed gallery records
    monkeypatch.setenv("IPCORE_DATA", os.environ.get("IPCORE_DATA") or str(DATA if DATA.is_dir() else tmp_path))
    return folder


def open_app(page: str, query: dict[str, str] | None = None) -> AppTest:
    """The app from its entry point, switched to ``page`` (with ``query`` in the address), run once."""
    at = AppTest.from_file(MAIN, default_timeout=90)
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py")
    if query:
        at.query_params.update(query)
    return at.run()


def run_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 180) -> AppTest:
    """Rerun the app (as the browser's fragment timer would) until ``done`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"not done within {timeout} s; errors: {[e.value for e in at.error]}")


def finished(at: AppTest) -> bool:
    return any("Finished in" in s.value for s in at.success) or bool(at.error)


def unescape(markdown: str) -> str:
    """The text a Markdown source shows (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def charts_shown(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def no_problems(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# --- chart builders (no streamlit) --------------------------------------------------------------------


def test_loss_figure_has_mean_and_band_per_rule(train_run) -> None:
    metrics = train_run.metrics
    fig = charts_training.loss_figure([("", metrics)], smoothing=0.0)
    names = [t.name for t in fig.data]
    assert names.count("ip mean of 2") == 1 and names.count("none mean of 2") == 1
    assert {"ip min", "ip max", "none min", "none max"} <= set(names)
    mean = next(t for t in fig.data if t.name == "ip mean of 2")
    members = np.flatnonzero(np.asarray(metrics["members_rule"]) == "ip")
    expected = np.asarray(metrics["batch/loss"], dtype=float)[:, members].mean(axis=1)
    np.testing.assert_allclose(np.asarray(mean.y, dtype=float), expected, rtol=1e-5)
    assert fig.layout.xaxis.title.text == "epoch" and "nats" in fig.layout.yaxis.title.text


def test_smoothing_keeps_constants_and_skips_nan() -> None:
    values = np.array([[2.0], [2.0], [np.nan], [2.0]])
    smoothed = charts.smooth(values, 0.9)
    np.testing.assert_allclose(smoothed[[0, 1, 3], 0], 2.0)  # bias-corrected: no pull toward 0 at the start
    assert math.isnan(smoothed[2, 0])
    np.testing.assert_array_equal(charts.smooth(values, 0.0), values)
    steps = charts.smooth(np.array([[0.0], [1.0]]), 0.5)
    assert 0 < steps[1, 0] < 1


def test_fixed_point_figure_draws_rules_with_a_fixed_point(train_run) -> None:
    fig = charts_training.fixed_point_figure(train_run.metrics, [0, 2])
    names = {t.name for t in fig.data}
    assert names == {"ip, layer 1", "ip, layer 3"}  # `none` has no fixed point: no line
    ip = [t for t in fig.data if t.name == "ip, layer 1" and t.xaxis == "x"][0]
    expected = np.nanmean(np.asarray(train_run.metrics["layer/alpha_distance"])[:, :2, 0], axis=1)
    np.testing.assert_allclose(np.asarray(ip.y, dtype=float), expected[: len(ip.y)], rtol=1e-5)
    old = {k: v for k, v in train_run.metrics.items() if "distance" not in k}
    assert "not recorded" in charts_training.fixed_point_figure(old, [0]).layout.annotations[0].text


def test_diverged_seed_is_marked_where_it_diverged(train_run) -> None:
    metrics = dict(train_run.metrics)
    loss = np.array(metrics["batch/loss"], dtype=float)
    member, at_step = 3, int(metrics["batch/step"][len(loss) // 2])
    loss[len(loss) // 2 + 1 :, member] = np.nan
    diverged = np.array(metrics["diverged_step"]).copy()
    diverged[member] = at_step
    metrics.update({"batch/loss": loss, "diverged_step": diverged})
    rule = str(metrics["members_rule"][member])
    fig = charts_training.loss_figure([("", metrics)])
    marker = next(t for t in fig.data if t.name == f"{rule} diverged")
    expected_epoch = float(np.interp(at_step, metrics["batch/step"], metrics["batch/epoch"]))
    assert marker.x[0] == pytest.approx(expected_epoch)
    assert charts_training.divergence_rows(metrics) == [
        {"rule": rule, "seed": int(metrics["members_seed"][member]), "step": at_step, "epoch": round(expected_epoch, 3)}
    ]


def test_layer_charts_and_csv(train_run) -> None:
    metrics = train_run.metrics
    layers = int(np.asarray(metrics["layer/grad_y_u"]).shape[-1])
    heat = charts_training.grad_heatmap_figure(metrics)
    assert [t.type for t in heat.data] == ["heatmap", "heatmap"]
    assert np.asarray(heat.data[0].z).shape[0] == layers
    csv_rows = charts.figure_csv(heat).strip().splitlines()
    assert csv_rows[0] == "series,x,y,z,error_plus,error_minus"
    assert len(csv_rows) - 1 == sum(np.asarray(t.z).size for t in heat.data)
    hist = charts_layers.histogram_figure(metrics, index=-1)
    assert len(hist.data) == layers * 2 and len(hist.layout.annotations) >= layers
    accuracy = charts_training.accuracy_figure([("", metrics)])
    values = [v for t in accuracy.data for v in t.y if v is not None and np.isfinite(v)]
    assert values and all(0 <= v <= 100 for v in values)  # percent
    for fig in (charts_training.grad_lines_figure([("", metrics)], [0, layers - 1]), charts_layers.alpha_beta_figure(metrics),
                charts_layers.entropy_layers_figure(metrics), charts_training.entropy_time_figure(metrics, [0])):  # fmt: skip
        assert fig.data and charts.figure_csv(fig).count("\n") > 1


def test_neuron_charts(neuron_run) -> None:
    metrics = neuron_run.metrics
    entropy = charts_neuron.neuron_entropy_figure([("", metrics)])
    assert [t.name for t in entropy.data] == ["ip", "wd", "infomax"]
    assert any(shape.y0 == pytest.approx(ENTROPY_MAX) for shape in entropy.layout.shapes)  # the log 2 line
    centre = charts_neuron.beta_median_figure(metrics)
    infomax = next(t for t in centre.data if t.name == "infomax")
    column = 2
    alpha, beta = metrics["trace/alpha"][-1, column], metrics["trace/beta"][-1, column]
    assert infomax.y[-1] == pytest.approx(-beta / alpha)  # affine rule: the tanh's centre is −β/α
    hist = charts_neuron.neuron_histogram_figure(metrics, 5)
    assert "iteration 50" in hist.layout.title.text
    tanh = charts_neuron.tanh_over_density_figure(metrics)
    assert len(tanh.data) == 1 + 2 * 3
    assert charts_neuron.alpha_beta_trajectory_figure(metrics).data


def test_ip_illustration_is_at_the_fixed_point() -> None:
    x = np.linspace(-5, 11, 4001)
    weights = np.exp(-0.5 * ((x - 3) / 1.0) ** 2)
    alpha, beta = charts_home.ip_fixed_point_on_grid(x, weights)
    assert beta == pytest.approx(3.0, abs=0.01)
    expected = 2 * np.sum(weights * x * np.tanh((x - beta) / alpha)) / weights.sum()
    assert alpha == pytest.approx(expected, rel=1e-3)
    fig = charts_home.ip_illustration_figure(3.0, 1.0)
    titles = [a.text for a in fig.layout.annotations]
    off, on = (float(t.split("inputs ")[1]) for t in titles[:2])
    assert on > 5 * off  # centring over the inputs multiplies the mean slope


def test_sweep_points_pool_runs_at_one_lr(train_run) -> None:
    points = sweep_charts.sweep_points([(0.01, train_run.metrics), (0.01, train_run.metrics), (0.1, train_run.metrics)])
    ip = [p for p in points if p["rule"] == "ip"]
    assert [p["lr"] for p in ip] == [0.01, 0.1]
    assert ip[0]["seeds"] == 4 and ip[1]["seeds"] == 2
    assert ip[0]["collapsed"] == 0
    fig = sweep_charts.lr_sweep_figure(points)
    assert fig.layout.xaxis.type == "log" and "learning rate" in fig.layout.xaxis2.title.text


def test_sweep_counts_collapsed_seeds_as_failures() -> None:
    """fig4.3 at lr 0.002: three of the standard net's ten seeds sit at chance. The sweep's loss stands on the
    seven healthy ones and its failure share counts the three."""
    from ipcore.results.records import load_run

    records = [load_run(ROOT / "cached_runs", f"gallery-fig4.3-lr{lr}") for lr in ("0.0006", "0.001", "0.002")]
    points = sweep_charts.sweep_points([(r.config.lr, r.metrics) for r in records], "cifar10")
    none = {p["lr"]: p for p in points if p["rule"] == "none"}
    assert none[0.002]["collapsed"] == 3 and none[0.002]["diverged"] == 0 and none[0.002]["seeds"] == 10
    final = np.asarray(records[2].metrics["epoch/train_loss"], dtype=float)[-1]
    assert none[0.002]["loss_max"] < final[np.asarray(records[2].metrics["members_rule"]) == "none"].max()
    fig = sweep_charts.lr_sweep_figure(points)
    share = next(t for t in fig.data if t.name == "none failed")
    assert list(share.y) == [0.0, 10.0, 30.0]


def test_run_json_is_plain_json(neuron_run) -> None:
    import json

    text = export.run_json(neuron_run.config.to_dict(), neuron_run.summary, neuron_run.metrics, name="x")
    data = json.loads(text)
    assert data["config"]["n"] == 1000 and len(data["metrics"]["trace/iter"]) == len(neuron_run.metrics["trace/iter"])


# --- the address holds the setup ----------------------------------------------------------------------


def test_parse_flat_keeps_valid_fields_and_names_the_bad_one() -> None:
    from app.state import parse_flat

    config, messages = parse_flat(TrainConfig, {"depth": "99", "width": "16", "rules": "ip,wd"})
    assert config.depth == TrainConfig().depth and config.width == 16 and config.rules == ["ip", "wd"]
    assert len(messages) == 1 and messages[0].startswith("depth:") and "32" in messages[0]
    config, messages = parse_flat(NeuronConfig, {"rules": "ip,nonsense", "n": "500"})
    assert config.n == 500 and config.rules == NeuronConfig().rules and "nonsense" in messages[0]


# --- pages through AppTest ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page: str, runs_dir: Path) -> None:
    at = open_app(page)
    no_problems(at)
    assert at.title, f"{page} has no title"
    if page == "home":
        assert charts_shown(at) == 1 and len(at.latex) >= 11  # the IP picture and every rule's equations


def test_address_restores_the_neuron_setup(runs_dir: Path) -> None:
    query = {"dist": "uniform", "center": "1.5", "width": "3.0", "n": "1000", "rules": "ip,bn_inc", "eta.ip": "0.002"}
    at = open_app("neuron_lab", query)
    no_problems(at)
    assert at.selectbox(key="neuron.dist").value == "uniform"
    assert at.number_input(key="neuron.center").value == 1.5 and at.number_input(key="neuron.width").value == 3.0
    assert at.multiselect(key="neuron.rules").value == ["ip", "bn_inc"]
    assert at.select_slider(key="neuron.eta.ip").value == 0.002
    assert at.query_params == query  # written back unchanged


def test_invalid_address_values_fall_back_with_a_message(runs_dir: Path) -> None:
    at = open_app("network_lab", {"depth": "99", "width": "16", "lr": "-1"})
    assert not at.exception
    warning = unescape(" ".join(w.value for w in at.warning))
    assert "depth: must be ≥ 1 and ≤ 32 (got 99)" in warning and "lr: must be > 0" in warning
    assert at.slider(key="net.depth").value == TrainConfig().depth
    assert at.number_input(key="net.width").value == 16


def test_quick_setups_fill_the_controls_and_the_address(runs_dir: Path) -> None:
    at = open_app("neuron_lab")
    button(at, "Use the thesis's example: N(5, 2²)").click().run()
    assert at.number_input(key="neuron.mu").value == 5.0 and at.query_params == {"mu": "5.0", "sigma": "2.0"}
    at = open_app("network_lab")
    at.button(key="net.demo.ip-eta").click().run()
    no_problems(at)
    assert at.multiselect(key="net.rules").value == ["ip", "none"] and at.query_params["eta.ip"] == "0.01"
    here = {d["name"].split(":")[0]: d for d in available_datasets()}
    assert at.selectbox(key="net.dataset").value == lab_guide.demo_dataset(here)  # MNIST when present
    look = " ".join(i.value for i in at.info)
    assert "IP acts at a larger η" in look and "Look for" in look  # the one line that says what to see
    assert not any("too short" in w.value for w in at.warning)  # η × steps = 3: long enough for IP to act


def test_bad_values_are_refused_with_a_message(runs_dir: Path) -> None:
    at = open_app("neuron_lab")
    at.selectbox(key="neuron.dist").set_value("other (scipy.stats)").run()
    at.text_input(key="neuron.scipy_name").set_value("gamma").run()
    at.text_input(key="neuron.params").set_value("a=two").run()
    assert any("params.a: must be a number" in unescape(e.value) for e in at.error)
    assert button(at, "Run").disabled
    at.text_input(key="neuron.params").set_value("a=2, scale=1.5").run()
    no_problems(at)
    assert not button(at, "Run").disabled and at.query_params["dist"] == "gamma"
    at.text_input(key="neuron.scipy_name").set_value("no_such_dist").run()
    assert (
        any("unknown distribution 'no_such_dist'" in unescape(e.value) for e in at.error) and button(at, "Run").disabled
    )
    assert not at.exception


def test_neuron_lab_runs_a_comparison_and_shows_its_charts(runs_dir: Path) -> None:
    at = open_app("neuron_lab", {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in SMALL_NEURON.items()})
    assert charts_shown(at) == 1  # the live density preview
    button(at, "Run").click()
    run_until(at, finished)
    no_problems(at)
    # preview, density heatmap, histogram, tanh over density, output against its target, entropy, centre, α/β
    assert charts_shown(at) == 8
    entropy = next(c.proto.spec for c in at.get("plotly_chart") if "Output entropy" in c.proto.spec)
    assert "log 2" in entropy and "best a tanh can reach on this input (0.6851)" in entropy  # a Gaussian input
    summary = at.dataframe[0].value
    assert list(summary["rule"]) == ["ip", "wd", "infomax"]
    (saved,) = list_runs(runs_dir)
    assert saved["kind"] == "neuron" and saved["config"]["n"] == 1000 and saved["experiment"] is None
    at.select_slider(key="neuron.run.t").set_value(3).run()  # scrub the histogram back in time
    assert not at.exception


def test_network_lab_trains_live_and_saves_the_run(runs_dir: Path) -> None:
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", query)
    no_problems(at)
    button(at, "Train").click().run()
    assert at.get("progress") or finished(at)  # the live panel is up right after the click
    run_until(at, finished)
    no_problems(at)
    # loss, accuracy, ∂y/∂u lines, entropy over time, heatmap, distance to the fixed point, profile across depth,
    # α/β over time, histograms, α/β per layer, entropy per layer
    assert charts_shown(at) == 11
    (saved,) = list_runs(runs_dir)
    assert saved["kind"] == "train" and saved["state"] == "done"
    # The session that made the run may delete it in the gallery; another visitor may not.
    at.switch_page("../pages/gallery.py")
    at.query_params.update({"view": "runs", "run": saved["run_id"]})
    assert "Delete this run" in [b.label for b in at.run().button]
    # … and the gallery lists it as one of "my runs" and opens it with the lab's charts.
    at = open_app("gallery", {"view": "runs", "run": saved["run_id"]})
    no_problems(at)
    assert "Delete this run" not in [b.label for b in at.button]
    assert saved["run_id"] in list(at.dataframe[0].value["run"])
    assert charts_shown(at) == 11  # the same eleven charts as the lab
    # "Load this setup into the lab" reopens the network lab with the stored run's setup.
    button(at, "Load this setup into the lab").click().run()
    no_problems(at)
    assert at.title[0].value == "Network lab"
    assert at.slider(key="net.depth").value == 3 and at.number_input(key="net.width").value == 8
    assert at.query_params["dataset"] == "clusters"


@pytest.mark.parametrize(("page", "query", "start", "session_key"), [
    ("network_lab", TINY_TRAIN, "Train", "net.job"), ("neuron_lab", SMALL_NEURON, "Run", "neuron.job"),
])  # fmt: skip
def test_a_bad_run_name_starts_nothing_and_says_why_and_the_setup_can_be_shared(
    runs_dir: Path, page: str, query: dict, start: str, session_key: str
) -> None:
    at = open_app(page, {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in query.items()})
    share = next(e for e in at.sidebar.expander if e.label == "share this setup")
    shared = share.code[0].value  # the query that reopens this setup
    assert "seeds=" in shared or "rules=" in shared
    prefix = "net" if page == "network_lab" else "neuron"
    at.text_input(key=f"{prefix}.name").set_value("../../etc").run()
    button(at, start).click().run()
    assert any("could not start: name: must not contain path separators" in unescape(e.value) for e in at.error)
    assert session_key not in at.session_state and list_runs(runs_dir) == []  # nothing was submitted
    assert not at.exception


def test_stop_cancels_a_running_job(runs_dir: Path) -> None:
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", {**query, "epochs": "200", "subset": "0"})
    button(at, "Train").click().run()
    run_until(at, lambda a: any("running" in (p.proto.text or "") for p in a.get("progress")))
    button(at, "Stop").click().run()
    run_until(at, lambda a: any("Stopped after" in i.value for i in a.info))
    assert not at.exception and not at.error
    (saved,) = list_runs(runs_dir)
    assert saved["state"] == "cancelled"  # what was recorded is kept


def test_a_failing_job_is_a_message_without_server_paths(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's folder that has gone missing: the run fails with a message naming the folder by its name,
    never by its path on the server."""
    secret = tmp_path / "operator-secret" / "gone"
    secret.mkdir(parents=True)  # offered and present when the page lists the datasets …
    monkeypatch.setenv("IPCORE_IMAGE_FOLDERS", f"photos={secret}")
    import streamlit

    streamlit.cache_data.clear()  # the dataset listing is cached per process
    at = open_app("network_lab", {"dataset": "folder:photos", "depth": "2"})
    assert at.selectbox(key="net.dataset").value == "folder:photos"
    secret.rmdir()  # … and gone when the run starts
    button(at, "Train").click().run()
    run_until(at, lambda a: any(e.value.startswith("The run failed:") for e in a.error))
    assert not at.exception
    (failed,) = [e.value for e in at.error if e.value.startswith("The run failed:")]
    assert "photos" in failed and "operator-secret" not in failed and str(tmp_path) not in failed


@pytest.mark.parametrize(
    "query, field",
    [
        ({"dataset": "imagefolder:/root"}, "dataset"),
        ({"dataset": "imagefolder:/tmp"}, "dataset"),
        ({"data_root": "/tmp/anywhere/deep/tree"}, "data_root"),
    ],
)
def test_the_address_never_names_a_server_folder(runs_dir: Path, query: dict, field: str) -> None:
    """A browser cannot make the server read, list or create folders: a path in the address is refused like
    an invalid value (its default used, the reason shown), and no widget asks for a path."""
    at = open_app("network_lab", {**query, "depth": "2"})
    assert not at.exception
    (warning,) = [unescape(w.value) for w in at.warning if "not valid" in w.value]
    assert f"- {field}:" in warning and "operator" in warning
    assert "imagefolder" not in at.query_params.get("dataset", "") and "data_root" not in at.query_params
    assert at.selectbox(key="net.dataset").value == "mnist"
    assert all("folder" not in (t.label or "").lower() for t in at.text_input)  # no path widget at all
    assert at.slider(key="net.depth").value == 2  # the valid rest of the address is kept


def test_user_text_is_shown_as_text_not_markdown(runs_dir: Path) -> None:
    """A link or an image in the address shows as its characters, escaped, inside the app's own warning."""
    payload = "![x](https://evil.example/p.png) [click](https://evil.example) **bold** :red[x] $x^2$"
    at = open_app("neuron_lab", {"dist": payload})
    (warning,) = [w.value for w in at.warning if "not valid" in w.value]
    assert payload in unescape(warning)  # the text itself is all there
    for markup in (r"!\[", r"\]\(", r"\*\*", r":red\[", r"\$", r"https:"):
        assert not re.search(r"(?<!\\)" + markup, warning), markup  # every Markdown special is escaped


def test_gallery_card_and_overlay(runs_dir: Path, neuron_run) -> None:
    from ipcore.gallery.entries import VERDICTS, get_entry

    entry = get_entry("fig5.2")
    for seed in (0, 1):
        result = simulate(entry.config(f"s{seed}", iters=400))
        save_run(runs_dir, result, experiment=entry.id, part=f"s{seed}", run_id=entry.run_id(f"s{seed}"))
    save_run(runs_dir, neuron_run, name="my neuron")
    at = open_app("gallery", {"view": "figures", "chapter": "5"})
    no_problems(at)
    table = at.dataframe[0].value.set_index("figure")
    assert table.loc["fig5.2", "verdict"] in VERDICTS
    assert table.loc["fig5.2", "parts"] == f"2 of {len(entry.parts)}" and table.loc["fig3.5", "verdict"] == "missing"
    markdown = " ".join(m.value for m in at.markdown)
    assert "**Measured:**" in markdown and entry.claim in markdown
    assert charts_shown(at) == 1  # the final histogram over the two samples
    next(b for b in at.get("button_group") if b.key == "card.fig5.2.spread").set_value("every seed").run()
    no_problems(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"ip seed 1"' in spec and '"ip seed 2"' in spec  # each sample as its own thin line
    at.toggle(key="card.fig5.2.log").set_value(True).run()
    assert '"type":"log"' in at.get("plotly_chart")[0].proto.spec.replace(" ", "")
    at = open_app("gallery", {"view": "compare"})
    no_problems(at)
    assert charts_shown(at) == 1  # two runs' entropy overlaid by default
    mine = next(m["run_id"] for m in list_runs(runs_dir) if not m.get("experiment"))
    at.multiselect(key="gallery.cmp.runs").set_value([entry.run_id("s0"), entry.run_id("s1"), mine]).run()
    no_problems(at)
    overlay = at.get("plotly_chart")[0].proto.spec
    assert '"fig5.2 s0: gaussian' in overlay and '"fig5.2 s1: gaussian' in overlay and '"my neuron: gaussian' in overlay
    assert at.query_params["cmp"].count(",") == 2  # the three runs are in the address


def test_gallery_shows_the_committed_records_whatever_the_runs_folder(runs_dir, monkeypatch) -> None:
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    committed = ROOT / "cached_runs"
    if not any(committed.glob("gallery-fig3.5-*")):
        pytest.skip("no committed gallery records")
    save_run(runs_dir, simulate(NeuronConfig(**SMALL_NEURON)), name="mine")
    at = open_app("gallery", {"view": "figures", "chapter": "3"})
    no_problems(at)
    table = at.dataframe[0].value.set_index("figure")
    assert table.loc["fig3.5", "verdict"] != "missing" and table.loc["fig3.5", "parts"] == "3 of 3"
    at = open_app("gallery", {"view": "runs"})
    no_problems(at)
    listed = " ".join(str(v) for df in at.dataframe for v in df.value.to_numpy().ravel())
    assert "gallery-fig3.5-lr0.01" in listed and "mine" in listed


def sweep_status(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if m.value.startswith("**Sweep "))


def test_lr_sweep_launches_a_grid_and_shows_heatmaps_per_rule(runs_dir: Path) -> None:
    at = open_app("lr_sweep")
    no_problems(at)
    assert at.selectbox(key="sweep.dataset").value == "clusters"  # its own dataset picker, a present default
    assert at.multiselect(key="sweep.eta.ip").value == [0.001, 0.01]  # the default grid sweeps η too
    at.slider(key="sweep.depth").set_value(2)
    at.number_input(key="sweep.width").set_value(8)
    at.number_input(key="sweep.subset").set_value(400)
    at.number_input(key="sweep.epochs").set_value(1)
    at.multiselect(key="sweep.lrs").set_value([0.001, 0.1])
    at.run()
    assert at.query_params["lr"] == "0.001,0.1" and at.query_params["depth"] == "2"  # the setup link
    button(at, "Launch sweep").click().run()
    run_until(at, lambda a: "4 of 4 grid points finished · done" in sweep_status(a))
    no_problems(at)
    heatmap = at.get("plotly_chart")[0].proto.spec
    assert '"heatmap"' in heatmap and "ip=0.001" in heatmap and "ip=0.01" in heatmap
    assert len(list_runs(runs_dir)) == 4  # one record per grid point
    at.radio(key="sweep.done.metric").set_value("grad_y_u").run()
    no_problems(at)
    assert "layer 2" in at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="sweep.done.row").set_value("ip=0.01").run()
    no_problems(at)
    assert charts_shown(at) >= 3  # the grid, its 1-D view, and the stored runs' 1-D view


def test_lr_sweep_setup_from_the_address_and_bad_values_reported(runs_dir: Path) -> None:
    at = open_app("lr_sweep", {"dataset": "spirals", "lr": "0.01,0.05", "eta.ip": "0.0001,0.001", "depth": "99"})
    assert at.selectbox(key="sweep.dataset").value == "spirals"
    assert at.multiselect(key="sweep.lrs").value == [0.01, 0.05]
    assert at.multiselect(key="sweep.eta.ip").value == [0.0001, 0.001]
    assert any("depth" in w.value for w in at.warning)  # reported, its default used, the rest kept
    assert not at.exception
    labels = at.multiselect(key="sweep.rules").options
    assert "ip — IP (Adam)" in labels  # readable rule chips
    assert not [t for t in at.text_input if "folder" in t.label or "path" in t.label]  # nothing names a path


def test_lr_sweep_from_records(runs_dir: Path) -> None:
    for lr in (0.003, 0.03):
        save_run(runs_dir, train(TrainConfig(**{**TINY_TRAIN, "lr": lr, "epochs": 1})), name=f"sweep lr={lr}")
    at = open_app("lr_sweep")
    no_problems(at)
    assert charts_shown(at) == 1
    table = at.dataframe[-1].value
    assert sorted(set(table["lr"])) == [0.003, 0.03] and set(table["rule"]) == {"ip", "none"}


def test_a_run_that_cannot_be_saved_says_so(runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs folder cannot be written: the finished run says it was not saved (without naming the server's
    folder) and its charts are still shown."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(blocker / "runs"))
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", {**query, "epochs": "1"})
    button(at, "Train").click().run()
    run_until(at, lambda a: any("could not be saved" in w.value for w in a.warning))
    (warning,) = [unescape(w.value) for w in at.warning if "could not be saved" in w.value]
    assert str(tmp_path) not in warning and "<server path>" in warning
    assert charts_shown(at) >= 8 and not at.exception


def test_a_slow_distribution_gets_a_message_instead_of_a_preview(runs_dir: Path) -> None:
    """studentized_range takes ~0.1-0.3 s per sample: the preview gives up after its time budget with a message
    that says so, and the page stays usable (Run still possible: the job can be stopped at any time)."""
    at = open_app("neuron_lab", {"dist": "studentized_range", "params.k": "3", "params.df": "10", "n": "10000"})
    assert not at.exception
    assert any("too slowly" in unescape(e.value) for e in at.error), [e.value for e in at.error]
    assert not button(at, "Run").disabled


# --- plot controls, demos, comparison, export (issue 12) ----------------------------------------------


def test_spread_band_choices(train_run) -> None:
    metrics = train_run.metrics
    members = np.flatnonzero(np.asarray(metrics["members_rule"]) == "ip")
    loss = np.asarray(metrics["batch/loss"], dtype=float)[:, members]
    iqr = charts_training.loss_figure([("", metrics)], spread="interquartile")
    median = next(t for t in iqr.data if t.name == "ip median of 2")
    np.testing.assert_allclose(np.asarray(median.y, dtype=float), np.median(loss, axis=1), rtol=1e-4)
    assert {"ip q25", "ip q75"} <= {t.name for t in iqr.data} and "interquartile" in iqr.layout.title.text
    seeds = charts_training.loss_figure([("", metrics)], spread="every seed")
    assert {"ip seed 1", "ip seed 2", "none seed 1", "none seed 2"} <= {t.name for t in seeds.data}
    assert not any(t.fill for t in seeds.data)  # thin lines, no band
    with pytest.raises(ValueError, match="spread must be one of"):
        charts.Plot(spread="range")


def test_coinciding_lines_stay_visible() -> None:
    x = np.arange(10.0)
    plot = charts.Plot()
    plot.band(x, np.sin(x), "ip", "ip")
    plot.band(x, np.sin(x) + 1e-4, "none", "none")  # on top of ip: it would hide ip's line
    plot.band(x, np.cos(x), "wd", "wd")
    fig = plot.figure("t")
    ip, none, wd = (next(t for t in fig.data if t.name == n) for n in ("ip", "none", "wd"))
    assert ip.line.width == 5 and none.line.dash == "dash"  # wide underneath, dashed on top: both show
    assert wd.line.width == 2 and wd.line.dash is None


def test_alpha_beta_over_time_per_layer(train_run) -> None:
    metrics = train_run.metrics
    fig = charts_lab.alpha_beta_time_figure(metrics, [0, 2], log_alpha=True)
    epochs, alpha = charts.layer_series(metrics, "alpha_mean")
    line = next(t for t in fig.data if t.meta == "ip, layer 3 alpha")
    np.testing.assert_allclose(np.asarray(line.y, dtype=float), alpha["ip"][:, 2], rtol=1e-5)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type != "log"
    assert {t.meta for t in fig.data} >= {"none, layer 1 beta", "ip, layer 1 alpha"}
    per_layer = charts_layers.alpha_beta_figure(metrics, -1, log_alpha=True)
    assert per_layer.layout.yaxis.type == "log"
    title = per_layer.layout.title  # the time is on its own line, so a half-width column never cuts it
    assert title.text == "α and β per hidden layer" and title.subtitle.text.startswith("at epoch")
    domains = per_layer.layout.xaxis.domain, per_layer.layout.xaxis2.domain
    assert domains[1][0] - domains[0][1] >= 0.15  # room for β's axis title between the panels


def test_neuron_density_heatmap_and_stable_histogram_axes(neuron_run) -> None:
    metrics = neuron_run.metrics
    heat = charts_neuron.neuron_histogram_heatmap(metrics)
    assert [t.type for t in heat.data] == ["heatmap"] * 3 and heat.data[0].zmid == 0
    hist = np.asarray(metrics["trace/hist"], dtype=float)
    z = np.asarray(heat.data[0].z, dtype=float)
    assert z.shape == (hist.shape[-1], len(metrics["trace/iter"]))  # y bins × iterations
    uniform_bins = np.isclose(hist[:, 0, :].T, 0.5)
    assert np.allclose(z[uniform_bins], 0.0)  # the uniform density is the middle (white) of the colour scale
    first, last = charts_neuron.neuron_histogram_figure(metrics, 0), charts_neuron.neuron_histogram_figure(metrics)
    assert first.layout.yaxis.range == last.layout.yaxis.range  # fixed axes while the slider moves
    assert any(a.text.startswith("uniform") for a in last.layout.annotations)
    assert last.layout.yaxis.range[1] > 0.5  # the uniform line is inside the plot


def test_compare_any_number_of_runs_with_readable_labels(train_run) -> None:
    config = {**train_run.config.to_dict(), "dataset": "mnist", "depth": 7, "lr": 0.015, "epochs": 1}
    assert charts_lab.run_label(config) == "mnist · depth 7 · lr 0.015 · 1 ep"
    assert charts_lab.run_label(config, {"name": "mine"}).startswith("mine: mnist")
    runs = [(f"run {i}", train_run.metrics) for i in range(4)]
    assert "layer/grad_y_u" in charts_lab.comparable_metrics([m for _, m in runs])
    fig = charts_lab.compare_figure(runs, "layer/grad_y_u", layer=1, spread="interquartile", log_y=True)
    names = [t.name for t in fig.data if t.hoverinfo != "skip"]
    assert len(names) == 8 and "run 3 · ip median of 2" in names  # 4 runs × 2 rules
    symbols = {t.marker.symbol for t in fig.data if t.hoverinfo != "skip"}
    assert len(symbols) == 4 and fig.layout.yaxis.type == "log" and "layer 2" in fig.layout.title.text
    epochs, _ = charts.layer_series(train_run.metrics, "grad_y_u")
    np.testing.assert_allclose(np.asarray(fig.data[-1].x, dtype=float), epochs)  # the shared epoch axis


def test_stability_panel_without_failed_seeds_says_so() -> None:
    counts = {"seeds": 3, "diverged": 0, "collapsed": 0, "failed_seeds": 0}
    rows = [
        {"scale": s, "rule": r, **counts, "alpha_nonpositive": 4 if r == "infomax" else 0}
        for s in (1, 10)
        for r in ("ip", "infomax")
    ]
    fig = charts_gallery.stability_figure(rows)
    texts = [a.text for a in fig.layout.annotations]
    assert "no seed diverged or<br>collapsed at any η" in texts and "no α ≤ 0 event" not in texts
    assert list(fig.layout.yaxis.range) == [0, 3]


def test_stability_card_counts_collapsed_seeds_as_its_verdict_does() -> None:
    """fw-stability: WD collapses at η ×10 without a NaN; the card's bars show those seeds as failed, from the
    same rows the verdict is computed from."""
    from ipcore.gallery import entries as gallery
    from ipcore.gallery.assessment import stability_rows

    entry = gallery.get_entry("fw-stability")
    by_part = {r.meta["part"]: r for r in gallery.entry_records(str(ROOT / "cached_runs"), entry)}
    rows = stability_rows(by_part)
    wd10 = next(r for r in rows if r["rule"] == "wd" and r["scale"] == 10)
    assert wd10["diverged"] == 0 and wd10["collapsed"] == wd10["failed_seeds"] == wd10["seeds"] and wd10["broken"]
    fig = charts_gallery.stability_figure(rows)
    bars = next(t for t in fig.data if t.name == "wd")
    assert list(bars.y) == [r["failed_seeds"] for r in rows if r["rule"] == "wd"] and bars.y[1] == wd10["seeds"]


def test_home_illustration_axis_titles_do_not_overlap() -> None:
    fig = charts_home.ip_illustration_figure()
    left_panel_end, right_panel_start = fig.layout.xaxis.domain[1], fig.layout.xaxis2.domain[0]
    assert right_panel_start - left_panel_end >= 0.2  # the left panel's right-hand axis title fits in between


def test_too_short_notice_from_eta_times_steps() -> None:
    thesis = TrainConfig(dataset="mnist", rules=["ip", "wd", "none"], epochs=1)
    notes = lab_guide.too_short(thesis)
    assert len(notes) == 1 and notes[0].startswith("ip (η = 0.0001)") and "≈ 0.03 in 300 steps" in notes[0]
    assert lab_guide.too_short(thesis.replace(eta={"ip": 0.01})) == []
    assert "only begun" in lab_guide.too_short(thesis.replace(eta={"ip": 0.001}))[0]
    assert "of the way to its target" in lab_guide.too_short(thesis.replace(rules=["wd"], eta={"wd": 0.001}))[0]
    assert lab_guide.too_short(thesis.replace(dataset="imagefolder:/x")) == []  # size unknown: no guess
    neuron = NeuronConfig(rules=["ip", "wd"], iters=50)  # the single neuron: one step per iteration
    assert [n.split(" ")[0] for n in lab_guide.too_short(neuron)] == ["ip"] and "50 iterations" in lab_guide.too_short(
        neuron
    )[0]
    assert lab_guide.too_short(NeuronConfig()) == []  # the defaults (η 1e-3 × 10 000) act


def test_every_demo_is_long_enough_for_its_rules() -> None:
    for demo in lab_guide.DEMOS:
        for dataset in lab_guide.DEMO_DATASETS:  # a small synthetic set gets more epochs: the same 300+ steps
            config = TrainConfig(dataset=dataset, rules=list(demo.rules), eta=dict(demo.eta), lr=demo.lr,
                                 epochs=lab_guide.demo_epochs(demo, dataset), seeds=demo.seeds)  # fmt: skip
            assert lab_guide.too_short(config) == [], (demo.key, dataset)
            assert lab_guide.demo_matches(demo, config)


def test_markdown_in_user_text_is_shown_as_text() -> None:
    for text in ("**bold** [link](http://x) :red[x] $x$", "lr: must be > 0 (got -1)", "- item", "3. x"):
        assert unescape(plain(text)) == text  # escaped, nothing lost (tests/test_serving.py checks each construct)
    assert plain("- item") == r"\- item" and plain("3. x") == r"3\. x"
    assert code("a`b") == "``a`b``" and code("plain") == "`plain`"


@pytest.mark.skipif(export.chromium_path() is None, reason="no chromium for kaleido")
def test_export_svg_png_named_after_the_chart(train_run) -> None:
    fig = charts_training.loss_figure([("", train_run.metrics)])
    svg = export.image(fig, "svg")
    assert svg.lstrip().startswith(b"<svg") and b"Training loss" in svg
    png = export.image(fig, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width == export.WIDTH * export.PNG_SCALE  # publication size: 2400 px wide
    assert (
        export.file_name("fig3.5-loss", "svg") == "fig3.5-loss.svg" and export.file_name("a/b c", "png") == "a-b-c.png"
    )


# --- pages: offline defaults, demos, gallery lists and comparison, neuron-lab prompts ------------------


def test_offline_lab_opens_on_a_present_dataset_and_refuses_a_missing_one(runs_dir, tmp_path, monkeypatch) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("IPCORE_DATA", str(empty))
    import streamlit

    streamlit.cache_data.clear()  # the dataset listing is cached per process; this test changes the data folder
    at = open_app("network_lab")
    no_problems(at)
    here = {d["name"].split(":")[0]: d for d in available_datasets()}
    assert not here["mnist"]["available"]
    chosen = at.selectbox(key="net.dataset").value
    assert chosen != "mnist" and here[chosen]["available"] and not button(at, "Train").disabled
    at.selectbox(key="net.dataset").set_value("mnist").run()
    assert button(at, "Train").disabled
    warning = " ".join(w.value for w in at.warning)
    assert "not on this machine" in warning and "IPCORE_DATA" in warning and "MNIST/raw" in warning
    assert "--data-root" not in warning  # written for the app, not the command line
    assert not list_runs(runs_dir)  # nothing was started, so no failed run lands in "my runs"
    home = " ".join(m.value for m in open_app("home").markdown)
    assert "mnist**] not on this machine" in home and "IPCORE_DATA" in home and "--data-root" not in home


def test_gallery_hides_failed_runs_unless_asked(runs_dir: Path, neuron_run) -> None:
    save_run(runs_dir, neuron_run, name="good run")
    save_run(runs_dir, neuron_run, name="broken run", state="failed", error="dataset missing")
    at = open_app("gallery", {"view": "runs"})
    no_problems(at)
    listed = " ".join(str(v) for v in at.dataframe[0].value["name"])
    assert "good run" in listed and "broken run" not in listed
    at.toggle(key="gallery.failed").set_value(True).run()
    assert "broken run" in " ".join(str(v) for v in at.dataframe[0].value["name"])


def test_run_names_are_shown_as_text(runs_dir: Path, neuron_run) -> None:
    run_id = save_run(runs_dir, neuron_run, name="**bold** :red[x]")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    no_problems(at)
    assert any(r"\*\*bold\*\* \:red\[x\]" in c.value for c in at.caption)


def test_neuron_lab_prompts_for_a_scipy_name_and_previews_the_runs_sample(runs_dir: Path) -> None:
    at = open_app("neuron_lab", {"dist": "gaussian", "mu": "5", "sigma": "2", "n": "20000"})
    from ipcore.training.neuron import draw_sample

    median = np.median(draw_sample(NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, n=20000)))
    assert f"median ≈ {median:.3g}" in at.get("plotly_chart")[0].proto.spec  # the run's own sample
    at.selectbox(key="neuron.dist").set_value("other (scipy.stats)").run()
    assert not at.error and not at.exception  # nothing typed yet: a prompt, not an error
    assert any("scipy.stats" in i.value for i in at.info) and button(at, "Run").disabled


def test_lab_controls_log_alpha_and_spread(runs_dir: Path, train_run) -> None:
    run_id = save_run(runs_dir, train_run, name="controls")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    no_problems(at)
    at.toggle(key="viewer.logalpha").set_value(True).run()
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "α and β over training" in c.proto.spec)
    assert '"type":"log"' in spec.replace(" ", "")
    next(b for b in at.get("button_group") if b.key == "viewer.spread").set_value("every seed").run()
    no_problems(at)
    loss = next(c.proto.spec for c in at.get("plotly_chart") if "Training loss" in c.proto.spec)
    assert "thin lines = each seed" in loss and "ip seed 1" in loss


@pytest.mark.skipif(export.chromium_path() is None, reason="no chromium to print the card")
def test_a_gallery_card_exports_as_one_pdf(train_run) -> None:
    figures = [
        charts_training.loss_figure([("", train_run.metrics)]),
        charts_training.grad_heatmap_figure(train_run.metrics),
    ]
    page = export.card_html("fig3.5 <card>", ["The thesis: **not bold** & <b>x</b>"], figures)
    assert "&lt;card&gt;" in page and "**not bold** &amp; &lt;b&gt;" in page  # the card's text is shown as text
    assert page.count("<svg") >= 2  # every chart of the card
    pdf = export.card_pdf("fig3.5", ["The thesis: a claim"], figures)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000


def test_chart_files_are_named_after_the_chart_and_the_run(monkeypatch, train_run) -> None:
    from app import views

    names: list[str] = []
    monkeypatch.setattr(views.st, "plotly_chart", lambda *a, **k: None)
    monkeypatch.setattr(views.st, "download_button", lambda *a, **k: names.append(k["file_name"]))
    fig = charts_training.loss_figure([("", train_run.metrics)])
    views.chart(fig, "card.fig3.5.0", "fig3.5-loss")
    with views.files_named_after("gallery-fig4.4-mnist"):
        views.chart(fig, "viewer.loss", "loss")
    assert names == ["fig3.5-loss.csv", "fig3.5-loss.svg", "fig3.5-loss.png", "gallery-fig4.4-mnist-loss.csv",
                     "gallery-fig4.4-mnist-loss.svg", "gallery-fig4.4-mnist-loss.png"]  # fmt: skip


# --- beyond the thesis: optimizer, units, depth profiles, the logistic neuron's target ---------------------------


def test_new_widgets_exist_and_reach_the_config(runs_dir: Path) -> None:
    at = open_app("network_lab", {"optimizer": "momentum", "activation": "logistic", "rules": "triesch_logistic,none",
                                  "depth": "30", "momentum": "0.8"})  # fmt: skip
    no_problems(at)
    assert at.radio(key="net.optimizer").value == "momentum" and at.radio(key="net.activation").value == "logistic"
    assert at.slider(key="net.depth").value == 30 and at.number_input(key="net.momentum").value == 0.8
    at.radio(key="net.activation").set_value("tanh").run()  # triesch_logistic is refused for tanh units
    assert any("meant for logistic units, not tanh" in unescape(e.value) for e in at.error)
    assert button(at, "Train").disabled
    at = open_app("neuron_lab", {"activation": "logistic", "rules": "triesch_logistic,ip_logistic"})
    no_problems(at)
    assert at.radio(key="neuron.activation").value == "logistic"
    assert at.number_input(key="neuron.logistic_mean").value == 0.2
    at = open_app("lr_sweep", {"optimizer": "sgd", "activation": "relu", "rules": "batchnorm,none"})
    no_problems(at)
    assert at.radio(key="sweep.optimizer").value == "sgd" and at.radio(key="sweep.activation").value == "relu"


def test_depth_profile_and_output_target_charts(train_run) -> None:
    from app import charts_beyond

    for column in charts_beyond.PROFILE_METRICS:
        figure = charts_beyond.layer_profile_figure([("", train_run.metrics)], column, "second half")
        lines = [t for t in figure.data if t.mode == "lines+markers"]
        assert {t.name for t in lines} == {"ip", "none"}
        assert all(len(t.x) == TINY_TRAIN["depth"] for t in lines)
    run = simulate(NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, n=1000, iters=200, record_every=50,
                                rules=["triesch_logistic", "ip_logistic"], activation="logistic"))  # fmt: skip
    figure = charts_beyond.output_vs_target_figure(run.metrics, -1, "logistic", 0.2)
    names = [t.name for t in figure.data]
    assert names[:2] == ["triesch_logistic", "ip_logistic"] and any("exponential, mean μ = 0.2" in n for n in names)
    assert min(min(t.x) for t in figure.data) >= 0.0  # a logistic output lives on (0, 1)


def test_gallery_chapter_beyond_the_thesis_shows_its_cards(runs_dir, monkeypatch) -> None:
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    if not any((ROOT / "cached_runs").glob("gallery-bt-depth-*")):
        pytest.skip("no committed chapter-7 records")
    at = open_app("gallery", {"view": "figures", "chapter": "7"})
    no_problems(at)
    table = at.dataframe[0].value.set_index("figure")
    for entry_id in ("bt-sgd", "bt-depth", "bt-logistic", "bt-relu", "bt-entropy"):
        assert table.loc[entry_id, "verdict"] != "missing", entry_id
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "RMS of ∂loss/∂W (log scale) across depth (second half)" in titles  # the depth entry's profile
    assert "per-unit output entropy (nats) across depth (second half)" in titles  # the entropy entry's
    assert any("Our hypothesis" in m.value for m in at.markdown)


def test_a_queued_job_says_what_it_waits_for() -> None:
    """Queued behind a running job with nobody queued before it, the bar named "0 job(s) ahead" — as if
    nothing were in the way. It names the running jobs whose slots it waits for, and the queued ones before it."""
    from app.views import queued_text

    assert queued_text(0, 1) == "queued — 1 job running; it starts when a job slot is free"
    assert queued_text(2, 1) == "queued — 2 queued jobs ahead of it, 1 job running; it starts when a job slot is free"
    assert queued_text(1, 3).startswith("queued — 1 queued job ahead of it, 3 jobs running")
    assert queued_text(None, None) == "queued; it starts when a job slot is free"
