"""The labs' plot controls, demos, run comparison and export (issue 12)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))


from app_helpers import unescape  # noqa: E402

from app import export, lab_guide  # noqa: E402
from app.text import code, plain  # noqa: E402
from ipcore.charts import base as charts  # noqa: E402
from ipcore.charts import gallery as charts_gallery  # noqa: E402
from ipcore.charts import home as charts_home  # noqa: E402
from ipcore.charts import lab as charts_lab  # noqa: E402
from ipcore.charts import layers as charts_layers  # noqa: E402
from ipcore.charts import neuron as charts_neuron  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.config import NeuronConfig, TrainConfig  # noqa: E402

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
        {"eta": s, "rule": r, **counts, "alpha_nonpositive": 4 if r == "infomax" else 0}
        for s in (1e-4, 1e-3)
        for r in ("ip", "infomax")
    ]
    fig = charts_gallery.stability_figure(rows)
    texts = [a.text for a in fig.layout.annotations]
    assert "no seed diverged or<br>collapsed at any η" in texts and "no α ≤ 0 event" not in texts
    assert list(fig.layout.yaxis.range) == [0, 3]


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
