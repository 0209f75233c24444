"""The networks engine: lockstep training, what it records, divergence, validation and the train CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from ipcore import cli
from ipcore.config import ConfigError, TrainConfig, config_from_dict
from ipcore.data import epoch_permutations, load_dataset
from ipcore.engine.model import LockstepMLP, member_losses
from ipcore.engine.optim import freeze_members
from ipcore.engine.rules import IP, RULES, get_rule, make_rule
from ipcore.results.metrics_log import MetricsLog
from ipcore.specs.rules import RULE_SPECS, RuleSpec
from ipcore.training.loop import MemberGroup, train
from ipcore.training.measure import evaluate, histogram_rows
from ipcore.training.recorder import recording_intervals
from ipcore.training.resources import resolve_device
from ipcore.training.runner import run_config

from conftest import DATA, ROOT, needs_mnist


def small(**changes) -> TrainConfig:
    """A few steps on the synthetic clusters: enough to exercise every code path in well under a second."""
    base = dict(
        dataset="clusters", rules=["ip", "none"], depth=2, width=8, epochs=2, seeds=2, batch_size=50, subset=300
    )
    base.update(changes)
    return TrainConfig(device="cpu", **base)


# --- lockstep ------------------------------------------------------------------------------------------

LOCKSTEP_RULES = ["ip", "wd", "none", "infomax", "bn_inc", "bn_wd", "ip_cov", "wd_cov", "ip_hard", "batchnorm"]


def test_lockstep_equals_training_each_rule_and_seed_alone():
    config = small(rules=LOCKSTEP_RULES, seeds=2, seed=5, depth=3, width=6)
    together = train(config).metrics
    S = config.seeds
    for r, rule in enumerate(LOCKSTEP_RULES):
        for s in range(S):
            alone = train(small(rules=[rule], seeds=1, seed=5 + s, depth=3, width=6)).metrics
            m = r * S + s
            assert together["members_rule"][m] == rule and together["members_seed"][m] == 5 + s
            for key in ("batch/loss", "epoch/test_loss", "epoch/train_acc", "layer/alpha_mean", "layer/grad_y_u"):
                np.testing.assert_allclose(together[key][:, m], alone[key][:, 0], rtol=1e-4, atol=1e-5, err_msg=key)


def test_identical_initial_weights_across_rules_and_distinct_across_seeds():
    rules = [get_rule(name) for name in ("ip", "wd", "none")]
    model = LockstepMLP(12, 3, 3, 5, rules, seeds=[7, 8])
    alone = LockstepMLP(12, 3, 3, 5, [get_rule("batchnorm")], seeds=[8])
    for m in range(model.members):
        seed_index = m % 2
        reference = model.member_parameters(seed_index)
        for (w, b), (w0, b0) in zip(model.member_parameters(m), reference, strict=True):
            assert torch.equal(w, w0) and torch.equal(b, b0)
    for (w, b), (w0, b0) in zip(model.member_parameters(1), alone.member_parameters(0), strict=True):
        assert torch.equal(w, w0) and torch.equal(b, b0)
    assert not torch.equal(model.member_parameters(0)[0][0], model.member_parameters(1)[0][0])
    # nn.Linear's default range: |W|, |b| ≤ 1/√fan_in
    for w, b in model.member_parameters(0):
        assert w.abs().max() <= 1 / math.sqrt(w.shape[0]) and b.abs().max() <= 1 / math.sqrt(w.shape[0])


def test_the_model_applies_each_rule_exactly_as_the_rule_defines_it():
    rules = [get_rule(name) for name in ("ip", "infomax", "none", "batchnorm", "ip_hard")]
    model = LockstepMLP(10, 3, 2, 4, rules, seeds=[0, 1])
    for state in model.states:
        state["alpha"].data.uniform_(-2, 2)
        state["beta"].data.normal_()
    inputs = torch.rand(2, 16, 10)
    _, pre, post = model.forward(inputs, training=False)
    for g, rule in enumerate(rules):
        for layer in range(2):
            view = model._layer_view(g, layer)
            expected = torch.tanh(rule.transform(pre[layer][2 * g : 2 * g + 2], view, training=False))
            torch.testing.assert_close(post[layer][2 * g : 2 * g + 2], expected, rtol=1e-5, atol=1e-6)


# --- real data ------------------------------------------------------------------------------------------


@needs_mnist
def test_shallow_standard_net_learns_mnist_in_one_epoch():
    config = TrainConfig(dataset="mnist", data_root=str(DATA), rules=["none"], depth=1, width=50, device="cpu")
    result = train(config)
    accuracy = result.summary["rules"][0]["test_accuracy"]
    assert accuracy >= 0.90, accuracy
    assert result.metrics["epoch/test_acc"].shape == (1, 1)
    assert result.metrics["batch/loss"].shape == (300, 1)  # 60 000 / 200 steps, every step recorded


@needs_mnist
def test_deep_net_at_lr_one_finishes_and_reports():
    """lr 1.0 on the deep net: losses far above a working net's, but the run finishes and reports."""
    config = TrainConfig(
        dataset="mnist", data_root=str(DATA), rules=["ip", "none"], depth=7, width=50, lr=1.0, seeds=2,
        subset=4000, device="cpu",
    )  # fmt: skip
    result = train(config)
    assert result.state == "done"
    for entry in result.summary["rules"]:
        # tanh bounds every hidden output and Adam's steps are bounded by lr: large losses, never NaN
        assert entry["diverged"] == 0 and entry["diverged_steps"] == [] and entry["diverged_seeds"] == []
        assert entry["healthy_seeds"] + entry["collapsed"] == 2  # every seed is accounted for
        assert entry["healthy_seeds"] == 0 or entry["final_train_loss"] > 0.5  # far from a working net's loss
    assert np.isfinite(np.asarray(result.metrics["batch/loss"], dtype=float)).all()
    json.dumps(result.summary)


class ExplodingIP(IP):
    """IP whose first member's β turns NaN at its 3rd update: the batch loss of step 4 is NaN."""

    name = "exploding_ip"
    spec = RuleSpec(name, "IP whose β explodes", 1e-4, 1e-3)

    def step(self, state, x, y, eta):
        alpha, beta = super().step(state, x, y, eta)
        if state["t"] == 3:
            beta = beta.clone()
            beta[0] = float("nan")
        return alpha, beta


def test_a_diverging_seed_is_frozen_and_reported_while_the_others_go_on(monkeypatch):
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)
    config = small(rules=["exploding_ip", "ip"], seeds=3, epochs=2)
    result = train(config)
    metrics = result.metrics
    assert result.state == "done"
    np.testing.assert_array_equal(metrics["diverged_step"], [4, -1, -1, -1, -1, -1])
    loss = metrics["batch/loss"]
    assert np.isfinite(loss[:3, 0]).all() and np.isnan(loss[3:, 0]).all()
    # the other seeds of the exploding rule trained exactly like plain IP with the same seeds
    np.testing.assert_allclose(loss[:, 1:3], loss[:, 4:6], rtol=1e-5)
    # the frozen member's α no longer moves (it was finite; only β went NaN)
    steps = metrics["layer/step"]
    alpha = metrics["layer/alpha_mean"][:, 0]
    frozen = alpha[steps >= 4]
    assert np.isfinite(frozen).all() and (frozen == frozen[0]).all()
    assert not (alpha[steps < 4] == alpha[0]).all()  # it did move before
    first = result.summary["rules"][0]
    assert first["diverged"] == 1 and first["diverged_steps"] == [4] and first["diverged_seeds"] == [0]
    assert first["final_train_loss"] is not None  # the mean over the two seeds that survived
    np.testing.assert_allclose(first["final_train_loss"], metrics["epoch/train_loss"][-1, 1:3].mean(), rtol=1e-6)


def test_frozen_members_get_no_weight_update():
    model = LockstepMLP(6, 3, 2, 4, [get_rule("ip"), get_rule("batchnorm")], seeds=[0, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    inputs, labels = torch.rand(2, 8, 6), torch.randint(0, 3, (4, 8))
    frozen = torch.tensor([False, True, False, True])
    for step in range(3):
        before = [m_params for m_params in (model.member_parameters(m) for m in range(4))]
        logits, _, _ = model.forward(inputs, training=True)
        member_losses(logits, labels).sum().backward()
        if step > 0:
            freeze_members(model, optimizer, frozen)
        optimizer.step()
        optimizer.zero_grad()
        for m in range(4):
            changed = any(
                not torch.equal(a[0], b[0]) for a, b in zip(before[m], model.member_parameters(m), strict=True)
            )
            assert changed == (step == 0 or not frozen[m]), (step, m)
    gamma = model.states[1]["gamma"].detach().clone()
    logits, _, _ = model.forward(inputs, training=True)
    member_losses(logits, labels).sum().backward()
    freeze_members(model, optimizer, frozen)
    optimizer.step()
    assert torch.equal(model.states[1]["gamma"][1], gamma[1])  # batchnorm's γ of member 3 (group 1, seed 1)
    assert not torch.equal(model.states[1]["gamma"][0], gamma[0])


# --- what is recorded --------------------------------------------------------------------------------


def test_recorded_grad_y_u_is_the_mean_of_one_minus_y_squared():
    """Replays the first two steps by hand and recomputes mean(1 − y²) from the network's own outputs."""
    config = small(rules=["ip", "wd"], seeds=2, depth=3, width=5, epochs=1, lr=0.05)
    metrics = train(config).metrics
    assert metrics["layer/step"][0] == 0  # the untrained network is the first row

    data = load_dataset("clusters", subset=config.subset)
    rules = [get_rule(name) for name in config.rules]
    etas = [config.etas()[name] for name in config.rules]
    model = LockstepMLP(data.input_dim, data.num_classes, 3, 5, rules, [0, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # as train() uses
    order = epoch_permutations([0, 1], 1, len(data.train_y), torch.device("cpu"))
    for step in range(2):
        index = order[:, step * 50 : (step + 1) * 50]
        logits, pre, post = model.forward(data.train_x[index], training=True)
        expected = torch.stack([(1 - y.detach() ** 2).mean(dim=(1, 2)) for y in post], dim=1)  # [M, L]
        row = int(np.flatnonzero(metrics["layer/step"] == step)[0])
        np.testing.assert_allclose(metrics["layer/grad_y_u"][row], expected.numpy(), rtol=1e-5)
        alpha = torch.cat([s["alpha"] for s in model.states]).view(4, 3, 5)
        np.testing.assert_allclose(metrics["layer/alpha_mean"][row], alpha.mean(-1).numpy(), rtol=1e-5)
        member_losses(logits, data.train_y[index].repeat(2, 1)).sum().backward()
        model.update_rules(model.stack_layers(pre), model.stack_layers(post), etas, None)
        optimizer.step()
        optimizer.zero_grad()


def test_alpha_beta_do_not_change_in_evaluation():
    rules = [get_rule(name) for name in ("ip", "wd", "ip_hard", "batchnorm", "infomax")]
    model = LockstepMLP(6, 3, 2, 4, rules, seeds=[0, 1])
    inputs = torch.rand(2, 32, 6)
    for _ in range(3):  # move every state away from its initial value first
        _, pre, post = model.forward(inputs, training=True)
        model.update_rules(model.stack_layers(pre), model.stack_layers(post), [0.1] * 5, None)

    def snapshot():
        return [{k: v.detach().clone() for k, v in s.items() if isinstance(v, torch.Tensor)} for s in model.states]

    before = snapshot()
    evaluate(model, torch.rand(100, 6), torch.randint(0, 3, (100,)))
    model.forward(torch.rand(2, 32, 6), training=False)
    for old, new in zip(before, snapshot(), strict=True):
        for key in old:
            assert torch.equal(old[key], new[key]), key
    _, pre, post = model.forward(inputs, training=True)
    model.update_rules(model.stack_layers(pre), model.stack_layers(post), [0.1] * 5, None)
    assert not torch.equal(before[0]["alpha"], model.states[0]["alpha"])  # training does change them


def test_recorded_tables_have_the_contract_shapes():
    config = small(rules=["ip", "wd", "none"], seeds=2, depth=3, width=4, epochs=3)
    metrics = train(config).metrics
    M, L, T = 6, 3, 18  # 300 samples / 50 = 6 steps per epoch
    assert list(metrics["rules"]) == ["ip", "wd", "none"]
    assert list(metrics["members_rule"]) == ["ip"] * 2 + ["wd"] * 2 + ["none"] * 2
    assert list(metrics["members_seed"]) == [0, 1] * 3
    assert int(metrics["layers"]) == L
    assert metrics["batch/loss"].shape == (T, M) and list(metrics["batch/step"]) == list(range(1, T + 1))
    np.testing.assert_allclose(metrics["batch/epoch"], np.arange(1, T + 1) / 6)
    assert metrics["epoch/test_acc"].shape == (3, M) and list(metrics["epoch/epoch"]) == [1, 2, 3]
    for key in ("grad_y_u", "alpha_mean", "alpha_std", "beta_mean", "beta_std", "entropy", "alpha_nonpositive"):
        assert metrics[f"layer/{key}"].shape == (T, M, L), key
    hist = metrics["hist/hist"]
    assert hist.shape[1:] == (M, L, 50)
    np.testing.assert_allclose(hist.sum(-1) * (2 / 50), 1.0, rtol=1e-5)  # densities on [−1, 1]
    assert (metrics["layer/entropy"] <= math.log(2) + 1e-6).all()
    np.testing.assert_array_equal(metrics["layer/alpha_std"][:, 4:], 0)  # rule none keeps α = 1
    assert metrics["alpha_nonpositive_final"].shape == (M, L)


def test_recording_intervals_bound_memory_for_long_runs():
    from ipcore.training.recorder import MAX_HIST_ROWS, MAX_LAYER_ROWS, MAX_LOSS_ROWS

    assert MAX_LAYER_ROWS <= 400 and MAX_HIST_ROWS <= 40
    assert recording_intervals(small(), 150) == (1, 1, math.ceil(150 / MAX_HIST_ROWS))
    for steps in (300, 30_000, 300_000):  # up to 1000 MNIST epochs
        log_every, layer_every, hist_every = recording_intervals(small(), steps)
        assert steps / log_every <= MAX_LOSS_ROWS and steps / layer_every <= MAX_LAYER_ROWS
        assert steps / hist_every <= MAX_HIST_ROWS and layer_every >= log_every
    assert recording_intervals(small(log_every=7, hist_every=3), 100) == (7, 7, 3)
    assert recording_intervals(small(hist_every=1), 1_000_000)[2] == 1000  # never more than 1000 histograms


def test_histogram_rows_matches_the_shared_estimator():
    from ipcore.results.statistics import histogram_counts

    values = torch.rand(7, 500) * 2.4 - 1.2
    values[0, :5] = float("nan")
    values[1, :3] = 1.0
    values[2, :3] = -1.0
    expected = histogram_counts(values, 100)
    for method in ("auto", "bincount", "index_add"):
        torch.testing.assert_close(histogram_rows(values, 100, method=method), expected)
    grouped = values.view(7, 5, 100).transpose(0, 1)  # [5, 7, 100]: group j gathers row j of values
    group = torch.arange(7, dtype=torch.int32).view(1, 7, 1)
    torch.testing.assert_close(histogram_rows(grouped, 100, group, 7), expected)


def test_long_run_records_are_subsampled():
    config = small(rules=["ip"], seeds=1, epochs=250, batch_size=10, subset=40, depth=1, width=3)  # 1000 steps
    metrics = train(config).metrics
    assert len(metrics["batch/step"]) == 1000
    assert len(metrics["layer/step"]) <= 401 and metrics["layer/step"][-1] == 999
    assert len(metrics["hist/step"]) <= 41 and metrics["hist/step"][0] == 0


# --- control --------------------------------------------------------------------------------------------


def test_should_stop_cancels_and_keeps_what_was_recorded():
    calls = []
    log = MetricsLog()
    result = train(small(epochs=5), should_stop=lambda: calls.append(1) or len(calls) >= 4, log=log)
    assert result.state == "cancelled" and result.summary["state"] == "cancelled"
    assert result.summary["steps"] == 4
    assert len(result.metrics["batch/step"]) == 4 and "epoch/epoch" not in result.metrics
    assert log.rows("batch") == 4  # the caller's log holds the records too


def test_progress_reaches_one_and_runner_dispatches_train():
    fractions = []
    config = config_from_dict(small().to_dict())
    result = run_config(config, progress=fractions.append)
    assert result.state == "done" and fractions[-1] == 1.0
    assert fractions == sorted(fractions)


def test_cpu_training_is_deterministic(monkeypatch):
    monkeypatch.setenv("IPCORE_THREADS", "1")  # the same count: other counts round some sums differently
    a = train(small(rules=["ip", "batchnorm"])).metrics
    b = train(small(rules=["ip", "batchnorm"])).metrics
    np.testing.assert_array_equal(a["batch/loss"], b["batch/loss"])
    np.testing.assert_array_equal(a["layer/alpha_mean"], b["layer/alpha_mean"])


def test_synthetic_datasets_train_offline():
    """The built-in tasks need no files. (A linear output: the thesis's ReLU output can die on such tasks.)"""
    clusters = train(small(dataset="clusters", rules=["none", "ip"], depth=1, width=32, subset=0, output="linear"))
    for entry in clusters.summary["rules"]:
        assert entry["test_accuracy"] > 0.95, entry
    spirals = train(
        small(dataset="spirals", rules=["none"], depth=2, width=32, subset=0, lr=0.03, epochs=5, output="linear")
    )
    loss = spirals.metrics["epoch/train_loss"][:, 0]
    assert loss[-1] < loss[0] - 0.05 and spirals.summary["rules"][0]["test_accuracy"] > 0.65
    assert train(small(dataset="clusters:3", depth=1)).metrics["epoch/test_acc"].shape == (2, 4)


# --- validation -------------------------------------------------------------------------------------------

INVALID = [
    ("depth", 0),
    ("depth", 33),
    ("width", 0),
    ("width", 2049),
    ("lr", 0.0),
    ("lr", -0.1),
    ("lr", float("nan")),
    ("lr", float("inf")),
    ("lr", 11.0),
    ("seeds", 0),
    ("seeds", 65),
    ("epochs", 0),
    ("epochs", 1001),
    ("batch_size", 0),
    ("subset", -1),
    ("dataset", "imagenet"),
    ("dataset", "imagefolder:"),
    ("dataset", "clusters:0"),
    ("rules", ["nope"]),
    ("rules", []),
    ("eta", {"ip": -1.0}),
    ("eta", {"wd": 1.5}),
    ("eta", {"none": 0.1}),
    ("eta_decay", 2.0),
    ("output", "softmax"),
    ("device", "tpu"),
    ("device", "cuda:x"),
    ("log_every", -1),
    ("hist_every", -1),
    ("seed", -1),
    ("seed", 2**31),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ConfigError) as error:
        TrainConfig.from_dict({field: value})
    assert error.value.field.split(".")[0] == field


def test_the_last_of_the_seeds_must_be_a_valid_seed_too():
    assert TrainConfig(seed=2**31 - 64, seeds=64).seed == 2**31 - 64  # seeds 2**31 − 64 … 2**31 − 1: all valid
    with pytest.raises(ConfigError, match=r"seed \+ seeds − 1, must be ≤ 2147483647 \(got 2147483648\)") as error:
        TrainConfig(seed=2**31 - 63, seeds=64)
    assert error.value.field == "seed"


def test_config_round_trips():
    config = small(rules=["ip", "wd"], eta={"ip": 1e-3}, dataset="imagefolder:/tmp/x")
    assert TrainConfig.from_json(config.to_json()) == config
    assert TrainConfig.from_flat(config.to_flat()) == config


def test_unavailable_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_train_json(capsys):
    code = cli.main(
        ["train", "--dataset", "clusters", "--rules", "ip,none", "--depth", "2", "--width", "8", "--epochs", "2",
         "--seeds", "2", "--subset", "300", "--batch-size", "50", "--eta", "ip=0.001", "--device", "cpu", "--json"]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["config"]["eta"] == {"ip": 0.001} and out["config"]["seeds"] == 2
    assert [r["rule"] for r in out["rules"]] == ["ip", "none"]
    for entry in out["rules"]:
        for key in ("final_train_loss", "test_accuracy", "diverged", "diverged_steps", "alpha_nonpositive", "seconds"):
            assert key in entry
        assert len(entry["grad_y_u"]) == 2 and entry["diverged"] == 0
    assert "train [" in captured.err  # the progress bar went to stderr


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--depth", "0"], "depth"),
        (["--lr", "0"], "lr"),
        (["--lr", "nan"], "lr"),
        (["--seeds", "0"], "seeds"),
        (["--dataset", "nope"], "dataset"),
        (["--rules", "ip,nope"], "rules"),
        (["--eta", "ip"], "eta"),
        (["--depth", "2.5"], "depth"),
        (["--dataset", "imagefolder:/definitely/not/here"], "dataset"),
    ],
)
def test_cli_train_rejects_bad_values(flags, field, capsys):
    code = cli.main(["train", "--device", "cpu", *flags])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and "Traceback" not in err


CLI_TINY = ["train", "--dataset", "clusters", "--rules", "ip,none", "--depth", "2", "--width", "8", "--seeds", "2",
            "--subset", "300", "--batch-size", "50", "--device", "cpu"]  # fmt: skip


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_cli_train_save_to_an_unwritable_folder_prints_the_results_then_fails(tmp_path, json_flag, capsys):
    (tmp_path / "afile").write_text("not a folder")
    runs_dir = tmp_path / "afile" / "runs"  # cannot be created, even by root
    assert cli.main([*CLI_TINY, "--save", "--runs-dir", str(runs_dir), *json_flag]) == cli.SAVE_FAILED == 1
    captured = capsys.readouterr()
    if json_flag:
        printed = json.loads(captured.out)
        assert [r["rule"] for r in printed["rules"]] == ["ip", "none"] and "run_id" not in printed
        assert printed["save_error"].startswith("the run's record could not be saved")
    else:
        assert "clusters:20" not in captured.out and "train loss" in captured.out and "\nip " in captured.out
    assert "error: save: the run's record could not be saved in " + str(runs_dir) in captured.err
    assert "Traceback" not in captured.err


def test_sigterm_during_train_save_keeps_a_cancelled_record_and_prints_it(tmp_path):
    import os
    import re
    import select
    import signal
    import subprocess
    import sys
    import time

    argv = [*CLI_TINY[1:], "--epochs", "1000", "--save", "--runs-dir", str(tmp_path), "--json"]
    process = subprocess.Popen(
        [sys.executable, "-m", "ipcore", "train", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seen, deadline = b"", time.monotonic() + 120

    def epochs_begun() -> int:
        return max((int(n) for n in re.findall(rb"epoch (\d+)/1000", seen)), default=0)

    while epochs_begun() < 2 and time.monotonic() < deadline:  # training has recorded a whole epoch
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        if ready:
            seen += os.read(process.stderr.fileno(), 4096)
    assert epochs_begun() >= 2, seen.decode()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    printed = json.loads(out)
    assert printed["state"] == "cancelled" and printed["run_id"]
    from ipcore.results.records import load_run

    record = load_run(tmp_path, printed["run_id"])
    assert record.meta["state"] == "cancelled"
    assert record.metrics["epoch/test_acc"].shape[0] >= 1  # the epochs done before SIGTERM are kept
    assert b"interrupted" in err and b"Traceback" not in err


@needs_mnist
def test_cli_lists_datasets(capsys, tmp_path):
    """The shared data folder has MNIST and CIFAR-10; an empty folder has neither (built-in sets always)."""
    for root, present in ((DATA, True), (tmp_path, False)):
        assert cli.main(["train", "--list-datasets", "--data-root", str(root), "--json"]) == 0
        listing = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
        assert {"mnist", "fashion-mnist", "cifar10", "clusters", "spirals"} <= set(listing)
        assert listing["mnist"]["available"] is present and listing["cifar10"]["available"] is present
        assert listing["clusters"]["available"] and listing["spirals"]["available"]


def test_cpu_training_uses_the_configured_thread_count(monkeypatch):
    """A count other than the one torch runs with is applied during the run and undone after it; 0 leaves
    torch's count alone."""
    outside = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for setting, during in (("2", 2), ("0", 1)):
            seen = []
            monkeypatch.setenv("IPCORE_THREADS", setting)
            train(small(epochs=1), progress=lambda _, seen=seen: seen.append(torch.get_num_threads()))
            assert set(seen) == {during} and torch.get_num_threads() == 1  # restored afterwards
    finally:
        torch.set_num_threads(outside)
    monkeypatch.setenv("IPCORE_THREADS", "two")
    with pytest.raises(ConfigError, match="IPCORE_THREADS"):
        train(small(epochs=1))


def test_without_a_setting_the_thread_count_follows_the_idle_cpus(monkeypatch):
    import ipcore.training.resources as resources

    monkeypatch.delenv("IPCORE_THREADS", raising=False)
    monkeypatch.setattr(resources, "usable_cpus", lambda: 4)
    for load, expected in ((0.2, 4), (1.0, 3), (2.7, 1), (9.0, 1), (math.inf, 1)):
        monkeypatch.setattr(resources, "busy_cpus", lambda load=load: load)
        assert resources.training_threads() == expected, load
        assert resources.training_threads(auto=False) == 1  # Ray tasks: one thread each unless asked
    monkeypatch.setattr(resources, "busy_cpus", lambda: 0)
    seen = []
    result = train(small(epochs=1), progress=lambda _: seen.append(torch.get_num_threads()))
    assert set(seen) == {4} and result.summary["threads"] == 4
    monkeypatch.setenv("IPCORE_THREADS", "2")
    assert resources.training_threads() == 2


def test_a_run_too_big_for_the_machine_is_refused_before_it_starts(monkeypatch):
    import ipcore.training.resources as resources

    config = small(rules=["ip", "wd"], seeds=4, depth=3, width=64)
    data = load_dataset("clusters", subset=300)
    needed = resources.estimated_memory(config, data)
    assert needed > 8 * 4 * (21 * 64 + 2 * 65 * 64 + 65 * 10)  # 8 networks: weights, gradients, Adam moments
    monkeypatch.setattr(resources, "available_memory", lambda device: needed)
    with pytest.raises(ConfigError, match=r"need about \d+ MiB, but cpu has \d+ MiB free; use fewer") as error:
        train(config)
    assert error.value.field == "seeds" and "2 rules × 4 seeds" in str(error.value)
    assert resources.memory_held(torch.device("cpu")) == (0, 0)  # a refused run holds nothing
    monkeypatch.setattr(resources, "available_memory", lambda device: 2 * needed)
    assert train(config).state == "done"
    assert resources._held == {}  # given back when the run ended


def test_cpu_memory_is_what_the_kernel_says_is_available_not_the_total(tmp_path, monkeypatch):
    import ipcore.training.resources as resources

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       100000000 kB\nMemFree:          1000000 kB\nMemAvailable:     3000000 kB\n")
    monkeypatch.setattr(resources, "MEMINFO", str(meminfo))
    assert resources.available_memory(torch.device("cpu")) == 3_000_000 * 1024


def test_the_estimate_is_above_the_measured_peak_of_a_real_run():
    """bench/bench_memory.py measures in a fresh process: resident peak beyond the data vs the estimate."""
    import subprocess
    import sys

    spec = json.dumps(["mid-sized", 1024, 2, 4, 3, 256, 200])  # 8 networks, about 100 MiB of tensors
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_memory.py"), "--one", spec],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert 0 < measured["peak_MiB"] < measured["estimate_MiB"], measured


def test_freezing_at_every_step_as_on_a_gpu_changes_nothing_for_active_members(monkeypatch):
    import ipcore.training.loop as train_module

    config = small(rules=["ip", "batchnorm", "bn_inc", "none"], seeds=2)
    plain = train(config).metrics
    monkeypatch.setattr(train_module, "freeze_every_step", lambda device: True)
    masked = train(config).metrics
    for key in ("batch/loss", "layer/alpha_mean", "layer/beta_std", "epoch/test_loss"):
        np.testing.assert_array_equal(plain[key], masked[key], err_msg=key)
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)
    exploding = train(small(rules=["exploding_ip", "ip"], seeds=3)).metrics
    np.testing.assert_array_equal(exploding["diverged_step"], [4, -1, -1, -1, -1, -1])


# operations after which the host has to wait for a GPU: a value read back (``.item()``, ``bool()``, ``int()``),
# or an output whose size depends on the values (``nonzero``, ``bincount``'s maximum, boolean masks, ``unique``)
HOST_WAITS = {"_local_scalar_dense", "is_nonzero", "item", "nonzero", "masked_select", "bincount", "unique", "_unique2"}


def test_a_training_step_on_a_gpus_code_path_never_waits_for_the_device(monkeypatch):
    """Issue 14: on a GPU the loop must queue step after step without reading anything back (the recorder moves
    its rows to the host in chunks, every few seconds). Checked here on the CPU with the GPU's choices: every
    aten operation of the run is seen (a dispatch mode) and none of those that would make the host wait may come
    after the first step, with records at every step, a member diverging (step 4, then frozen), rules through
    the hand-written pass and through autograd, and two end-of-epoch evaluations. (The recorder's own copies to
    the host do not show on a CPU, where ``.cpu()`` is no operation.)"""
    from torch.utils._python_dispatch import TorchDispatchMode

    import ipcore.training.loop as train_module
    import ipcore.training.measure as measure

    class CountHostWaits(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.waits: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ in HOST_WAITS:
                self.waits.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    monkeypatch.setattr(train_module, "freeze_every_step", lambda device: True)
    monkeypatch.setattr(measure, "counts_with_bincount", lambda device: False)
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)
    waits_by_step: list[list[str]] = []
    # Adam as one fused kernel, SGD with momentum, and a sweep's Adam with a learning rate per member
    runs = [
        (small(rules=["exploding_ip", "ip", "wd", "none", "infomax"], seeds=2, log_every=1, hist_every=1), None),
        (
            small(rules=["ip_hard", "batchnorm", "bn_inc"], seeds=2, log_every=1, hist_every=1, optimizer="momentum"),
            None,
        ),
        (small(seeds=2, log_every=1, hist_every=1), [MemberGroup("ip", 1e-3, 0.01), MemberGroup("ip", 1e-3, 0.03)]),
    ]
    for config, groups in runs:
        with CountHostWaits() as mode:
            result = train(config, progress=lambda _: waits_by_step.append(list(mode.waits)), groups=groups)
        assert result.state == "done"
        after_first_step = mode.waits[len(waits_by_step[0]) :]
        assert after_first_step == [], (config.rules, config.optimizer, groups, after_first_step)
        waits_by_step.clear()
    assert result.metrics["layer/step"].size == 2 * 6  # a row at every step: 300 samples, batch 50, 2 epochs
    # the mode does see them: the CPU's own choices wait on the device, a bincount per recorded row
    monkeypatch.setattr(measure, "counts_with_bincount", lambda device: True)
    with CountHostWaits() as mode:
        train(small(seeds=2, log_every=1, hist_every=1))
    assert mode.waits.count("bincount") >= 12


@pytest.mark.parametrize(
    "rules",
    [
        ["exploding_ip", "ip", "wd", "infomax", "none"],  # folded hidden layers, then not (infomax), a divergence
        ["bn_inc", "bn_wd", "ip_cov", "wd_cov", "triesch", "ip_printed", "bn_inc_printed"],
    ],
)
def test_what_a_captured_step_reads_stays_in_the_same_memory_all_run(monkeypatch, rules):
    """A CUDA graph replays the pass's kernels on the memory they read when it was captured, so every tensor the
    pass reads that it did not make itself — weights, biases, the rules' α and β — must be updated in place for
    the whole run (Adam, the rule updates, freezing a diverged member, η decaying), never replaced. Checked on
    the CPU, where the same pass runs eagerly: the storage of every such tensor is noted at each step and must be
    the same at every step (the batch, gathered anew, aside)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    import ipcore.training.loop as train_module
    from ipcore.engine.cuda_graphs import StepRunner

    class ReadsFromOutside(TorchDispatchMode):
        def __init__(self, excluded: set[int]):
            super().__init__()
            self.made, self.read, self.excluded = set(), set(), excluded

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            result = func(*args, **(kwargs or {}))
            for tensor in tree_leaves((args, kwargs)):
                if isinstance(tensor, torch.Tensor) and tensor.numel():
                    storage = tensor.untyped_storage().data_ptr()
                    if storage not in self.made and storage not in self.excluded:
                        self.read.add(storage)
            self.made |= {t.untyped_storage().data_ptr() for t in tree_leaves(result) if isinstance(t, torch.Tensor)}
            return result

    reads_by_step: list[frozenset[int]] = []
    plain_call = StepRunner.__call__

    def noted_call(self, inputs, labels):
        with ReadsFromOutside({inputs.untyped_storage().data_ptr(), labels.untyped_storage().data_ptr()}) as mode:
            outputs = plain_call(self, inputs, labels)
        reads_by_step.append(frozenset(mode.read))
        return outputs

    monkeypatch.setattr(StepRunner, "__call__", noted_call)
    monkeypatch.setattr(train_module, "freeze_every_step", lambda device: True)  # as on a GPU
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)

    def steps_read_the_same_memory(config: TrainConfig, groups: list[MemberGroup] | None = None) -> dict:
        reads_by_step.clear()
        result = train(config, groups=groups)
        assert result.state == "done" and len(reads_by_step) == 10  # 5 steps an epoch, all of 60 samples
        # from the second step on, as the graph is captured after warm-up passes (which may make what later ones read)
        captured = reads_by_step[1]
        assert len(captured) >= 2 * 2 + 2  # at least the first layer's and the output's weights and biases
        for step, reads in enumerate(reads_by_step[2:], start=3):
            assert reads == captured, f"step {step} read other memory: {sorted(reads ^ captured)}"
        return result.metrics

    metrics = steps_read_the_same_memory(small(rules=rules, seeds=2, batch_size=60, eta_decay=0.5))
    if "exploding_ip" in rules:
        np.testing.assert_array_equal(metrics["diverged_step"], [4, -1] + [-1] * 8)
    # the optimizers with a rate per member (SGD with momentum, a sweep's Adam) update in place too
    steps_read_the_same_memory(small(rules=rules[1:3], seeds=2, batch_size=60, optimizer="momentum"))
    groups = [MemberGroup(rules[1], 1e-3, lr) for lr in (0.01, 0.1)]
    steps_read_the_same_memory(small(rules=rules[1:3], seeds=2, batch_size=60), groups)


def test_the_idle_cpus_come_from_the_tasks_running_now(monkeypatch, tmp_path):
    import ipcore.training.resources as resources

    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.10 0.50 1.90 3/214 8123\n")  # 3 running: this reader and 2 others
    monkeypatch.setattr(resources, "LOADAVG", str(loadavg))
    monkeypatch.setattr(resources.os, "getloadavg", lambda: (7.0, 7.0, 7.0))  # a minute ago: busy
    assert resources.busy_cpus() == 2
    monkeypatch.setattr(resources, "usable_cpus", lambda: 8)
    assert resources.idle_cpus() == 6
    loadavg.write_text("garbage\n")
    assert resources.busy_cpus() == 7.0  # no reading: the load average
    monkeypatch.setattr(resources, "LOADAVG", str(tmp_path / "missing"))

    def no_load_average():
        raise OSError("not here")

    monkeypatch.setattr(resources.os, "getloadavg", no_load_average)
    assert resources.busy_cpus() == math.inf and resources.idle_cpus() == 1


def test_a_run_gives_back_threads_that_stop_getting_cores():
    from ipcore.training.resources import ThreadShare

    outside = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        clock = {"wall": 0.0, "cpu": 0.0}
        share = ThreadShare(True, clock=lambda: clock["cpu"], wall_clock=lambda: clock["wall"])
        clock["wall"], clock["cpu"] = 1.0, 3.8  # four threads got about four cores
        share.check()
        assert torch.get_num_threads() == 4 and share.dropped_to is None
        clock["wall"], clock["cpu"] = 1.2, 3.9  # too short a window to judge
        share.check()
        assert torch.get_num_threads() == 4
        clock["wall"], clock["cpu"] = 2.2, 6.1  # 2.2 cores in the last second: down to 2 threads
        share.check()
        assert torch.get_num_threads() == 2 and share.dropped_to == 2 and share.started_with == 4
        clock["wall"], clock["cpu"] = 3.2, 6.8  # 0.7 of a core: one thread, and no more checks
        share.check()
        assert torch.get_num_threads() == 1 and share.dropped_to == 1 and not share.enabled
        torch.set_num_threads(4)
        assert not ThreadShare(False).enabled  # a pinned count (IPCORE_THREADS) is never changed
        torch.set_num_threads(1)
        assert not ThreadShare(True).enabled  # one thread has nothing to give back
    finally:
        torch.set_num_threads(outside)


def test_both_entropies_from_one_count_equal_the_separate_counts(monkeypatch):
    import ipcore.training.measure as measure

    config = small(rules=["ip", "wd"], seeds=2, depth=3, width=8)
    data = load_dataset("clusters", subset=300)
    model = LockstepMLP(data.input_dim, data.num_classes, 3, 8, [make_rule(r, config) for r in ("ip", "wd")],
                        [0, 1], "relu", torch.device("cpu"))  # fmt: skip
    _, pre, post = model.forward(data.train_x[:64].expand(2, -1, -1), training=True)
    y_all = model.stack_layers(post)
    y_all[1, :5] = float("nan")  # a diverging member's outputs are not counted
    nonpositive = torch.zeros(4, 24, dtype=torch.int32)
    shared = measure.layer_statistics(model, y_all, nonpositive, True, model.stack_layers(pre))
    monkeypatch.setattr(measure, "SHARED_HISTOGRAM_SLOTS", 0)  # as for a model too big for one count
    separate = measure.layer_statistics(model, y_all, nonpositive, True, model.stack_layers(pre))
    assert set(shared) == set(separate)
    for key, value in shared.items():
        torch.testing.assert_close(value, separate[key], equal_nan=True, msg=key)


@needs_mnist
def test_batches_gathered_from_the_stored_bytes_train_the_same_run_bit_for_bit():
    """On a CPU, MNIST batches come from its uint8 pixels (a quarter of the memory to read per row), converted as
    train_x would be: train_x = bytes / 255 exactly, made only when read (a CPU training never reads it), and a
    run equals one gathered from train_x to the last bit."""
    data = load_dataset("mnist", str(DATA), subset=3000, device="cpu")
    assert data.train_bytes is not None and data.train_bytes.dtype == torch.uint8 and data.byte_scale == 255.0
    assert data.stored_train_x is None and data.input_dim == 784
    assert data.first(1000).train_bytes.shape[0] == 1000 and data.first(1000).stored_train_x is None
    config = TrainConfig(
        dataset="mnist", data_root=str(DATA), rules=["ip", "none"], depth=3, width=20, seeds=2, subset=3000,
        device="cpu",
    )  # fmt: skip
    from_bytes = train(config, data=data).metrics
    assert data.stored_train_x is None  # the training gathered every batch from the bytes
    assert data.train_bytes.shape == data.train_x.shape
    assert torch.equal(data.train_bytes.float().div_(255.0), data.train_x)
    assert data.stored_train_x is data.train_x  # made once, then kept
    assert data.first(1000).stored_train_x.shape[0] == 1000
    with pytest.raises(ValueError, match="training inputs"):  # neither form: nothing to train on
        dataclasses.replace(data, train_bytes=None, stored_train_x=None)
    from_floats = train(config, data=dataclasses.replace(data, train_bytes=None)).metrics
    for key in ("batch/loss", "epoch/test_loss", "layer/alpha_mean", "layer/entropy"):
        np.testing.assert_array_equal(from_bytes[key], from_floats[key], err_msg=key)
    assert load_dataset("clusters", subset=500).train_bytes is None  # synthetic data has no bytes
