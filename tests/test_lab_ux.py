"""A new user's first hour (issue 25, items 5-8): health said as "collapsed" on every surface, labels that say
what a record is, the CLI's paged run list, the demos' stated times, and the labs' shared skeleton."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from ipcore.cli import main  # noqa: E402
from ipcore.health import no_healthy_text, rule_health  # noqa: E402
from ipcore.records import load_run  # noqa: E402

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
    from app.sweep_charts import grid_heatmaps

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


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
