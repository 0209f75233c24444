"""Every rule's update on a small hand-made batch equals its equation, computed here independently (numpy,
float64, written from the issue's table rather than from ``ipcore.engine.rules``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ipcore.engine.rules import ALPHA_FLOOR, RULES, get_rule, safe_alpha
from ipcore.specs.rules import RULE_SPECS, default_eta

# A hand-made batch: M = 2 members, B = 5 samples, U = 3 units.
X = np.array(
    [
        [[0.5, -1.0, 3.0], [1.5, 0.0, 2.5], [-0.5, 2.0, 4.0], [2.0, -0.5, 3.5], [1.0, 1.0, 5.0]],
        [[-2.0, 0.3, 1.0], [0.0, 0.1, -1.0], [1.0, -0.2, 0.5], [3.0, 0.4, 2.0], [-1.0, 0.0, 0.0]],
    ]
)
ALPHA0 = np.array([[0.8, 1.5, 2.0], [1.2, 0.5, 3.0]])
BETA0 = np.array([[0.3, -0.2, 3.0], [0.0, 0.1, -0.5]])
ETA = 0.05


def start(name: str, **options: float) -> tuple:
    """The rule and a state with α = ALPHA0, β = BETA0 (float64, so comparisons can be tight)."""
    rule = get_rule(name, **options)
    state = rule.init_state(2, 3, dtype=torch.float64)
    state["alpha"].copy_(torch.from_numpy(ALPHA0))
    state["beta"].copy_(torch.from_numpy(BETA0))
    return rule, state


def forward_and_update(rule, state, x: np.ndarray, eta: float, active=None) -> np.ndarray:
    """One training pass: y = tanh(transform(x)), then the rule's update. Returns y."""
    xt = torch.from_numpy(x)
    rule.prepare(state, xt)
    y = torch.tanh(rule.transform(xt, state, training=True))
    rule.update(state, xt, y, eta, active=active)
    return y.detach().numpy()


def divide_y(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return np.tanh((x - beta[:, None, :]) / alpha[:, None, :])


def affine_y(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return np.tanh(alpha[:, None, :] * x + beta[:, None, :])


def E(t: np.ndarray) -> np.ndarray:
    return t.mean(axis=1)


class Adam:
    """Textbook bias-corrected Adam (Kingma & Ba 2015) of an update direction g."""

    def __init__(self, shape: tuple[int, ...]):
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0

    def __call__(self, g: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * g
        self.v = 0.999 * self.v + 0.001 * g * g
        m_hat = self.m / (1 - 0.9**self.t)
        v_hat = self.v / (1 - 0.999**self.t)
        return m_hat / (np.sqrt(v_hat) + 1e-8)


def assert_state(state, alpha: np.ndarray, beta: np.ndarray, rtol: float = 1e-10) -> None:
    np.testing.assert_allclose(state["alpha"].numpy(), alpha, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(state["beta"].numpy(), beta, rtol=rtol, atol=1e-12)


# --- the rules with an η: three updates each, so Adam's moments and bias corrections are exercised ---------


def test_ip_is_adam_smoothed_toward_2exy_and_zero_mean_output():
    rule, state = start("ip")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    adam_alpha, adam_beta = Adam(alpha.shape), Adam(beta.shape)
    for _ in range(3):
        y = divide_y(X, alpha, beta)
        np.testing.assert_allclose(forward_and_update(rule, state, X, ETA), y, rtol=1e-12)
        alpha, beta = alpha - ETA * adam_alpha(alpha - 2 * E(X * y)), beta + ETA * adam_beta(E(y))
        assert_state(state, alpha, beta)
    assert state["t"] == 3


def test_ip_cov_targets_twice_the_covariance():
    rule, state = start("ip_cov")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    adam_alpha, adam_beta = Adam(alpha.shape), Adam(beta.shape)
    for _ in range(3):
        y = divide_y(X, alpha, beta)
        forward_and_update(rule, state, X, ETA)
        cov = E(X * y) - E(X) * E(y)
        alpha, beta = alpha - ETA * adam_alpha(alpha - 2 * cov), beta + ETA * adam_beta(E(y))
        assert_state(state, alpha, beta)


@pytest.mark.parametrize("name", ["wd", "wd_cov"])
def test_weighted_decay_mixes_in_the_batch_targets(name):
    rule, state = start(name)
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    for _ in range(3):
        y = divide_y(X, alpha, beta)
        forward_and_update(rule, state, X, ETA)
        exy = E(X * y) if name == "wd" else E(X * y) - E(X) * E(y)
        alpha, beta = (1 - ETA) * alpha + ETA * 2 * exy, (1 - ETA) * beta + ETA * E(y)
        assert_state(state, alpha, beta)


def test_infomax_gradient_ascent_with_eta_decay():
    decay = 0.1
    rule, state = start("infomax", eta_decay=decay)
    assert rule.form == "affine"
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    for t in range(1, 4):
        y = affine_y(X, alpha, beta)
        np.testing.assert_allclose(forward_and_update(rule, state, X, ETA), y, rtol=1e-12)
        eta_t = ETA * (1 - decay) ** (t - 1)  # the first update uses η itself
        alpha, beta = alpha + eta_t * (1 / alpha - 2 * E(X * y)), beta - 2 * eta_t * E(y)
        assert_state(state, alpha, beta)


def test_bn_inc_tracks_batch_std_and_mean_through_adam():
    rule, state = start("bn_inc")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    adam_alpha, adam_beta = Adam(alpha.shape), Adam(beta.shape)
    for _ in range(3):
        forward_and_update(rule, state, X, ETA)
        sigma = X.std(axis=1)  # population std (ddof 0), as batch normalisation
        alpha, beta = alpha - ETA * adam_alpha(alpha - sigma), beta - ETA * adam_beta(beta - E(X))
        assert_state(state, alpha, beta)


def test_ip_printed_is_eq_3_3_as_printed():
    """α ← α + η·Adam(2E[xy]) (thesis eq. 3.3 as printed), β ← β + η·Adam(E[y]) (eq. 3.4)."""
    rule, state = start("ip_printed")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    adam_alpha, adam_beta = Adam(alpha.shape), Adam(beta.shape)
    for _ in range(3):
        y = divide_y(X, alpha, beta)
        np.testing.assert_allclose(forward_and_update(rule, state, X, ETA), y, rtol=1e-12)
        alpha, beta = alpha + ETA * adam_alpha(2 * E(X * y)), beta + ETA * adam_beta(E(y))
        assert_state(state, alpha, beta)


def test_bn_inc_printed_is_eq_3_8_and_3_9_as_printed():
    """α ← α + η·Adam(σ[x]), β ← β + η·Adam(E[x]) (thesis eq. 3.8–3.9 as printed)."""
    rule, state = start("bn_inc_printed")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    adam_alpha, adam_beta = Adam(alpha.shape), Adam(beta.shape)
    for _ in range(3):
        forward_and_update(rule, state, X, ETA)
        alpha, beta = alpha + ETA * adam_alpha(X.std(axis=1)), beta + ETA * adam_beta(E(X))
        assert_state(state, alpha, beta)


@pytest.mark.parametrize(("printed", "corrected"), [("ip_printed", "ip"), ("bn_inc_printed", "bn_inc")])
def test_printed_forms_never_settle_and_the_corrected_ones_do(printed, corrected):
    """On a fixed batch the corrected rule's α stops moving; the printed one's keeps growing by a sizeable
    fraction of η per update (Adam's step of a direction that keeps its sign is positive and at most ≈ 1; it is
    below 1 for IP because 2E[xy] shrinks as α grows while Adam's second moment remembers larger values)."""
    x = torch.from_numpy(np.random.default_rng(0).normal(5.0, 2.0, size=(1, 2000, 1)))
    alphas = {}
    for name in (printed, corrected):
        rule = get_rule(name)
        state = rule.init_state(1, 1, dtype=torch.float64)
        trace = []
        for _ in range(6000):
            y = torch.tanh(rule.transform(x, state, training=True))
            rule.update(state, x, y, 0.01)
            trace.append(float(state["alpha"]))
        alphas[name] = np.array(trace)
    assert abs(alphas[corrected][-1] - alphas[corrected][-1000]) < 0.05  # settled
    growth = alphas[printed][-1] - alphas[printed][-1000]
    assert 0.3 * 1000 * 0.01 < growth <= 1.01 * 1000 * 0.01  # still moving, by up to η per update


def test_bn_wd_mixes_in_batch_std_and_mean():
    rule, state = start("bn_wd")
    alpha, beta = ALPHA0.copy(), BETA0.copy()
    for _ in range(3):
        forward_and_update(rule, state, X, ETA)
        alpha, beta = (1 - ETA) * alpha + ETA * X.std(axis=1), (1 - ETA) * beta + ETA * E(X)
        assert_state(state, alpha, beta)


def test_triesch_gaussian_target_updates():
    mu, s = 0.1, 0.3
    rule, state = start("triesch", target_mean=mu, target_std=s)
    a, b = ALPHA0.copy(), BETA0.copy()
    for _ in range(3):
        y = affine_y(X, a, b)
        forward_and_update(rule, state, X, ETA)
        delta_b = -ETA * (-mu / s**2 + (y / s**2) * (2 * s**2 + 1 - y**2 + mu * y))
        delta_a = ETA / a[:, None, :] + delta_b * X
        a, b = a + E(delta_a), b + E(delta_b)
        assert_state(state, a, b)


def test_none_is_the_identity_and_never_moves():
    rule, state = start("none")
    y = forward_and_update(rule, state, X, ETA)
    np.testing.assert_allclose(y, np.tanh(X))
    assert_state(state, ALPHA0, BETA0, rtol=0)


# --- ip_hard, batchnorm --------------------------------------------------------------------------------


def test_ip_hard_sets_median_and_the_fixed_point_of_alpha():
    rule, state = start("ip_hard")
    xt = torch.from_numpy(X)
    rule.prepare(state, xt)
    median = np.median(X, axis=1)  # B = 5 is odd: the median is unambiguous
    np.testing.assert_allclose(state["beta"].numpy(), median)
    alpha = ALPHA0.copy()  # the fixed-point iteration α ← 2E[x·tanh((x−β)/α)], from the previous α
    for _ in range(rule.fixed_point_iterations):
        alpha = 2 * E(X * divide_y(X, alpha, median))
    np.testing.assert_allclose(state["alpha"].numpy(), alpha, rtol=1e-6)  # its tanh is 2σ(2u)−1
    for _ in range(30):  # on the same batch the iteration settles on α = 2E[xy]
        rule.prepare(state, xt)
    solved = state["alpha"].numpy()
    np.testing.assert_allclose(solved, 2 * E(X * divide_y(X, solved, median)), rtol=1e-5)
    before = {k: v.clone() for k, v in state.items() if isinstance(v, torch.Tensor)}
    rule.update(state, xt, torch.tanh(rule.transform(xt, state, training=True)), 0.0)
    for key, value in before.items():  # the update itself changes nothing: prepare did the work
        assert torch.equal(state[key], value)


def test_ip_hard_even_batch_uses_the_lower_middle_value():
    rule = get_rule("ip_hard")
    state = rule.init_state(1, 1, dtype=torch.float64)
    rule.prepare(state, torch.tensor([[[4.0], [1.0], [3.0], [2.0]]], dtype=torch.float64))
    assert float(state["beta"]) == 2.0


def test_ip_fixed_point_weighted_by_equal_weights_is_the_batch_fixed_point():
    """The weighted form (the home page's illustration) and the batch form (ip_hard) are one computation: equal
    weights give ip_hard's lower-middle median and the same α; a weighted median follows the weights."""
    from ipcore.engine.rules import ip_fixed_point

    x = torch.tensor([[[4.0, -1.0], [1.0, 0.5], [3.0, 2.0], [2.0, 7.0]]], dtype=torch.float64)  # even batch
    alpha0 = torch.ones(1, 2, dtype=torch.float64)
    alpha, beta = ip_fixed_point(x, alpha0, 20)
    weighted_alpha, weighted_beta = ip_fixed_point(x, alpha0, 20, weights=torch.ones_like(x))
    assert beta.tolist() == weighted_beta.tolist() == [[2.0, 0.5]]
    torch.testing.assert_close(weighted_alpha, alpha)
    heavy = torch.tensor([[[1.0], [1.0], [6.0], [1.0]]], dtype=torch.float64)  # most of the weight on x = 3
    _, beta = ip_fixed_point(x[..., :1], alpha0[:, :1], 1, weights=heavy)
    assert beta.item() == 3.0


def test_numpy_fixed_point_on_a_grid_agrees_with_the_engines():
    """The home page's torch-free fixed point (``ipcore.specs.fixed_point``) is the engine's weighted
    ``ip_fixed_point``: same β and α on a skewed density, on equal weights (ip_hard's batch form) and under
    uneven weights."""
    from ipcore.engine.rules import ip_fixed_point
    from ipcore.specs.fixed_point import ip_fixed_point_on_grid

    grid = np.linspace(-2.0, 9.0, 801)
    for density in (np.exp(-0.5 * ((grid - 3.0) / 1.2) ** 2), np.exp(-grid.clip(0)) * (grid > 0), np.ones_like(grid)):
        weights = density * np.gradient(grid)
        alpha, beta = ip_fixed_point(
            torch.as_tensor(grid)[:, None], torch.ones(1, dtype=torch.float64), 50,
            weights=torch.as_tensor(weights)[:, None],
        )  # fmt: skip
        np_alpha, np_beta = ip_fixed_point_on_grid(grid, weights, 50)
        assert np_beta == float(beta[0])
        assert np_alpha == pytest.approx(float(alpha[0]), rel=1e-12)
    sample = torch.tensor([4.0, 1.0, 3.0, 2.0, 7.5], dtype=torch.float64)
    alpha, beta = ip_fixed_point(sample[None, :, None], torch.ones(1, 1, dtype=torch.float64), 30)
    np_alpha, np_beta = ip_fixed_point_on_grid(sample.numpy(), np.ones(5), 30)
    assert (np_beta, np_alpha) == (float(beta), pytest.approx(float(alpha), rel=1e-12))


def test_batchnorm_matches_torch_batchnorm_in_training_and_evaluation():
    rule = get_rule("batchnorm")
    state = rule.init_state(2, 3, dtype=torch.float64)
    reference = [torch.nn.BatchNorm1d(3, eps=rule.eps, momentum=rule.momentum).double() for _ in range(2)]
    with torch.no_grad():
        for m, bn in enumerate(reference):
            gamma, shift = torch.tensor([1.5, 0.5, 2.0]) * (m + 1), torch.tensor([0.1, -0.3, 0.2]) * (m + 1)
            bn.weight.copy_(gamma)
            bn.bias.copy_(shift)
            state["gamma"][m] = gamma
            state["shift"][m] = shift
    xt = torch.from_numpy(X)
    for _ in range(3):  # training: batch statistics, running statistics move with momentum 0.1
        u = rule.transform(xt, state, training=True)
        rule.update(state, xt, torch.tanh(u), 0.0)
        for m, bn in enumerate(reference):
            bn.train()
            torch.testing.assert_close(u[m], bn(xt[m]))
            torch.testing.assert_close(state["running_mean"][m], bn.running_mean)
            torch.testing.assert_close(state["running_var"][m], bn.running_var)
    running_before = state["running_mean"].clone(), state["running_var"].clone()
    x_eval = xt * 0.5 + 1.0
    u_eval = rule.transform(x_eval, state, training=False)
    for m, bn in enumerate(reference):  # evaluation: running statistics, and nothing changes
        bn.eval()
        torch.testing.assert_close(u_eval[m], bn(x_eval[m]))
    assert torch.equal(state["running_mean"], running_before[0])
    assert torch.equal(state["running_var"], running_before[1])
    # α, β report the equivalent u = (x−β)/α of the evaluation transform: α = σ/γ, β = μ − bσ/γ
    alpha, beta = rule.effective_alpha_beta(state)
    u_divide = (x_eval - beta.unsqueeze(-2)) / alpha.unsqueeze(-2)
    torch.testing.assert_close(u_divide, u_eval.detach())


def test_batchnorm_affine_is_learned_by_backprop():
    rule = get_rule("batchnorm")
    assert rule.has_parameters
    state = rule.init_state(2, 3, dtype=torch.float64)
    loss = torch.tanh(rule.transform(torch.from_numpy(X), state, training=True)).square().sum()
    loss.backward()
    assert state["gamma"].grad is not None and state["gamma"].grad.abs().sum() > 0
    assert state["shift"].grad is not None and state["shift"].grad.abs().sum() > 0


# --- shared behaviour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in RULES if n != "batchnorm"])
def test_no_gradient_flows_into_alpha_beta_and_evaluation_changes_nothing(name):
    rule, state = start(name)
    x = torch.from_numpy(X).requires_grad_(True)
    u = rule.transform(x, state, training=False)
    u.sum().backward()  # x gets a gradient, α and β never do
    assert x.grad is not None
    assert not state["alpha"].requires_grad and not state["beta"].requires_grad
    assert_state(state, ALPHA0, BETA0, rtol=0)  # an evaluation pass leaves the state alone
    assert state["t"] == 0


@pytest.mark.parametrize("name", [n for n, cls in RULES.items() if cls.spec.has_eta])
def test_active_mask_freezes_members_completely(name):
    rule, free = start(name)
    rule, masked = start(name)
    forward_and_update(rule, free, X, ETA)
    forward_and_update(rule, masked, X, ETA, active=torch.tensor([True, False]))
    for key, value in masked.items():
        if not isinstance(value, torch.Tensor):
            continue
        torch.testing.assert_close(value[0], free[key][0], msg=f"active member, {key}")
        initial = start(name)[1][key][1]
        torch.testing.assert_close(value[1], initial, msg=f"frozen member, {key}")


@pytest.mark.parametrize("name", [n for n in RULES if n not in ("batchnorm", "ip_hard", "none")])
@pytest.mark.parametrize("masked", [False, True])
def test_a_step_count_held_as_a_float64_tensor_updates_to_the_same_bits(name, masked):
    """Where a CUDA graph replays the rule updates (``ipcore.engine.cuda_graphs.UpdateRunner``) the step count t is a float64
    number on the device, incremented in place: every rule updates to the same bits as with a Python int, also
    with the per-member mask of a GPU step, and η's decay (Infomax) follows t the same way."""
    rule = get_rule(name, eta_decay=0.01) if name == "infomax" else get_rule(name)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 40, 5, generator=generator) * 2 + 0.5
    y = torch.tanh(x)
    counted, held = rule.init_state(3, 5), rule.init_state(3, 5)
    held["t"] = torch.tensor(0.0, dtype=torch.float64)
    count = held["t"]
    active = torch.tensor([True, False, True]) if masked else None
    for _ in range(4):
        rule.update(counted, x, y, 0.05, active)
        rule.update(held, x, y, 0.05, active)
    assert held["t"] is count and count.item() == counted["t"] == 4  # in place: a replay reads the same tensor
    for key, value in counted.items():
        if key != "t":
            assert torch.equal(value, held[key]), key


def test_safe_alpha_floors_magnitude_and_keeps_sign():
    alpha = torch.tensor([0.0, 1e-9, -1e-9, -2.0, 3.0, float("nan")])
    floored = safe_alpha(alpha)
    expected = [ALPHA_FLOOR, ALPHA_FLOOR, -ALPHA_FLOOR, -2.0, 3.0]
    np.testing.assert_allclose(floored[:5].numpy(), expected, rtol=1e-6)
    assert math.isnan(float(floored[5]))  # non-finite α stays visible, it is never "repaired"


@pytest.mark.parametrize("name", [n for n, cls in RULES.items() if cls.form == "divide" and not cls.has_parameters])
def test_division_by_alpha_uses_the_floor_with_sign(name):
    rule, state = start(name)
    state["alpha"].copy_(torch.tensor([[0.0, -1e-12, -2.0], [1e-12, 0.5, -0.5]], dtype=torch.float64))
    u = rule.transform(torch.from_numpy(X), state, training=True).numpy()
    divisor = np.array([[1e-6, -1e-6, -2.0], [1e-6, 0.5, -0.5]])
    np.testing.assert_allclose(u, (X - BETA0[:, None, :]) / divisor[:, None, :])
    assert np.isfinite(u).all()


def test_registry_and_thesis_default_etas():
    assert list(RULES) == list(RULE_SPECS)  # every spec has its class, in the registry's order
    for name, cls in RULES.items():
        assert cls.name == name and cls.spec is RULE_SPECS[name] and cls.title == RULE_SPECS[name].title
        assert get_rule(name).has_eta == RULE_SPECS[name].has_eta
    for name in ("ip", "bn_inc", "infomax", "ip_printed", "bn_inc_printed"):
        assert default_eta(name, "network") == 1e-4
        assert default_eta(name, "neuron") == 1e-3
    for name in ("wd", "bn_wd"):
        assert default_eta(name, "network") == default_eta(name, "neuron") == 0.1
        assert RULES[name].weighted_decay
    for name in ("none", "ip_hard", "batchnorm"):
        assert not get_rule(name).has_eta
    for name, rule in RULES.items():
        assert rule.__doc__ or name == "none", f"{name} has no docstring with its equation"
        assert rule.equation and rule.source
    with pytest.raises(KeyError, match="known rules"):
        get_rule("nope")


def test_initial_state_is_alpha_one_beta_zero():
    for name in RULES:
        state = get_rule(name).init_state(4, 7)
        assert state["alpha"].shape == state["beta"].shape == (4, 7)
        assert torch.all(state["alpha"] == 1) and torch.all(state["beta"] == 0)
        assert state["t"] == 0
