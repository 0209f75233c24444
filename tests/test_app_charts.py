"""The app's chart builders on real runs (no Streamlit): figures, their axes, exports' data."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))


from app_helpers import TINY_TRAIN, button, no_problems, open_app, unescape  # noqa: E402

from app import export  # noqa: E402
from ipcore.charts import base as charts  # noqa: E402
from ipcore.charts import home as charts_home  # noqa: E402
from ipcore.charts import layers as charts_layers  # noqa: E402
from ipcore.charts import neuron as charts_neuron  # noqa: E402
from ipcore.charts import sweep as sweep_charts  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.config import NeuronConfig  # noqa: E402
from ipcore.results.statistics import ENTROPY_MAX  # noqa: E402
from ipcore.training.neuron import simulate  # noqa: E402

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
    from ipcore.charts import beyond as charts_beyond

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
