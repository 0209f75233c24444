"""Collapsed seeds and dead output units: detected, recorded, reported, and one definition of a healthy seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ipcore.config import TrainConfig
from ipcore.results.health import collapsed_by_epoch, member_health, seeds_note
from ipcore.training.loop import train
from ipcore.training.measure import dead_output_units, evaluate

LN10 = math.log(10)


def epochs_metrics(acc: list[list[float]], loss: list[list[float]], diverged: list[int] | None = None) -> dict:
    members = len(acc[0])
    return {
        "members_rule": np.array(["ip"] * members),
        "diverged_step": np.array(diverged or [-1] * members),
        "epoch/epoch": np.arange(1, len(acc) + 1),
        "epoch/train_acc": np.array(acc),
        "epoch/train_loss": np.array(loss),
        "num_classes": np.array(10),
    }


def test_collapse_needs_both_chance_accuracy_and_chance_loss():
    acc = np.array([[0.10, 0.115, 0.13, 0.10, 0.50]])
    loss = np.array([[LN10, LN10 * 1.019, LN10, LN10 * 1.03, LN10]])
    # within 2 points and 2 %: yes; 2.5 % and 1.5 points: no (accuracy); 3 % above ln C: no; good accuracy: no
    assert collapsed_by_epoch(acc, loss, 10).tolist() == [[True, True, False, False, False]]


def test_collapse_epoch_recovery_and_healthy_members():
    chance, good = (0.1, LN10), (0.9, 0.3)
    rows = [  # members: collapsed throughout / collapses then recovers / healthy / diverged (NaN)
        [chance, chance, good, (math.nan, math.nan)],
        [chance, chance, good, (math.nan, math.nan)],
        [chance, good, good, (math.nan, math.nan)],
    ]
    metrics = epochs_metrics([[a for a, _ in r] for r in rows], [[v for _, v in r] for r in rows], [-1, -1, -1, 5])
    health = member_health(metrics)
    assert health.collapsed.tolist() == [True, False, False, False]
    assert health.collapse_epoch.tolist() == [1, 1, -1, -1]
    assert health.recovered_epoch.tolist() == [-1, 3, -1, -1]
    assert health.healthy.tolist() == [False, True, True, False]
    assert health.diverged.tolist() == [False, False, False, True]
    assert not health.dead_recorded  # an old record: dead output units unknown
    assert seeds_note(2, 4, 1, 1) == "2 of 4 seeds; 1 collapsed, 1 diverged"
    assert seeds_note(10, 10, 0, 0) == "10 of 10 seeds"


def test_old_records_take_the_class_count_from_the_dataset_name():
    metrics = epochs_metrics([[0.1]], [[LN10]])
    del metrics["num_classes"]
    assert member_health(metrics, "cifar10").collapsed.tolist() == [True]
    assert member_health(metrics, None).collapsed.tolist() == [False]  # unknown C: no collapse claimed


def test_a_run_at_chance_is_reported_collapsed_with_its_dead_output_units():
    """lr 3 on the clusters task kills every ReLU output unit: loss ln 10, accuracy 10 %, no NaN."""
    config = TrainConfig(dataset="clusters", rules=["ip", "none"], depth=2, width=10, epochs=3, seeds=2, lr=3.0,
                         device="cpu")  # fmt: skip
    result = train(config)
    assert (np.asarray(result.metrics["diverged_step"]) < 0).all()  # not divergence: a different failure
    assert int(result.metrics["num_classes"]) == 10
    assert result.metrics["dead_output_units"].tolist() == [10, 10, 10, 10]
    for entry in result.summary["rules"]:
        assert entry["collapsed"] == 2 and entry["collapsed_seeds"] == [0, 1]
        assert entry["healthy_seeds"] == 0 and entry["final_train_loss"] is None
        assert entry["dead_output_units"] == [10, 10]
        assert entry["seeds_note"] == "0 of 2 seeds; 2 collapsed"
        assert all(1 <= e <= 3 for e in entry["collapse_epochs"].values())
    from app.views import train_summary_rows

    for row in train_summary_rows(result.metrics):  # the labs' table, like the CLI: no mean without a healthy seed
        assert row["seeds"] == "0 of 2 seeds; 2 collapsed" and row["collapsed"] == 2
        assert row["latest loss"] is None and row["test accuracy %"] is None and row["mean ∂y/∂u"] is None
        assert row["dead output units"] == "10 of 10 (seed 0), 10 of 10 (seed 1)"  # labelled, one per seed


def test_the_dead_units_cell_names_each_seed_and_the_class_count():
    from app.views import dead_units_text

    assert dead_units_text(np.array([0, 3]), np.array([0, 1]), 10) == "0 of 10 (seed 0), 3 of 10 (seed 1)"
    assert dead_units_text(np.array([2]), np.array([7]), None) == "2 (seed 7)"  # class count unknown
    assert dead_units_text(np.array([0, -1]), np.array([0, 1]), 10) == "not recorded"
    assert dead_units_text(np.array([], dtype=int), np.array([], dtype=int), 10) == "not recorded"


def test_a_healthy_run_has_no_collapse_and_counts_dead_units_exactly():
    config = TrainConfig(dataset="clusters", rules=["ip", "none"], depth=2, width=10, epochs=2, seeds=2,
                         device="cpu")  # fmt: skip
    result = train(config)
    for entry in result.summary["rules"]:
        assert entry["collapsed"] == 0 and entry["healthy_seeds"] == 2 and entry["seeds_note"] == "2 of 2 seeds"
        assert entry["final_train_loss"] is not None


def test_dead_output_units_counts_units_zero_on_every_input():
    class Fixed:
        members, output, width, num_classes = 2, "relu", 4, 3

        def forward(self, x, training):
            # member 0: unit 2 is zero everywhere; member 1: units 0 and 1 are
            logits = torch.stack([torch.stack([x, x, 0 * x], -1), torch.stack([0 * x, 0 * x, x], -1)])
            return torch.relu(logits), None, None

    inputs = torch.tensor([0.0, 1.0, 2.0])
    assert dead_output_units(Fixed(), inputs).tolist() == [1, 2]
    alive = torch.zeros(2, 3, dtype=torch.bool)  # the last epoch's evaluation counts them in its own pass
    member_labels = torch.tensor([0, 1, 2])
    Fixed.num_rules, Fixed.num_seeds = 1, 2
    evaluate(Fixed(), inputs, member_labels, alive)
    assert (~alive).sum(1).tolist() == [1, 2]


def test_a_finished_run_counts_its_dead_units_in_its_last_evaluation(monkeypatch):
    import ipcore.training.loop as train_module

    calls = []
    monkeypatch.setattr(train_module, "dead_output_units", lambda *args: calls.append(args) or torch.zeros(4))
    result = train(TrainConfig(dataset="clusters", rules=["ip", "none"], seeds=2, epochs=2, subset=300, lr=0.5))
    assert calls == [] and result.metrics["dead_output_units"].shape == (4,)


def test_the_labs_summary_table_counts_collapsed_seeds_of_an_old_record():
    """fig3.8's CIFAR-10 record (made before collapse was recorded): seed 5 sits at chance from epoch 1 under
    ip, bn_inc and none; the table says so and averages over the 9 healthy seeds."""
    from pathlib import Path

    from app.views import train_summary_rows
    from ipcore.results.records import load_run

    record = load_run(Path(__file__).resolve().parents[1] / "cached_runs", "gallery-fig3.8-cifar10")
    rows = {row["rule"]: row for row in train_summary_rows(record.metrics, record.config.dataset)}
    for rule in ("ip", "bn_inc", "none"):
        assert rows[rule]["seeds"] == "9 of 10 seeds; 1 collapsed" and rows[rule]["collapsed"] == 1
    assert rows["infomax"]["seeds"] == "10 of 10 seeds"
    assert rows["ip"]["dead output units"] == "not recorded"
    health = member_health(record.metrics, record.config.dataset)
    seeds = np.asarray(record.metrics["members_seed"])
    assert set(seeds[health.collapsed].tolist()) == {5}
    assert (health.collapse_epoch[health.collapsed] == 1).all()
    acc = np.asarray(record.metrics["epoch/test_acc"], dtype=float)[-1]
    members = np.flatnonzero(np.asarray(record.metrics["members_rule"]) == "ip")
    expected = 100 * acc[members][health.healthy[members]].mean()
    assert rows["ip"]["test accuracy %"] == pytest.approx(expected, abs=0.01)  # rounded to 4 digits as a share


def test_every_reader_of_a_record_counts_the_same_seeds():
    """The CLI summary, the gallery's assessment, the lr-sweep chart and the labs' table all read per-rule numbers
    through ``ipcore.results.reader``: on fig3.8's CIFAR-10 record (seed 5 collapsed under ip) they agree."""
    from types import SimpleNamespace

    from app.views import train_summary_rows
    from ipcore.charts.sweep import sweep_points
    from ipcore.gallery.assessment import seed_values
    from ipcore.results.reader import RunReader, member_values
    from ipcore.results.records import load_run
    from ipcore.results.summary import summarize

    from conftest import CACHED

    record = load_run(CACHED, "gallery-fig3.8-cifar10")
    losses = seed_values(record, "ip", "final_loss")
    accuracies = seed_values(record, "ip", "test_acc")
    assert sorted(losses) == sorted(accuracies) == [s for s in range(10) if s != 5]
    summary = summarize(record.config, record.metrics, 0.0, "cpu", SimpleNamespace(description="cifar10"), 0, 0)
    ip = next(entry for entry in summary["rules"] if entry["rule"] == "ip")
    assert ip["final_train_loss"] == pytest.approx(np.mean(list(losses.values())), rel=1e-12)
    assert ip["test_accuracy"] == pytest.approx(np.mean(list(accuracies.values())), rel=1e-12)
    assert ip["healthy_seeds"] == 9 and ip["collapsed_seeds"] == [5]
    point = next(p for p in sweep_points([(record.config.lr, record.metrics)], "cifar10") if p["rule"] == "ip")
    assert point["loss_mean"] == pytest.approx(ip["final_train_loss"], rel=1e-12) and point["collapsed"] == 1
    row = next(r for r in train_summary_rows(record.metrics, "cifar10") if r["rule"] == "ip")
    assert row["test accuracy %"] == pytest.approx(100 * ip["test_accuracy"], abs=0.01)
    slope = RunReader(record.metrics, "cifar10").mean("ip", "slope", 2)
    assert ip["grad_y_u"][2] == pytest.approx(slope, rel=1e-12)
    with pytest.raises(ValueError, match="unknown metric 'loss'"):
        member_values(record.metrics, "loss")
