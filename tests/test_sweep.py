"""Sweeps on one machine: a grid of learning rates × η as one lockstep model, each point equal to training it
alone; per-member Adam; the sweep config; the CLI contract, resuming and stopping (tests/test_sweep_ray.py
covers the Ray backend)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ipcore import cli
from ipcore.config import ConfigError, SweepConfig, parse_value_lists
from ipcore.engine.model import LockstepMLP
from ipcore.engine.optim import MemberAdam
from ipcore.engine.rules import get_rule
from ipcore.results.records import list_runs, load_run
from ipcore.training.grid import split_point, train_points
from ipcore.training.loop import train
from ipcore.training.sweep import point_run_id, run_sweep

KEYS = ("batch/loss", "epoch/test_loss", "epoch/train_acc", "layer/alpha_mean", "layer/grad_y_u", "hist/hist")


def tiny(**changes) -> SweepConfig:
    base = dict(
        dataset="clusters", rules=["ip", "none"], depth=2, width=8, epochs=2, seeds=2, batch_size=50, subset=300
    )
    base.update(changes)
    return SweepConfig(device="cpu", **base)


# --- one model for the whole grid ---------------------------------------------------------------------


def assert_histograms_close(actual: np.ndarray, desired: np.ndarray, values: int) -> None:
    """Density histograms ``[..., bins]`` on [−1, 1], each of ``values`` values, from runs that agree to float
    rounding: the same, except that a value lying on a bin edge may fall into the neighbouring bin. So each
    histogram's cumulative mass may differ by at most one value's share, 1/values, and in very few bins."""
    bins = actual.shape[-1]
    width = 2.0 / bins
    cumulative_actual, cumulative_desired = np.cumsum(actual * width, -1), np.cumsum(desired * width, -1)
    moved = np.abs(cumulative_actual - cumulative_desired)
    assert moved.max() <= 1.0 / values + 1e-5, f"a histogram moved {moved.max() * values:.2f} values"
    assert (moved > 1e-5).mean() < 1e-3, f"{(moved > 1e-5).sum()} of {moved.size} cumulative bins differ"


def assert_points_equal_plain_runs(sweep: SweepConfig) -> None:
    points = sweep.points()
    together = train_points(sweep, points)
    for point, result in zip(points, together, strict=True):
        assert result.config == sweep.point_config(*point)
        alone = train(result.config)
        for key in KEYS:
            if key == "hist/hist":
                values = result.config.batch_size * result.config.width  # what one histogram counts
                assert_histograms_close(result.metrics[key], alone.metrics[key], values)
                continue
            np.testing.assert_allclose(result.metrics[key], alone.metrics[key], rtol=1e-4, atol=1e-5, err_msg=key)
        for key in ("rules", "etas", "members_rule", "members_seed", "diverged_step"):
            np.testing.assert_array_equal(result.metrics[key], alone.metrics[key], err_msg=key)
        for mine, theirs in zip(result.summary["rules"], alone.summary["rules"], strict=True):
            assert mine["rule"] == theirs["rule"] and mine["eta"] == theirs["eta"]
            assert mine["final_train_loss"] == pytest.approx(theirs["final_train_loss"], rel=1e-5)


def test_each_grid_point_equals_training_that_setting_alone():
    rules = ["ip", "wd", "none", "infomax", "bn_inc", "batchnorm"]
    sweep = tiny(rules=rules, lr=[0.003, 0.05], eta={"ip": [1e-4, 1e-2], "wd": [0.05, 0.5]}, depth=3, width=6, seed=5)
    assert len(sweep.points()) == 8
    assert_points_equal_plain_runs(sweep)


def test_grid_points_sharing_one_learning_rate_equal_plain_runs_for_every_rule():
    # One lr: torch's Adam, as in a plain run. (ip_hard is left out of both grids: its α is a fixed point through
    # the batch median, which jumps when two samples swap order, so last-ulp differences — MemberAdam's arithmetic
    # against torch's fused kernel, or a batched product of another size — can move it by more than rounding.)
    sweep = tiny(rules=["ip_cov", "bn_wd", "wd_cov"], lr=[0.02], eta={"ip_cov": [1e-4, 1e-2], "wd_cov": [0.05, 0.5]})
    assert_points_equal_plain_runs(sweep)


def test_points_differ_where_their_settings_do():
    sweep = tiny(rules=["ip"], lr=[0.003, 0.05], eta={"ip": [1e-4, 1e-2]})
    results = train_points(sweep, sweep.points())
    losses = [r.metrics["epoch/train_loss"][-1] for r in results]
    for i in range(len(losses)):
        for j in range(i + 1, len(losses)):
            assert not np.allclose(losses[i], losses[j]), (i, j)


def test_member_adam_with_one_rate_matches_torch_adam_and_scales_per_member():
    def model() -> LockstepMLP:
        return LockstepMLP(5, 3, 2, 4, [get_rule("none")] * 3, [0, 1], device="cpu")

    torch.manual_seed(0)
    inputs, labels = torch.randn(2, 16, 5), torch.randint(0, 3, (6, 16))

    def run(make_optimizer, steps=5):
        net = model()
        optimizer = make_optimizer(net)
        for _ in range(steps):
            logits, _, _ = net.forward(inputs, training=True)
            torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), reduction="sum").backward()
            optimizer.step()
            optimizer.zero_grad()
        return net.parameters()

    lrs = torch.tensor([0.01, 0.01, 0.02, 0.02, 0.0, 0.0])  # per member: groups of two seeds
    reference = run(lambda net: torch.optim.Adam(net.parameters(), lr=0.01))
    ours = run(lambda net: MemberAdam(net.parameters(), net.member_masks(torch.full((6,), 0.01))))
    for a, b in zip(reference, ours, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    def written_out(net: LockstepMLP) -> MemberAdam:  # the path for devices without torch's fused kernel
        optimizer = MemberAdam(net.parameters(), net.member_masks(torch.full((6,), 0.01)))
        optimizer._fused = False
        return optimizer

    for a, b in zip(reference, run(written_out), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    mixed = run(lambda net: MemberAdam(net.parameters(), net.member_masks(lrs)))
    start = model().parameters()
    out_moved = (mixed[-2] - start[-2]).abs().flatten(1).sum(1)  # output weights [M, H, C]
    assert (out_moved[:4] > 0).all() and (out_moved[4:] == 0).all()


def test_split_point_takes_each_points_members_and_groups():
    metrics = {
        "rules": np.array(["ip", "none", "ip", "none"]),
        "etas": np.array([1.0, 0.0, 2.0, 0.0]),
        "members_rule": np.array(["ip", "none", "ip", "none"]),  # one seed
        "diverged_step": np.array([-1, -1, 3, -1]),
        "epoch/train_loss": np.arange(8.0).reshape(2, 4),
        "epoch/epoch": np.array([1, 2]),
        "layers": np.array(2),
    }
    second = split_point(metrics, 1, 2, 2)
    assert list(second["etas"]) == [2.0, 0.0] and list(second["diverged_step"]) == [3, -1]
    assert second["epoch/train_loss"].tolist() == [[2.0, 3.0], [6.0, 7.0]]
    assert second["epoch/epoch"].tolist() == [1, 2] and int(second["layers"]) == 2


# --- the config -----------------------------------------------------------------------------------------


def test_sweep_config_grid_and_round_trips():
    sweep = tiny(lr=[0.01, 0.03], eta={"ip": [1e-4, 1e-3]}, rules=["ip", "wd", "none"])
    points = sweep.points()
    assert points == [
        (0.01, {"ip": 1e-4, "wd": 0.1}),
        (0.01, {"ip": 1e-3, "wd": 0.1}),
        (0.03, {"ip": 1e-4, "wd": 0.1}),
        (0.03, {"ip": 1e-3, "wd": 0.1}),
    ]
    assert SweepConfig.from_flat(sweep.to_flat()) == sweep
    assert SweepConfig.from_json(sweep.to_json()) == sweep
    assert sweep.to_flat()["eta.ip"] == "0.0001,0.001"
    assert parse_value_lists("ip=1e-4,1e-3,wd=0.1", "eta") == {"ip": [1e-4, 1e-3], "wd": [0.1]}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"lr": []}, "lr"),
        ({"lr": [0.01, -1.0]}, "lr"),
        ({"lr": [0.01, 0.01]}, "lr"),
        ({"eta": {"wd": [0.1]}}, "eta.wd"),
        ({"eta": {"ip": [0.0]}}, "eta.ip"),
        ({"eta": {"ip": []}}, "eta.ip"),
        ({"dataset": "imagefolder:/etc"}, "dataset"),
        ({"depth": 0}, "depth"),
        ({"seeds": 65}, "seeds"),
    ],
)
def test_invalid_sweeps_name_the_field(changes, field):
    with pytest.raises(ConfigError) as error:
        tiny(**changes)
    assert error.value.field == field


def test_unparsable_eta_lists_name_the_field():
    with pytest.raises(ConfigError) as error:
        parse_value_lists("1e-4,ip=2", "eta")
    assert error.value.field == "eta"
    with pytest.raises(ConfigError) as error:
        parse_value_lists("ip=1e-4,abc", "eta")
    assert error.value.field == "eta.ip"


# --- running, records, resuming -------------------------------------------------------------------------


def test_cli_sweep_prints_the_contract_writes_one_record_per_point_and_resumes(tmp_path, capsys):
    argv = "sweep --dataset clusters --rules ip,none --depth 2 --width 8 --epochs 1 --seeds 2 --subset 300"
    argv += f" --lr 0.003,0.01,0.03 --eta ip=1e-4,1e-3 --name grid --runs-dir {tmp_path} --json --device cpu"
    assert cli.main(argv.split()) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "local" and out["seconds"] > 0
    assert [(p["lr"], p["eta"]) for p in out["parts"]] == [
        (lr, {"ip": eta}) for lr in (0.003, 0.01, 0.03) for eta in (1e-4, 1e-3)
    ]
    for part in out["parts"]:
        assert [r["rule"] for r in part["rules"]] == ["ip", "none"]
        for rule in part["rules"]:
            assert set(rule) >= {"rule", "final_train_loss", "test_accuracy", "diverged", "collapsed"}
            assert rule["diverged"] == 0 and 0 <= rule["collapsed"] <= 2  # a tiny net may sit at chance: counted
        record = load_run(tmp_path, part["run_id"])
        assert record.config.lr == part["lr"] and record.config.eta == part["eta"]
        assert record.summary["rules"][0]["final_train_loss"] == part["rules"][0]["final_train_loss"]
    runs = list_runs(tmp_path)
    assert len(runs) == 6
    stamps = {p["run_id"]: os.stat(tmp_path / p["run_id"]).st_mtime_ns for p in out["parts"]}

    assert cli.main(argv.split()) == 0  # the same name again: every point is found, nothing recomputed
    again = json.loads(capsys.readouterr().out)
    assert [p["run_id"] for p in again["parts"]] == list(stamps)
    assert again["parts"][0]["rules"][0]["final_train_loss"] == out["parts"][0]["rules"][0]["final_train_loss"]
    assert {r: os.stat(tmp_path / r).st_mtime_ns for r in stamps} == stamps
    assert len(list_runs(tmp_path)) == 6


def test_a_stopped_sweep_keeps_finished_points_and_a_rerun_completes_it(tmp_path):
    sweep = tiny(lr=[0.003, 0.01, 0.03])
    seen: list[int] = []
    outcome = run_sweep(
        sweep,
        name="stopped",
        runs_dir=tmp_path,
        points_per_part=1,
        on_part=lambda index, entry: seen.append(index),
        should_stop=lambda: len(seen) >= 1,
    )
    assert outcome.interrupted and seen == [0]
    assert [p is not None for p in outcome.parts] == [True, False, False]
    finished = {r["run_id"] for r in list_runs(tmp_path) if r["state"] == "done"}
    assert finished == {point_run_id("stopped", sweep, sweep.points()[0])}

    resumed = run_sweep(sweep, name="stopped", runs_dir=tmp_path, on_part=lambda i, e: seen.append(i))
    assert not resumed.interrupted and all(p is not None for p in resumed.parts)
    assert sorted(seen) == [0, 0, 1, 2]  # the first found again, the other two computed (as one model)
    assert len(list_runs(tmp_path)) == 3 and all(r["state"] == "done" for r in list_runs(tmp_path))


def test_cli_sweep_rejects_bad_values(tmp_path, capsys):
    code = cli.main(["sweep", "--lr", "0.01,abc", "--runs-dir", str(tmp_path)])
    assert code == 2 and "lr" in capsys.readouterr().err
    code = cli.main(["sweep", "--eta", "ip=-1", "--runs-dir", str(tmp_path)])
    assert code == 2 and "eta.ip" in capsys.readouterr().err
