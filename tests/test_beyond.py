"""Beyond the thesis: the logistic rules against their equations (numpy, float64, written from Triesch 2005 and the
thesis's §3.1, not from ``ipcore.engine.rules``), SGD and momentum with per-member learning rates, logistic and ReLU
networks, the per-unit entropy and the weight-gradient records, the logistic neuron's target density, and the
validation of every new field."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import torch

from ipcore import cli
from ipcore.config import ConfigError, NeuronConfig, SweepConfig, TrainConfig
from ipcore.engine.model import LockstepMLP
from ipcore.engine.optim import FusedAdam, MemberSGD
from ipcore.engine.rules import RULES, get_rule
from ipcore.training.loop import train
from ipcore.training.measure import unit_entropy, weight_gradient_rms
from ipcore.training.neuron import entropy_max, simulate, target_density, truncated_exponential_rate
from ipcore.training.sweep import train_points

X = np.array(
    [
        [[0.5, -1.0, 3.0], [1.5, 0.0, 2.5], [-0.5, 2.0, 4.0], [2.0, -0.5, 3.5], [1.0, 1.0, 5.0]],
        [[-2.0, 0.3, 1.0], [0.0, 0.1, -1.0], [1.0, -0.2, 0.5], [3.0, 0.4, 2.0], [-1.0, 0.0, 0.0]],
    ]
)
A0 = np.array([[0.8, 1.5, 2.0], [1.2, 0.5, 3.0]])
B0 = np.array([[0.3, -0.2, 3.0], [0.0, 0.1, -0.5]])


def logistic(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-u))


def start(name: str, **options: float):
    rule = get_rule(name, **options)
    state = rule.init_state(2, 3, dtype=torch.float64)
    state["alpha"].copy_(torch.from_numpy(A0))
    state["beta"].copy_(torch.from_numpy(B0))
    return rule, state


def logistic_pass(rule, state, x: np.ndarray, eta: float) -> None:
    xt = torch.from_numpy(x)
    y = torch.sigmoid(rule.transform(xt, state, training=True))
    rule.update(state, xt, y, eta)


# --- the rules' equations -------------------------------------------------------------------------------------


def test_triesch_logistic_is_triesch_2005_exponential_target_rule():
    """y = σ(ax + b); Δb = η(1 − (2 + 1/μ)y + y²/μ); Δa = η/a + xΔb, batch means; three passes."""
    mu, eta = 0.15, 0.05
    rule, state = start("triesch_logistic", target_mean=mu)
    a, b = A0.copy(), B0.copy()
    for _ in range(3):
        logistic_pass(rule, state, X, eta)
        y = logistic(a[:, None, :] * X + b[:, None, :])
        delta_b = eta * (1 - (2 + 1 / mu) * y + y**2 / mu)
        a, b = a + eta / a + (X * delta_b).mean(axis=1), b + delta_b.mean(axis=1)
        np.testing.assert_allclose(state["alpha"].numpy(), a, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state["beta"].numpy(), b, rtol=1e-10, atol=1e-12)


def test_triesch_logistic_drives_one_unit_toward_an_exponential_of_mean_mu():
    """On one logistic neuron (N(5, 2²) input) the output mean settles near μ and the output is skewed right,
    as an exponential density is."""
    config = NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=["triesch_logistic"], activation="logistic",
                          logistic_mean=0.2, iters=4000, n=4000, eta={"triesch_logistic": 0.01})  # fmt: skip
    result = simulate(config)
    mean_y = result.summary["rules"][0]["mean_y"]
    assert mean_y == pytest.approx(0.2, abs=0.03)
    hist = result.metrics["trace/hist"][-1, 0]  # densities on [−1, 1], 100 bins: y ∈ (0, 1) is bins 50…99
    assert hist[:50].sum() == 0
    assert hist[50:60].sum() > hist[60:70].sum() > hist[80:90].sum()


def test_ip_logistic_is_the_theses_mean_and_std_variant_adam_smoothed():
    """§3.1: shift by E[x], scale by σ[x]: α ← α − η·Adam(α − σ[x]), β ← β − η·Adam(β − E[x]), u = (x − β)/α."""
    eta = 0.05
    rule, state = start("ip_logistic")
    a, b = A0.copy(), B0.copy()
    moments = {k: [np.zeros_like(A0), np.zeros_like(A0)] for k in ("a", "b")}

    def adam(key: str, g: np.ndarray, t: int) -> np.ndarray:
        m, v = moments[key]
        m[:] = 0.9 * m + 0.1 * g
        v[:] = 0.999 * v + 0.001 * g * g
        return (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)

    for t in range(1, 4):
        logistic_pass(rule, state, X, eta)
        a, b = a - eta * adam("a", a - X.std(axis=1), t), b - eta * adam("b", b - X.mean(axis=1), t)
        np.testing.assert_allclose(state["alpha"].numpy(), a, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(state["beta"].numpy(), b, rtol=1e-9, atol=1e-12)
    assert rule.transform(torch.from_numpy(X), state, False).numpy() == pytest.approx(
        (X - b[:, None, :]) / a[:, None, :]
    )


def test_every_rule_says_which_units_it_is_meant_for():
    tanh_only = {"ip", "ip_printed", "ip_cov", "wd", "wd_cov", "infomax", "ip_hard", "triesch", "ip_notebook"}
    for name, rule in RULES.items():
        if name in tanh_only:
            assert rule.activations == ("tanh",), name
        elif name in ("triesch_logistic", "ip_logistic"):
            assert rule.activations == ("logistic",), name
        else:  # no rule, or a rule that only standardises x
            assert set(rule.activations) == {"tanh", "logistic", "relu"}, name


# --- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer", "adam, sgd, momentum"),
        ({"momentum": 1.0}, "momentum", "≤ 0.999"),
        ({"momentum": -0.1}, "momentum", "≥ 0"),
        ({"activation": "gelu"}, "activation", "tanh, logistic, relu"),
        ({"activation": "logistic"}, "rules", "rule 'ip' is meant for tanh units, not logistic"),
        ({"activation": "relu", "rules": ["wd", "none"]}, "rules", "with relu use: none, bn_inc"),
        ({"rules": ["triesch_logistic"]}, "rules", "meant for logistic units, not tanh"),
        ({"depth": 33}, "depth", "≤ 32"),
        ({"logistic_mean": 0.0}, "logistic_mean", "> 0"),
        ({"logistic_mean": 0.7}, "logistic_mean", "≤ 0.5"),
    ],
)
def test_new_train_and_sweep_fields_are_validated_naming_the_field(values, field, match):
    for kind in (TrainConfig, SweepConfig):
        with pytest.raises(ConfigError, match=match) as error:
            kind.from_dict(values)
        assert error.value.field == field


def test_neuron_activation_is_tanh_or_logistic_and_rules_must_fit():
    with pytest.raises(ConfigError, match="tanh, logistic") as error:
        NeuronConfig(activation="relu")
    assert error.value.field == "activation"
    with pytest.raises(ConfigError, match="meant for tanh") as error:
        NeuronConfig(activation="logistic", rules=["ip"])
    assert error.value.field == "rules"
    NeuronConfig(activation="logistic", rules=["triesch_logistic", "ip_logistic", "bn_inc", "none"])
    assert TrainConfig(depth=30).depth == 30


def test_cli_lists_and_validates_the_new_flags(capsys):
    parser = cli.build_parser()
    for command in ("train", "sweep"):
        text = next(a for a in parser._actions if a.dest == "command").choices[command].format_help()
        assert "--optimizer" in text and "--activation" in text and "--momentum" in text
    assert cli.main(["train", "--optimizer", "rmsprop", "--dataset", "clusters"]) == 2
    assert "error: optimizer: must be one of adam, sgd, momentum" in capsys.readouterr().err
    assert cli.main(["neuron", "--activation", "logistic"]) == 2
    assert "error: rules: rule 'ip' is meant for tanh units" in capsys.readouterr().err


# --- optimizers -----------------------------------------------------------------------------------------------


def _sgd_steps(make_optimizer, steps: int = 4) -> list[torch.Tensor]:
    torch.manual_seed(0)
    inputs, labels = torch.randn(2, 16, 5), torch.randint(0, 3, (6, 16))
    net = LockstepMLP(5, 3, 2, 4, [get_rule("none")] * 3, [0, 1], device="cpu")
    optimizer = make_optimizer(net)
    for _ in range(steps):
        logits, _, _ = net.forward(inputs, training=True)
        torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), reduction="sum").backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_member_sgd_matches_torch_sgd_and_scales_per_member(momentum):
    reference = _sgd_steps(lambda net: torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum))
    ours = _sgd_steps(lambda net: MemberSGD(net.parameters(), net.member_masks(torch.full((6,), 0.05)), momentum))
    for a, b in zip(reference, ours, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # lr 0 for the members of the third rule group: their weights never move
    start = _sgd_steps(lambda net: MemberSGD(net.parameters(), net.member_masks(torch.zeros(6)), momentum), 0)
    rates = torch.tensor([0.05, 0.05, 0.05, 0.05, 0.0, 0.0])
    mixed = _sgd_steps(lambda net: MemberSGD(net.parameters(), net.member_masks(rates), momentum))
    for before, after, moved in zip(start[2:], mixed[2:], reference[2:], strict=True):  # [M, …] tensors
        torch.testing.assert_close(after[4:], before[4:])
        torch.testing.assert_close(after[:4], moved[:4], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_sweep_points_with_their_own_learning_rates_equal_plain_runs(optimizer):
    """A grid trains as one model with a learning rate per member: each point equals training it alone."""
    sweep = SweepConfig(dataset="clusters", rules=["wd", "none"], lr=[0.03, 0.3], depth=2, width=8, epochs=2,
                        seeds=2, batch_size=50, subset=300, output="linear", device="cpu", optimizer=optimizer)  # fmt: skip
    points = sweep.points()
    for point, result in zip(points, train_points(sweep, points), strict=True):
        alone = train(sweep.point_config(*point))
        assert alone.config.optimizer == optimizer
        for key in ("batch/loss", "epoch/test_loss", "layer/grad_y_u", "layer/grad_weight_rms"):
            np.testing.assert_allclose(result.metrics[key], alone.metrics[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_optimizer_field_picks_the_optimizer():
    """sgd and momentum train with MemberSGD (momentum 0 or the config's), adam with FusedAdam (torch's fused kernel)."""
    from ipcore.engine.optim import make_optimizer as _optimizer

    net = LockstepMLP(5, 3, 2, 4, [get_rule("none")], [0], device="cpu")
    for name, kind, momentum in (
        ("sgd", MemberSGD, 0.0),
        ("momentum", MemberSGD, 0.8),
        ("adam", FusedAdam, None),
    ):
        optimizer = _optimizer(net, [0.1], torch.device("cpu"), TrainConfig(optimizer=name, momentum=0.8))
        assert isinstance(optimizer, kind)
        if momentum is not None:
            assert optimizer.momentum == momentum


# --- activations in networks and the new records -------------------------------------------------------------


def test_logistic_and_relu_networks_record_their_own_slope():
    for activation, rules in (
        ("logistic", ["triesch_logistic", "ip_logistic", "none"]),
        ("relu", ["batchnorm", "none"]),
    ):
        config = TrainConfig(dataset="clusters", rules=rules, depth=3, width=8, epochs=1, seeds=2, subset=400,
                             output="linear", device="cpu", activation=activation)  # fmt: skip
        result = train(config)
        grad = result.metrics["layer/grad_y_u"]
        assert grad.shape[1:] == (len(rules) * 2, 3)
        if activation == "logistic":
            assert (grad > 0).all() and (grad <= 0.25).all()  # y(1 − y) ≤ ¼
            assert np.isfinite(result.metrics["layer/entropy_unit"]).all()
            assert (result.metrics["layer/entropy_unit"] <= 0.0 + 0.1).all()  # log 1 = 0, plus a little Miller–Madow
        else:
            assert ((grad >= 0) & (grad <= 1)).all()  # the share of active units
            assert np.isnan(result.metrics["layer/entropy_unit"]).all()
            assert np.isnan(result.metrics["layer/entropy"]).all()


def test_unit_entropy_matches_a_numpy_histogram_per_unit():
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.uniform(-1, 1, (1, 400, 1)), np.tanh(rng.normal(0, 3, (1, 400, 1))),
                        np.full((1, 400, 1), 0.3)], axis=2)  # fmt: skip
    got = unit_entropy(torch.from_numpy(y).float(), -1.0, 1.0).numpy()[0]
    for unit in range(3):
        counts, _ = np.histogram(y[0, :, unit], bins=20, range=(-1, 1))
        p = counts / counts.sum()
        width = 0.1
        expected = -(p[p > 0] * np.log(p[p > 0] / width)).sum() + ((counts > 0).sum() - 1) / (2 * 400)
        assert got[unit] == pytest.approx(expected, abs=1e-4)
    assert got[0] == pytest.approx(math.log(2), abs=0.05)  # uniform: the maximum
    assert got[1] < got[0] - 0.2  # saturated: mass piled at ±1
    assert got[2] == pytest.approx(math.log(0.1), abs=1e-5)  # a constant: one bin
    logistic_y = torch.rand(1, 400, 1, generator=torch.Generator().manual_seed(1))
    assert unit_entropy(logistic_y, 0.0, 1.0).item() == pytest.approx(0.0, abs=0.05)  # uniform on (0, 1): log 1


def test_weight_gradient_rms_is_each_members_own_layer_gradient():
    rules = [get_rule("none"), get_rule("wd")]
    net = LockstepMLP(5, 3, 3, 4, rules, [0, 1], device="cpu")
    assert np.isnan(weight_gradient_rms(net).numpy()).all()
    inputs, labels = torch.randn(2, 16, 5), torch.randint(0, 3, (4, 16))
    logits, _, _ = net.forward(inputs, training=True)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), reduction="sum").backward()
    rms = weight_gradient_rms(net).numpy()
    for member in range(4):
        r, s = divmod(member, 2)
        first = net.first_weight.grad[s, r].t().numpy()
        assert rms[member, 0] == pytest.approx(np.sqrt((first**2).mean()), rel=1e-5)
        for layer in (1, 2):
            grad = net.hidden_weights[layer - 1].grad[member].numpy()
            assert rms[member, layer] == pytest.approx(np.sqrt((grad**2).mean()), rel=1e-5)


def test_deep_networks_up_to_32_layers_train():
    config = TrainConfig(dataset="clusters", rules=["wd", "none"], depth=32, width=4, epochs=1, subset=100,
                         output="linear", device="cpu")  # fmt: skip
    result = train(config)
    assert result.metrics["layer/grad_y_u"].shape[-1] == 32
    assert np.isfinite(result.metrics["layer/grad_weight_rms"][-1]).all()


# --- the logistic neuron's target -----------------------------------------------------------------------------


def test_logistic_targets_are_densities_with_the_right_mean():
    grid = np.linspace(-1.2, 1.2, 240_001)
    for mean in (0.05, 0.2, 0.4):
        density = target_density("logistic", grid, mean)
        assert scipy.integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
        assert scipy.integrate.trapezoid(grid * density, grid) == pytest.approx(mean, abs=1e-3)
        assert density[grid < 0].max() == 0 and density[grid > 1].max() == 0
    assert truncated_exponential_rate(0.05) == pytest.approx(20.0, rel=1e-3)  # small μ: λ ≈ 1/μ
    uniform = target_density("logistic", grid, None)
    assert scipy.integrate.trapezoid(uniform, grid) == pytest.approx(1.0, abs=1e-3)
    assert target_density("tanh", np.array([-0.5, 0.5, 1.5]), None).tolist() == [0.5, 0.5, 0.0]
    assert entropy_max("tanh") == pytest.approx(math.log(2)) and entropy_max("logistic") == 0.0
