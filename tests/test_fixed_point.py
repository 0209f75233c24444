"""Each rule's distance to its own fixed point: the rule method against an independent numpy computation, and
what training records per layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ipcore.config import TrainConfig
from ipcore.engine.rules import RULES, get_rule
from ipcore.training.loop import train

RNG = np.random.default_rng(3)
X = RNG.normal(1.0, 2.0, size=(2, 64, 3))
ALPHA = np.array([[0.8, 1.5, 2.0], [1.2, 0.5, 3.0]])
BETA = np.array([[0.3, -0.2, 1.0], [0.0, 0.1, -0.5]])


def targets(name: str, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The expected (|α − α*|, β criterion) per rule, written from each rule's stated fixed point."""
    exy, ey, ex = (X * y).mean(1), y.mean(1), X.mean(1)
    cov = exy - ex * ey
    if name in ("ip", "ip_printed", "ip_notebook"):
        return np.abs(ALPHA - 2 * exy), np.abs(ey)
    if name == "ip_cov":
        return np.abs(ALPHA - 2 * cov), np.abs(ey)
    if name == "wd":
        return np.abs(ALPHA - 2 * exy), np.abs(BETA - ey)
    if name == "wd_cov":
        return np.abs(ALPHA - 2 * cov), np.abs(BETA - ey)
    if name in ("bn_inc", "bn_inc_printed", "bn_wd"):
        return np.abs(ALPHA - X.std(1)), np.abs(BETA - ex)
    if name == "infomax":
        target = np.where(exy > 0, 1 / (2 * np.where(exy > 0, exy, 1)), np.nan)
        return np.abs(ALPHA - target), np.abs(ey)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["ip", "ip_printed", "ip_cov", "wd", "wd_cov", "bn_inc", "bn_inc_printed", "bn_wd",
                                  "infomax", "ip_notebook"])  # fmt: skip
def test_distance_to_the_rules_own_fixed_point(name):
    rule = get_rule(name)
    state = rule.init_state(2, 3, dtype=torch.float64)
    state["alpha"].copy_(torch.from_numpy(ALPHA))
    state["beta"].copy_(torch.from_numpy(BETA))
    x = torch.from_numpy(X)
    y = torch.tanh(rule.transform(x, state, training=True))
    d_alpha, d_beta = rule.fixed_point_distance(state, x, y)
    want_alpha, want_beta = targets(name, y.numpy())
    np.testing.assert_allclose(d_alpha.numpy(), want_alpha, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(d_beta.numpy(), want_beta, rtol=1e-10)


def test_rules_without_a_fixed_point_say_so():
    for name in ("none", "batchnorm", "triesch", "triesch_logistic"):
        rule = get_rule(name)
        state = rule.init_state(1, 2)
        x = torch.zeros(1, 4, 2)
        assert rule.fixed_point_distance(state, x, x) is None
    assert {n for n in RULES if n not in ("none", "batchnorm", "triesch", "triesch_logistic")} == {
        "ip", "ip_printed", "ip_cov", "wd", "wd_cov", "bn_inc", "bn_inc_printed", "bn_wd", "infomax", "ip_hard",
        "ip_logistic", "ip_notebook",
    }  # fmt: skip


def test_training_records_the_distance_per_layer_and_a_fast_rule_reaches_its_target():
    """η 0.1 for bn_inc: within 80 steps α closes in on σ[x] in every layer and β stays within a few η of E[x];
    `none` has no target (NaN); hard IP sets β to the batch median before the measurement (distance 0)."""
    config = TrainConfig(dataset="clusters", rules=["bn_inc", "none", "ip_hard"], depth=3, width=16, epochs=2,
                         seeds=2, eta={"bn_inc": 0.1}, device="cpu")  # fmt: skip
    metrics = train(config).metrics
    d_alpha, d_beta = metrics["layer/alpha_distance"], metrics["layer/beta_distance"]
    assert d_alpha.shape == d_beta.shape == metrics["layer/grad_y_u"].shape
    rules = np.asarray(metrics["members_rule"])
    bn, none, hard = rules == "bn_inc", rules == "none", rules == "ip_hard"
    assert np.isnan(d_alpha[:, none]).all() and np.isnan(d_beta[:, none]).all()
    assert np.allclose(d_beta[:, hard], 0, atol=1e-6)
    assert (d_alpha[-1, bn] < 0.25 * d_alpha[0, bn]).all()
    # β chases E[x] of each new batch with Adam steps of about η: it stays within a few η of it
    assert (d_beta[-1, bn] < 3 * 0.1).all()
