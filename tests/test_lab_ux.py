"""A new user's first hour (issue 25, items 5-8): health said as "collapsed" on every surface, labels that say
what a record is, the CLI's paged run list, the demos' stated times, and the labs' shared skeleton."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest

from conftest import DATA, ROOT, needs_mnist

sys.path.insert(0, str(ROOT))

from app import lab, lab_guide  # noqa: E402
from ipcore.cli import main  # noqa: E402
from ipcore.results.health import no_healthy_text, rule_health  # noqa: E402
from ipcore.results.reader import RunReader  # noqa: E402
from ipcore.results.records import load_run  # noqa: E402
from ipcore.training.loop import train  # noqa: E402

GALLERY = ROOT / "cached_runs"


def collapsed_metrics() -> dict[str, np.ndarray]:
    """Two rules × 2 seeds on 10 classes over 2 epochs: none's seed 1 sits at chance at the end."""
    chance_acc, chance_loss = 0.1, float(np.log(10))
    return {
        "members_rule": np.array(["ip", "ip", "none", "none"]),
        "members_seed": np.array([0, 1, 0, 1]),
        "diverged_step": np.array([-1, 7, -1, -1]),
        "num_classes": np.array(10),
        "epoch/train_acc": np.array([[0.5, 0.1, 0.4, 0.1], [0.8, np.nan, 0.6, chance_acc]]),
        "epoch/train_loss": np.array([[1.0, 2.3, 1.2, 2.3], [0.5, np.nan, 0.9, chance_loss]]),
    }


def test_rule_health_says_which_seed_collapsed_and_which_diverged():
    health = rule_health(collapsed_metrics())
    assert health["none"] == {"seeds": 2, "healthy": 1, "diverged": 0, "collapsed": 1, "diverged_seeds": [],
                              "collapsed_seeds": [1]}  # fmt: skip
    assert health["ip"]["diverged_seeds"] == [1] and health["ip"]["collapsed"] == 0


def test_no_healthy_text_names_the_reason_never_a_dash():
    assert no_healthy_text(0, 2, 2) == "all 2 collapsed"
    assert no_healthy_text(2, 0, 2) == "all 2 diverged"
    assert no_healthy_text(1, 1, 2) == "1 collapsed, 1 diverged"


def test_runs_show_reports_the_collapsed_cifar10_seed(capsys):
    """fig3.8's CIFAR-10 record predates "collapsed" in summaries; seed 5 sits at chance for ip, bn_inc, none."""
    assert main(["runs", "show", "gallery-fig3.8-cifar10", "--runs-dir", str(GALLERY)]) == 0
    out = capsys.readouterr().out
    assert "ip: 9 of 10 seeds healthy; 1 collapsed (seed 5)" in out
    assert "infomax: 10 of 10 seeds healthy; 0 collapsed" in out
    assert main(["runs", "show", "gallery-fig3.8-cifar10", "--runs-dir", str(GALLERY), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["health"]["none"]["collapsed_seeds"] == [5]
    record = load_run(GALLERY, "gallery-fig3.8-cifar10")
    assert shown["health"] == rule_health(record.metrics, "cifar10")  # the one definition


def test_runs_list_is_paged(capsys):
    total = len([p for p in GALLERY.iterdir() if p.is_dir()])
    assert total > 20
    assert main(["runs", "list", "--runs-dir", str(GALLERY)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1 + 20  # the header and one page
    assert f"runs 1-20 of {total}" in captured.err and "--page 2" in captured.err
    assert main(["runs", "list", "--runs-dir", str(GALLERY), "--page", "2", "--limit", "5"]) == 0
    assert f"runs 6-10 of {total}" in capsys.readouterr().err
    assert main(["runs", "list", "--runs-dir", str(GALLERY), "--page", "99"]) == 2
    assert "past the last page" in capsys.readouterr().err
    assert main(["runs", "list", "--runs-dir", str(GALLERY), "--limit", "0"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + total


def test_runs_list_headline_counts_collapsed_seeds(capsys):
    assert main(["runs", "list", "--runs-dir", str(GALLERY), "--limit", "0"]) == 0
    found = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("gallery-fig3.8-cifar10 "))
    assert "ip 45.0% (1 collapsed)" in found and "infomax 50.1%," in found


def test_sweep_heatmap_cell_without_a_healthy_seed_says_collapsed():
    from ipcore.charts.sweep import grid_heatmaps

    entries = [
        {"lr": 0.01, "eta": {}, "run_id": "a", "rules": [
            {"rule": "ip", "final_train_loss": 0.5, "diverged": 0, "collapsed": 0},
            {"rule": "none", "final_train_loss": None, "diverged": 0, "collapsed": 2}]},
    ]  # fmt: skip
    figure = grid_heatmaps(entries, ["ip", "none"], [], "final_train_loss", seeds=2)
    assert figure.data[0].text[0][0] == "0.5"
    assert figure.data[1].text[0][0] == "all 2 collapsed"


def test_cli_sweep_table_has_a_collapsed_column(tmp_path, capsys):
    code = main(["sweep", "--dataset", "spirals", "--rules", "none", "--lr", "10", "--depth", "2", "--width", "4",
                 "--epochs", "1", "--seeds", "2", "--subset", "200", "--runs-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("lr"))
    assert "collapsed" in header
    row = next(line for line in out.splitlines() if " none " in line)
    assert "—" not in row.split("none", 1)[1].split()[0]  # no bare dash where the loss would be


# --- the demos: what they show and how long they take, measured --------------------------------------------


def demo_ids(demo: lab_guide.Demo) -> str:
    return demo.key


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("demo", lab_guide.DEMOS, ids=demo_ids)
def test_every_demo_shows_its_claim_on_mnist(demo: lab_guide.Demo):
    """Each demo's own config trained on the real MNIST: long enough for its rules to act (the guide's reach,
    and the steps it reasons with are the steps run), and what its "look for" line promises is what happens."""
    config = lab_guide.demo_config(demo, "mnist").replace(data_root=str(DATA), device="cpu")
    assert lab_guide.too_short(config) == [] and lab_guide.demo_matches(demo, config)
    result = train(config)
    assert result.summary["steps"] == lab_guide.train_steps("mnist", 0, config.batch_size, config.epochs)
    reader = RunReader(result.metrics, "mnist")

    def slope(rule: str) -> float:  # mean ∂y/∂u over the hidden layers
        return float(np.mean([reader.mean(rule, "slope", layer) for layer in range(config.depth)]))

    if demo.key == "wd-slopes":
        assert slope("wd") > slope("none") + 0.15
    elif demo.key == "ip-eta":
        assert slope("ip") > slope("none") + 0.1
        assert reader.mean("ip", "final_loss") < reader.mean("none", "final_loss")
    else:  # large-lr: wd trains, the plain net stalls
        assert reader.mean("wd", "final_loss") < reader.mean("none", "final_loss") - 0.3
        assert reader.mean("wd", "test_acc") > reader.mean("none", "test_acc") + 0.2


def test_stated_demo_times_are_measured_for_the_demos_as_they_are():
    """The lab's "about N s" comes from bench/bench_demos.py's measurement of that very config (app/demo_times.json):
    a demo whose setup changed without being measured again states no time, and this test fails."""
    measured = lab_guide.demo_times()
    assert measured.get("measured") and measured.get("cpus"), "run bench/bench_demos.py"
    for demo in lab_guide.DEMOS:
        entries = measured["demos"][demo.key]
        assert {"mnist", "clusters"} <= set(entries), demo.key  # the lab's first choice and its fallback
        for dataset, entry in entries.items():
            assert entry["config"] == lab_guide.demo_signature(lab_guide.demo_config(demo, dataset)), (
                demo.key,
                dataset,
            )
            assert lab_guide.demo_seconds(demo, dataset) == entry["seconds"] > 0
    changed = dataclasses.replace(lab_guide.DEMOS[0], lr=0.02)
    assert lab_guide.demo_seconds(changed, "clusters") is None  # a changed setup is not given an old time


def test_network_lab_states_the_measured_demo_time():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.run()
    at.switch_page("../pages/network_lab.py").run()
    assert not at.exception, [e.value for e in at.exception]
    dataset = lab_guide.demo_dataset(lab.datasets())
    text = " ".join(m.value for m in at.markdown)
    for demo in lab_guide.DEMOS:
        seconds = lab_guide.demo_seconds(demo, dataset)
        assert seconds is not None and f"about {seconds:.0f} s" in text
