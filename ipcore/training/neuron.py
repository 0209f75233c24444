"""The single-neuron simulator (thesis §5.2): watch one tanh (or logistic) unit's output become uniform.

A fixed sample of N inputs is drawn once; every chosen rule runs ``iters`` full-batch iterations on that same
sample (y = tanh(u) — or σ(u) with ``activation`` logistic — then the rule's update from the sample's statistics). Every ``record_every`` iterations
we record α, β, E[y], the entropy of y (100-bin density histogram on [−1, 1], maximum log 2) and the output
histogram itself, so the app can animate the output toward uniform.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ipcore.config import ConfigError, NeuronConfig
from ipcore.engine.activations import get_activation
from ipcore.engine.rules import make_rule
from ipcore.results.metrics_log import MetricsLog, RunResult
from ipcore.results.statistics import ENTROPY_BINS, entropy_from_counts, histogram_counts
from ipcore.training.neuron_input import (  # noqa: F401  (the sample and preview live there, without torch)
    PREVIEW_BUDGET_S,
    PREVIEW_MARGIN_S,
    PREVIEW_POINTS,
    SAMPLE_CHUNK,
    SAMPLE_LIMIT,
    SLOW_SAMPLE_S,
    _duration,
    check_sample,
    density,
    draw_sample,
    ip_fixed_point_of_sample,
    preview_density,
    preview_in_place,
)
from ipcore.training.resources import torch_threads

SAMPLE_HIST_BINS = 100


CHECK_S = 0.05
"""The simulator reports progress and checks for a stop every this many seconds of work."""
STOP_ROW_S = 0.25
"""On a stop, the iterations since the last recorded row get a row of their own only when making a row took at
most this long: one over 10⁷ samples and ten rules takes tens of seconds (a histogram of every rule's output),
and a stop must end the run in about a second (``ipcore.jobs.process.STOP_GRACE_S``). The rows before are kept."""
ROW_CHUNK = 1 << 20
"""A row over more samples than this is made in chunks of this many, looking for a stop (every ``CHECK_S``)
between them and between rules: one rule's histogram over 10⁷ samples takes 1–2 s on a busy 2-core machine, a
ten-rule row ~20 s, and a stop that lands in it would otherwise wait for the process to be killed
(``STOP_GRACE_S``). A stopped row is dropped, like the row a killed process was making; counts summed over chunks
are the counts of the whole (whole numbers in float32, exact below 2²⁴ samples: ``NeuronConfig.n`` ≤ 10⁷)."""


def one_torch_thread() -> contextlib.AbstractContextManager[None]:
    """torch on one intra-op thread while simulating: the simulator runs thousands of tiny operations, and
    splitting them over threads only adds synchronisation (on a busy 2-core machine two threads made a
    4-rule comparison about 3× slower)."""
    return torch_threads(1)


def simulate(
    config: NeuronConfig,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: MetricsLog | None = None,
) -> RunResult:
    """Run every rule of ``config`` on one fixed sample; returns the recorded metrics and a summary.

    ``progress(fraction)`` is called now and then; ``should_stop()`` is checked every few iterations and ends
    the run early (state "cancelled", what was recorded kept). ``log`` receives the trace as it grows.
    Recorded table ``trace``: ``iter`` [T], ``alpha``/``beta``/``mean_y``/``entropy``/``alpha_nonpositive``
    [T, R] and ``hist`` [T, R, 100] (output densities on [−1, 1]), R = number of rules.
    """
    with one_torch_thread():
        return _simulate(config, progress, should_stop, log)


def _simulate(
    config: NeuronConfig,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
    log: MetricsLog | None,
) -> RunResult:
    started = time.perf_counter()
    log = log if log is not None else MetricsLog()
    sample = draw_sample(config, should_stop=should_stop)
    if sample is None:  # stopped while drawing a slow distribution's sample: nothing was simulated yet
        return RunResult(config=config, metrics=log.snapshot(), summary={}, state="cancelled")
    x = torch.from_numpy(sample).to(torch.float32).view(1, -1, 1)
    if not torch.isfinite(x).all():
        raise ConfigError("dist", "the sample has values beyond float32's range (±3.4e38); choose milder parameters")
    edges = np.linspace(sample.min(), sample.max(), SAMPLE_HIST_BINS + 1)
    sample_counts, _ = np.histogram(sample, bins=edges)
    log.set_static(
        rules=np.array(config.rules),
        etas=np.array([config.etas()[r] for r in config.rules]),
        sample_median=np.median(sample),
        sample_mean=sample.mean(),
        sample_std=sample.std(),
        sample_hist=sample_counts / (len(sample) * np.diff(edges)),
        sample_edges=edges,
    )

    etas = config.etas()
    activation = get_activation(config.activation)  # y = f(u): tanh (the thesis) or logistic
    rules = [make_rule(name, config) for name in config.rules]
    states = [rule.init_state(1, 1) for rule in rules]
    nonpositive = [torch.zeros((1, 1), dtype=torch.int64) for _ in rules]  # how often α ≤ 0 after an update

    row_seconds = 0.0  # what the latest row took to make
    chunked = x.shape[1] > ROW_CHUNK

    def record(iteration: int) -> bool:
        """Append the row of ``iteration``; False when a stop came while it was made (the row is dropped)."""
        nonlocal row_seconds
        row_started = time.monotonic()
        hists, alphas, betas, means = [], [], [], []
        for index, (rule, state) in enumerate(zip(rules, states, strict=True)):
            if chunked and index and stop_now(iteration):
                return False
            with torch.no_grad():
                y = activation.value(rule.transform(x, state, training=False))
            flat = y.view(1, -1)
            counts = histogram_counts(flat[:, :ROW_CHUNK], ENTROPY_BINS)[0]
            for start in range(ROW_CHUNK, flat.shape[1], ROW_CHUNK):
                if stop_now(iteration):
                    return False
                counts += histogram_counts(flat[:, start : start + ROW_CHUNK], ENTROPY_BINS)[0]
            hists.append(counts)
            alpha, beta = rule.effective_alpha_beta(state)
            alphas.append(float(alpha))
            betas.append(float(beta))
            means.append(float(y.mean()))
        counts = torch.stack(hists).numpy().astype(np.float64)
        with np.errstate(invalid="ignore"):  # a rule whose y is all NaN has an empty histogram: NaN densities
            densities = counts / (counts.sum(-1, keepdims=True) * (2.0 / ENTROPY_BINS))
        log.append(
            "trace",
            iter=iteration,
            alpha=np.array(alphas),
            beta=np.array(betas),
            mean_y=np.array(means),
            entropy=entropy_from_counts(counts),
            alpha_nonpositive=np.array([int(c) for c in nonpositive]),
            hist=densities.astype(np.float32),
        )
        row_seconds = time.monotonic() - row_started
        return True

    last_check = time.monotonic()

    def stop_now(progressed: float) -> bool:
        """Report progress and ask for a stop every ``CHECK_S`` of work (by the clock, not by iterations: one
        iteration over 10⁷ samples and ten rules takes seconds, ten thousand small ones a blink)."""
        nonlocal last_check
        now = time.monotonic()
        if now - last_check < CHECK_S:
            return False
        last_check = now
        if progress is not None:
            progress(progressed / config.iters)
        return should_stop is not None and should_stop()

    if not record(0):  # stopped before the first row was made: nothing to summarize
        return RunResult(config=config, metrics=log.snapshot(), summary={}, state="cancelled")
    state_name = "done"
    done = 0
    stride = config.record_stride()

    with torch.inference_mode():
        for it in range(1, config.iters + 1):
            for index, (rule, state, count) in enumerate(zip(rules, states, nonpositive, strict=True)):
                if index and stop_now(it - 1 + index / len(rules)):  # mid-iteration: keep only whole ones
                    state_name = "cancelled"
                    break
                rule.prepare(state, x)
                y = activation.value(rule.transform(x, state, training=True))
                rule.update(state, x, y, etas[rule.name])
                count += state["alpha"] <= 0
            if state_name == "cancelled":
                break
            done = it
            if (it % stride == 0 or it == config.iters) and not record(it):
                state_name = "cancelled"
                break
            if it < config.iters and stop_now(it):
                state_name = "cancelled"
                break
    last_row = done % stride != 0 and done != config.iters
    if state_name == "cancelled":  # only whole iterations, and only when a row is quick to make (STOP_ROW_S)
        last_row = last_row and done == it and row_seconds <= STOP_ROW_S
    if last_row:
        record(done)
    if progress is not None and state_name == "done":
        progress(1.0)

    metrics = log.snapshot()
    summary = summarize(config, metrics, time.perf_counter() - started, done)
    return RunResult(config=config, metrics=metrics, summary=summary, state=state_name)


def entropy_max(activation: str) -> float:
    """The largest differential entropy of the unit's output, that of the uniform density on its range:
    log 2 for tanh on (−1, 1), 0 for the logistic function on (0, 1)."""
    unit = get_activation(activation)
    return math.log(unit.high - unit.low)


def target_density(activation: str, grid: np.ndarray, mean: float) -> np.ndarray:
    """The maximum-entropy output density the neuron lab draws beside the output: for tanh and, without a mean
    constraint, for the logistic function the uniform on the output range; for the logistic unit with the mean μ
    that Triesch's rule aims at (``mean`` not None), the exponential λe^(−λy) truncated to (0, 1) whose mean is μ
    (the maximum-entropy density on (0, 1) with that mean; μ → 0 gives λ ≈ 1/μ, Triesch 2005)."""
    unit = get_activation(activation)
    inside = (grid >= unit.low) & (grid <= unit.high)
    if activation != "logistic" or mean is None or mean >= 0.5:  # μ = ½ is the uniform's own mean
        return np.where(inside, 1.0 / (unit.high - unit.low), 0.0)
    rate = truncated_exponential_rate(mean)
    return np.where(inside, rate * np.exp(-rate * grid) / -np.expm1(-rate), 0.0)


def truncated_exponential_rate(mean: float) -> float:
    """λ of the exponential density truncated to (0, 1) whose mean 1/λ − 1/(e^λ − 1) is ``mean`` ∈ (0, ½)."""
    from scipy import optimize

    if not 0 < mean < 0.5:
        raise ValueError(f"mean must lie in (0, 0.5) (got {mean})")
    if mean < 1 / 700:  # truncation no longer matters: the plain exponential's rate
        return 1 / mean
    # the mean falls from ½ (λ → 0) to 1/λ for large λ; e^λ overflows beyond ~709, where the mean is 1/λ anyway
    return float(optimize.brentq(lambda lam: 1 / lam - 1 / math.expm1(lam) - mean, 1e-9, 700.0))


def summarize(config: NeuronConfig, metrics: dict[str, np.ndarray], seconds: float, iters_done: int) -> dict:
    """The CLI's JSON: the sample and each rule's final values."""

    def number(v: Any) -> float | None:
        v = float(v)
        return v if math.isfinite(v) else None

    last = -1
    rules = []
    for i, name in enumerate(config.rules):
        alpha, beta = metrics["trace/alpha"][last, i], metrics["trace/beta"][last, i]
        rules.append(
            {
                "rule": name,
                "eta": float(metrics["etas"][i]),
                "alpha": number(alpha),
                "beta": number(beta),
                "entropy": number(metrics["trace/entropy"][last, i]),
                "entropy_max": entropy_max(config.activation),
                "mean_y": number(metrics["trace/mean_y"][last, i]),
                "alpha_nonpositive": int(metrics["trace/alpha_nonpositive"][last, i]),
                "nonfinite": not (math.isfinite(float(alpha)) and math.isfinite(float(beta))),
            }
        )
    return {
        "sample": {
            "n": config.n,
            "median": float(metrics["sample_median"]),
            "mean": float(metrics["sample_mean"]),
        },
        "rules": rules,
        "iters": iters_done,
        "seconds": round(seconds, 3),
    }
