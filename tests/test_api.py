"""The public Python API (``ipcore.api``, exported at the package root): runs from keyword arguments validated as
the CLI's flags, records loaded by id or folder, tidy tables (``ipcore.results.tables``) and the lab's own figures."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import ipcore  # noqa: I001
from ipcore.charts import training as charts_training
from ipcore.config import ConfigError, TrainConfig
from ipcore.results.records import load_run

from conftest import CACHED, ROOT


def small(**changes) -> dict:
    base = dict(dataset="clusters", depth=2, width=8, epochs=2, seeds=3, batch_size=50, subset=400, device="cpu")
    return {**base, **changes}


@pytest.fixture(scope="module")
def comparison():
    return ipcore.run_networks(**small(rules=["ip", "none"]), progress=False)


def python(code: str, cwd) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=cwd,
                          timeout=300)  # fmt: skip


def test_importing_ipcore_and_its_charts_loads_neither_torch_nor_streamlit(tmp_path):
    done = python(
        "import sys, ipcore, ipcore.charts.training, ipcore.charts.neuron, ipcore.charts.lab, ipcore.charts.layers, "
        "ipcore.charts.sweep, ipcore.charts.gallery, ipcore.charts.beyond\n"
        "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))\n"
        "print(callable(ipcore.run_networks), 'torch' in sys.modules)",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True False"]  # even the API loads torch only once it runs


def test_from_any_folder_a_3_seed_comparison_gives_its_loss_table_and_figure(tmp_path):
    done = python(
        "import ipcore\n"
        "run = ipcore.run_networks(dataset='clusters', rules=['ip', 'none'], seeds=3, depth=2, width=8, subset=400, "
        "batch_size=50, progress=False)\n"
        "loss = run.table('loss')\n"
        "print(sorted(loss.columns), loss.seed.nunique(), type(run.figure('loss')).__name__)",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['epoch', 'rule', 'seed', 'step', 'value'] 3 Figure"


def test_the_loss_table_is_long_form_and_matches_the_record(comparison):
    loss = comparison.table("loss")
    assert list(loss.columns) == ["step", "epoch", "rule", "seed", "value"]
    raw = comparison.metrics["batch/loss"]
    assert len(loss) == raw.size
    mean_by_rule = loss.groupby("rule").value.mean()
    rules = comparison.metrics["members_rule"]
    np.testing.assert_allclose(mean_by_rule["ip"], raw[:, rules == "ip"].mean(), rtol=1e-6)
    assert comparison.table("batch/loss").equals(loss)  # the record's own name works too


def test_layer_metrics_have_a_1_based_layer_column(comparison):
    slope = comparison.table("grad_y_u")
    assert list(slope.columns) == ["step", "rule", "seed", "layer", "value"]
    assert sorted(slope.layer.unique()) == [1, 2]
    hist = comparison.table("hist")
    assert list(hist.columns) == ["step", "rule", "seed", "layer", "bin", "value"]
    accuracy = comparison.table("test_acc")
    assert list(accuracy.columns) == ["epoch", "rule", "seed", "value"] and len(accuracy) == 2 * 6


def test_an_unknown_metric_lists_the_recorded_ones(comparison):
    with pytest.raises(KeyError, match="no metric 'nope' in this record; recorded over time: .*batch/loss"):
        comparison.table("nope")


def test_per_seed_numbers_and_the_paired_test(comparison):
    seeds = comparison.seeds()
    assert list(seeds[["rule", "seed"]].itertuples(index=False, name=None)) == [
        ("ip", 0), ("ip", 1), ("ip", 2), ("none", 0), ("none", 1), ("none", 2)
    ]  # fmt: skip
    np.testing.assert_allclose(seeds.final_loss, comparison.metrics["epoch/train_loss"][-1], rtol=1e-6)
    test = comparison.paired("ip", "none", "final_loss")
    healthy = seeds[seeds.healthy]
    both = sorted(set(healthy[healthy.rule == "ip"].seed) & set(healthy[healthy.rule == "none"].seed))
    assert test["seeds"] == both
    differences = [
        seeds.set_index(["rule", "seed"]).final_loss[("ip", s)]
        - seeds.set_index(["rule", "seed"]).final_loss[("none", s)]
        for s in both
    ]
    assert test["mean"] == pytest.approx(np.mean(differences), rel=1e-6)
    with pytest.raises(KeyError, match="rule 'wd' is not in this run"):
        comparison.paired("wd", "none")


def test_the_figure_is_the_lab_s_own_chart(comparison):
    figure = comparison.figure("loss")
    lab = charts_training.loss_figure([("", comparison.metrics)], 0.6, False, spread="min–max")
    assert isinstance(figure, go.Figure) and figure.to_dict() == lab.to_dict()
    for name in comparison.figures():
        assert isinstance(comparison.figure(name), go.Figure), name
    with pytest.raises(KeyError, match="no figure 'nope' for a train run; choose from: loss, accuracy"):
        comparison.figure("nope")


def test_keyword_arguments_are_validated_as_the_cli_s_flags():
    with pytest.raises(ConfigError, match=r"sigma: must be > 0 .*\(got 0\)"):
        ipcore.run_neuron(sigma=0, progress=False)
    with pytest.raises(ConfigError, match="sigmaa: unknown key"):
        ipcore.run_neuron(sigmaa=1, progress=False)
    with pytest.raises(ConfigError, match=r"depth: must be"):
        ipcore.run_networks(**small(depth=0), progress=False)
    with pytest.raises(ConfigError, match="config: must be a TrainConfig"):
        ipcore.run_networks(ipcore.NeuronConfig(), progress=False)


def test_a_config_object_with_overrides_and_a_progress_callback():
    seen: list[float] = []
    run = ipcore.run_networks(TrainConfig.from_dict(small(seeds=1)), rules=["wd"], progress=seen.append)
    assert run.rules == ["wd"] and run.config.rules == ["wd"]
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)


def test_saved_runs_load_by_id_and_by_folder(tmp_path):
    run = ipcore.run_neuron(iters=300, n=500, rules=["ip", "wd"], save=True, name="api test",
                            runs_dir=tmp_path, progress=False)  # fmt: skip
    assert run.run_id and (tmp_path / run.run_id).is_dir()
    by_id = ipcore.load(run.run_id, runs_dir=tmp_path)
    by_folder = ipcore.load(tmp_path / run.run_id)
    for loaded in (by_id, by_folder):
        assert loaded.run_id == run.run_id and loaded.config == run.config
        pd.testing.assert_frame_equal(loaded.table("entropy"), run.table("entropy"), check_dtype=False)
    listing = ipcore.runs(tmp_path)
    assert list(listing.run_id) == [run.run_id] and listing.name[0] == "api test"


def test_a_gallery_record_gives_tables_figures_and_the_card_s_verdict():
    entry = ipcore.gallery_entries(CACHED, ids=["fig4.4"])
    assert entry.loc[0, "verdict"] == "reproduced" and entry.loc[0, "parts_done"] == 1
    run = ipcore.gallery_runs("fig4.4", CACHED)["mnist"]
    slope = run.table("grad_y_u")
    assert set(slope.rule) == {"wd", "ip", "none"} and slope.seed.nunique() == 10
    third = run.seeds(layer=2).groupby("rule").slope.mean()
    assert third["wd"] > third["ip"] > third["none"]
    assert run.paired("wd", "ip", "slope", layer=2)["low"] > 0
    neuron = ipcore.load("gallery-fig5.2-s0", CACHED)
    assert neuron.kind == "neuron"
    final = neuron.seeds().set_index("rule")
    assert abs(final.centre["ip"] - final.sample_median["ip"]) < 0.1
    for name in neuron.figures():
        assert isinstance(neuron.figure(name), go.Figure), name
    record = load_run(CACHED, "gallery-fig5.2-s0")
    assert neuron.table("trace/alpha").value.iloc[-1] == pytest.approx(float(record.metrics["trace/alpha"][-1, -1]))


def test_a_sweep_keeps_its_records_only_when_asked(tmp_path):
    grid = dict(dataset="clusters", rules=["ip", "none"], lr=[0.01, 0.03], depth=2, width=8, seeds=2, epochs=1)
    sweep = ipcore.run_sweep(**grid, progress=False)
    assert [p["lr"] for p in sweep.points] == [0.01, 0.03] and all(r.run_id is None for r in sweep.runs)
    table = sweep.table("loss")
    assert set(table.lr) == {0.01, 0.03} and {"rule", "seed", "step", "value"} <= set(table.columns)
    assert isinstance(sweep.figure(), go.Figure)
    kept = ipcore.run_sweep(**grid, runs_dir=tmp_path, name="api-sweep", progress=False)
    assert sorted(ipcore.runs(tmp_path).run_id) == sorted(r.run_id for r in kept.runs)
    np.testing.assert_allclose(kept.seeds().final_loss, sweep.seeds().final_loss, rtol=1e-6)
