"""The single-neuron simulator (thesis §5.2): the thesis's claims for gaussian(5, 2), every distribution,
the recorded trace, cancelling, and numerical faults recorded rather than raised."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

import ipcore.config
from ipcore.config import ConfigError, NeuronConfig
from ipcore.engine.rules import RULES
from ipcore.results.metrics_log import MetricsLog
from ipcore.results.statistics import ENTROPY_BINS, ENTROPY_MAX, entropy_from_counts
from ipcore.training.neuron import density, draw_sample, simulate

ROOT = Path(__file__).resolve().parent.parent

LOG2 = math.log(2)


@pytest.fixture(scope="module")
def gaussian_5_2():
    """The thesis's comparison, at full size: N = 10 000 samples of N(5, 2²), 10 000 iterations per rule."""
    config = NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=["ip", "wd", "infomax", "bn_inc"])
    assert (config.n, config.iters) == (10_000, 10_000)
    result = simulate(config)
    return result, {entry["rule"]: entry for entry in result.summary["rules"]}


def test_ip_centres_on_the_median_and_makes_the_output_uniform(gaussian_5_2):
    result, rules = gaussian_5_2
    median = result.summary["sample"]["median"]
    assert median == pytest.approx(np.median(draw_sample(result.config)))
    assert abs(rules["ip"]["beta"] - median) <= 0.1
    assert abs(rules["ip"]["entropy"] - LOG2) <= 0.02
    assert abs(rules["ip"]["mean_y"]) < 0.01


def test_infomax_reaches_ip_entropy(gaussian_5_2):
    _, rules = gaussian_5_2
    assert abs(rules["infomax"]["entropy"] - rules["ip"]["entropy"]) <= 0.02


def test_incremental_bn_stays_below_ip(gaussian_5_2):
    result, rules = gaussian_5_2
    assert rules["bn_inc"]["entropy"] < rules["ip"]["entropy"]
    # it standardises: α → σ[x], β → E[x] (thesis eq. 3.8–3.9)
    assert rules["bn_inc"]["alpha"] == pytest.approx(float(result.metrics["sample_std"]), abs=0.05)
    assert rules["bn_inc"]["beta"] == pytest.approx(result.summary["sample"]["mean"], abs=0.05)


def test_wd_cannot_centre_an_input_with_median_5(gaussian_5_2):
    _, rules = gaussian_5_2
    assert abs(rules["wd"]["beta"]) <= 1  # its fixed point is E[y] ∈ (−1, 1)
    assert rules["wd"]["entropy"] < rules["ip"]["entropy"] - 0.5


def test_trace_is_complete_and_consistent(gaussian_5_2):
    result, rules = gaussian_5_2
    m, config = result.metrics, result.config
    rows = config.iters // config.record_every + 1
    assert m["trace/iter"].tolist() == list(range(0, config.iters + 1, config.record_every))
    for key in ("alpha", "beta", "mean_y", "entropy", "alpha_nonpositive"):
        assert m[f"trace/{key}"].shape == (rows, 4), key
    assert m["trace/hist"].shape == (rows, 4, ENTROPY_BINS)
    # the histograms are densities on [−1, 1] and their entropy is the recorded one
    np.testing.assert_allclose(m["trace/hist"].sum(-1) * (2 / ENTROPY_BINS), 1.0, rtol=1e-5)
    np.testing.assert_allclose(entropy_from_counts(m["trace/hist"].astype(np.float64)), m["trace/entropy"], atol=1e-5)
    assert (m["trace/entropy"] <= ENTROPY_MAX + 1e-9).all()
    # row 0 is before any update: α = 1, β = 0, y = tanh(x) for the divide rules
    np.testing.assert_array_equal(m["trace/alpha"][0], 1.0)
    np.testing.assert_array_equal(m["trace/beta"][0], 0.0)
    # the summary is the last row
    for i, name in enumerate(config.rules):
        assert rules[name]["alpha"] == pytest.approx(m["trace/alpha"][-1, i])
        assert rules[name]["entropy"] == pytest.approx(m["trace/entropy"][-1, i])
        assert rules[name]["entropy_max"] == pytest.approx(LOG2)
        assert rules[name]["alpha_nonpositive"] == 0 and rules[name]["nonfinite"] is False
    assert m["rules"].tolist() == config.rules
    np.testing.assert_allclose(m["etas"], [1e-3, 0.1, 1e-3, 1e-3])
    sample = draw_sample(config)
    assert float(m["sample_mean"]) == pytest.approx(sample.mean())
    widths = np.diff(m["sample_edges"])
    assert (m["sample_hist"] * widths).sum() == pytest.approx(1.0)
    assert result.state == "done" and result.summary["iters"] == config.iters


def test_entropy_rises_under_ip(gaussian_5_2):
    result, _ = gaussian_5_2
    ip = result.metrics["trace/entropy"][:, 0]
    assert ip[-1] > ip[0] + 1.0  # tanh(x) of N(5, 2) is nearly constant at 1: very low entropy at the start


def test_triesch_drives_the_output_to_its_gaussian_target():
    # Schrauwen et al.'s tanh rule makes y ≈ N(μ, s²) (Schrauwen et al. 2008), not uniform: here μ = 0.1, s = 0.3.
    config = NeuronConfig(mu=5.0, sigma=2.0, n=2000, rules=["triesch"], triesch_mean=0.1, triesch_std=0.3)
    entry = simulate(config.replace(record_every=500)).summary["rules"][0]
    y = np.tanh(entry["alpha"] * draw_sample(config) + entry["beta"])
    assert y.mean() == pytest.approx(0.1, abs=0.02)
    assert y.std() == pytest.approx(0.3, abs=0.02)


DISTRIBUTIONS = [
    NeuronConfig(dist="uniform", center=3.0, width=2.0),
    NeuronConfig(dist="gaussian", mu=-1.0, sigma=0.5),
    NeuronConfig(dist="laplace", mu=2.0, b=0.5),
    NeuronConfig(dist="lognormal", mu=0.5, sigma=0.4),
    NeuronConfig(dist="mixture", mu=-2.0, sigma=0.5, mu2=3.0, sigma2=1.0, weight=0.3),
    NeuronConfig(dist="gamma", params={"a": 2.0, "scale": 1.5}),
    NeuronConfig(dist="t", params={"df": 4.0, "loc": 1.0}),
]


@pytest.mark.parametrize("base", DISTRIBUTIONS, ids=lambda c: c.dist)
def test_every_distribution_draws_the_right_sample_and_runs_every_rule(base):
    tanh_rules = [name for name, rule in RULES.items() if "tanh" in rule.activations]
    config = base.replace(n=4000, iters=30, record_every=10, rules=tanh_rules)
    sample = draw_sample(config)
    assert sample.shape == (4000,) and np.isfinite(sample).all()
    np.testing.assert_array_equal(sample, draw_sample(config))  # drawn once, reproducibly from the seed
    assert not np.array_equal(sample, draw_sample(config.replace(seed=1)))
    expected_median = {
        "uniform": 3.0,
        "gaussian": -1.0,
        "laplace": 2.0,
        "lognormal": math.exp(0.5),
        "gamma": scipy.stats.gamma(a=2.0, scale=1.5).median(),
        "t": 1.0,
    }
    if config.dist in expected_median:
        assert np.median(sample) == pytest.approx(expected_median[config.dist], abs=0.1)
    if config.dist == "uniform":
        assert sample.min() >= 2.0 and sample.max() <= 4.0
    if config.dist == "mixture":
        assert sample.mean() == pytest.approx(0.3 * -2.0 + 0.7 * 3.0, abs=0.1)
        assert (sample < 0.5).mean() == pytest.approx(0.3, abs=0.03)
    grid = np.linspace(sample.min() - 5, sample.max() + 5, 20_001)
    assert scipy.integrate.trapezoid(density(config, grid), grid) == pytest.approx(1.0, abs=0.02)

    result = simulate(config)
    assert result.state == "done"
    assert result.metrics["trace/entropy"].shape == (4, len(tanh_rules))
    assert np.isfinite(result.metrics["trace/entropy"]).all()
    assert [entry["rule"] for entry in result.summary["rules"]] == tanh_rules


def test_cancel_keeps_what_was_recorded():
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 3

    config = NeuronConfig(n=500, iters=1000, record_every=7, rules=["ip", "wd"])
    result = simulate(config, should_stop=should_stop)
    assert result.state == "cancelled"
    done = result.summary["iters"]
    assert 0 < done < config.iters
    iters = result.metrics["trace/iter"]
    # the last whole state is recorded even between strides; a stop between two rules of one iteration (the
    # check runs by the clock) keeps the last stride's row, where every rule is at the same iteration
    assert iters[0] == 0 and (iters[-1] == done or (iters[-1] % 7 == 0 and done - iters[-1] < 7))
    assert all(i % 7 == 0 for i in iters[:-1])
    assert result.metrics["trace/alpha"].shape == (len(iters), 2)
    assert np.isfinite(result.metrics["trace/entropy"]).all()


def test_progress_and_live_log(monkeypatch):
    from ipcore.training import neuron as neuron_module

    monkeypatch.setattr(neuron_module, "CHECK_S", 0.0)  # progress is reported by the clock: at every check here
    fractions = []
    log = MetricsLog()
    simulate(NeuronConfig(n=200, iters=500, record_every=50, rules=["ip"]), progress=fractions.append, log=log)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions.count(1.0) == 1
    assert len(fractions) > 2
    assert log.rows("trace") == 11  # the caller's log received every row


def test_alpha_nonpositive_is_counted_and_the_run_survives():
    # Infomax with η = 1 overshoots: α ← α + (1/α − 2E[xy]) with E[xy] ≈ 5 makes α negative at once.
    config = NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=["infomax", "ip"], eta={"infomax": 1.0})
    config = config.replace(n=500, iters=40, record_every=1)
    result = simulate(config)
    counts = result.metrics["trace/alpha_nonpositive"][:, 0]
    alphas = result.metrics["trace/alpha"][:, 0]
    # record_every = 1: the count after iteration t is the number of updates so far that left α ≤ 0
    expected = np.concatenate([[0], np.cumsum(alphas[1:] <= 0)])
    np.testing.assert_array_equal(counts, expected)
    assert counts[-1] > 0
    assert result.summary["rules"][0]["alpha_nonpositive"] == counts[-1]
    assert result.summary["rules"][1]["alpha_nonpositive"] == 0


def test_non_finite_state_is_reported_not_raised():
    # Infomax with η = 1e38 on N(5, 2): the first update α + η(1/α − 2E[xy]) ≈ 1 − 9e38 overflows float32
    config = NeuronConfig(mu=5.0, sigma=2.0, n=100, iters=20, record_every=1, rules=["infomax"], eta={"infomax": 1e38})
    result = simulate(config)
    entry = result.summary["rules"][0]
    assert entry["nonfinite"] is True
    assert entry["alpha"] is None or entry["beta"] is None  # JSON-safe: non-finite values become null


def test_recorded_rows_are_capped(monkeypatch):
    monkeypatch.setattr(ipcore.config, "MAX_RECORDS", 10)
    result = simulate(NeuronConfig(n=50, iters=100, record_every=1, rules=["none"]))
    assert result.metrics["trace/iter"].tolist() == list(range(0, 101, 10))


def test_sample_beyond_float32_is_a_config_error():
    with pytest.raises(ConfigError, match="float32"):
        simulate(NeuronConfig(dist="lognormal", mu=100.0, sigma=1.0, n=100, iters=1))


def test_torch_thread_count_is_restored():
    before = torch.get_num_threads()
    simulate(NeuronConfig(n=50, iters=5, rules=["ip"]))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("lib", ["torch", "torch-int", "numpy", "numpy-int"])
def test_entropy_from_counts_is_minus_sum_p_log_p_times_the_bin_width(lib):
    """The five-pass form log(NΔ) − Σ n log n / N against the definition −Σ pᵢ log pᵢ Δ, pᵢ = nᵢ/(NΔ): whole
    counts with empty bins, densities (weights below 1; whole counts for integer arrays), a one-bin spike
    (entropy log Δ), an empty row (NaN)."""
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9, size=(6, 20)).astype(np.float64)
    counts[0, :5] = 0
    counts[1] = rng.random(20) * 0.3  # densities
    counts[2] = 0
    counts[2, 7] = 200  # everything in one bin
    counts[3] = 0  # empty
    if lib.endswith("int"):
        counts[1] = np.round(counts[1] * 30)
    width = 2 / 20
    with np.errstate(invalid="ignore", divide="ignore"):
        density = counts / (counts.sum(-1, keepdims=True) * width)
        expected = -(np.where(density > 0, density * np.log(np.where(density > 0, density, 1)), 0)).sum(-1) * width
    expected[3] = np.nan
    if lib.endswith("int"):
        counts = counts.astype(np.int64)
    given = torch.tensor(counts, dtype=torch.float32 if lib == "torch" else None) if lib.startswith("torch") else counts
    got = np.asarray(entropy_from_counts(given), dtype=np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got[2] == pytest.approx(math.log(width), abs=1e-6)
    assert np.isnan(got[3])


@pytest.mark.parametrize(
    "settings, frozen",
    [
        ({"dist": "gaussian", "mu": 5.0, "sigma": 2.0}, lambda s: s.norm(loc=5.0, scale=2.0)),
        ({"dist": "uniform", "center": 1.0, "width": 3.0}, lambda s: s.uniform(loc=-0.5, scale=3.0)),
        ({"dist": "laplace", "mu": -1.0, "b": 0.7}, lambda s: s.laplace(loc=-1.0, scale=0.7)),
        ({"dist": "lognormal", "mu": 0.3, "sigma": 0.8}, lambda s: s.lognorm(s=0.8, scale=math.exp(0.3))),
    ],
)
def test_builtin_inputs_are_scipys_draws_and_densities_without_scipy(settings, frozen):
    """The built-in distributions are numpy (the neuron lab loads no scipy for them): the very sample
    ``scipy.stats`` draws from the same seed, and its density."""
    config = NeuronConfig(**settings, n=5001, seed=11)
    reference = frozen(scipy.stats)
    expected = reference.rvs(size=config.n, random_state=np.random.default_rng(config.seed))
    np.testing.assert_array_equal(draw_sample(config), expected)
    grid = np.linspace(-6.0, 12.0, 997)
    np.testing.assert_allclose(density(config, grid), reference.pdf(grid), rtol=1e-12, atol=1e-300)


def test_previewing_a_builtin_input_loads_neither_torch_nor_scipy():
    code = (
        "import sys; from ipcore.config import NeuronConfig; from ipcore.training.neuron_input import preview_in_place;"
        "shown = preview_in_place(NeuronConfig(dist='lognormal', mu=1.0, sigma=0.5));"
        "assert shown['grid'].size >= 50 and shown['ip_fixed_point'];"
        "print(sorted(m for m in ('torch', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
