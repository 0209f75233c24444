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
import scipy.stats
import torch

from ipcore.config import BUILTIN_DISTS, ConfigError, NeuronConfig, scipy_distribution
from ipcore.engine.activations import get_activation
from ipcore.engine.rules import make_rule
from ipcore.results.metrics_log import MetricsLog, RunResult
from ipcore.results.statistics import ENTROPY_BINS, entropy_from_counts, histogram_counts
from ipcore.training.resources import torch_threads

SAMPLE_HIST_BINS = 100
SAMPLE_CHUNK = 32
"""At most this many samples of a slow scipy distribution are drawn between two checks for a stop
(``draw_sample``): chunks of 1, 2, 4, … up to it, so a slow distribution is noticed after a few samples."""
SLOW_SAMPLE_S = 1e-3
"""A distribution slower than this per sample (over its first chunks) is drawn in chunks to the end; a faster
one draws the rest in one call (a thousand times below the slow ones seen, e.g. studentized_range at ~0.1 s)."""


def _frozen(config: NeuronConfig) -> Any:
    d = config.dist
    if d == "uniform":
        return scipy.stats.uniform(loc=config.center - config.width / 2, scale=config.width)
    if d == "gaussian":
        return scipy.stats.norm(loc=config.mu, scale=config.sigma)
    if d == "laplace":
        return scipy.stats.laplace(loc=config.mu, scale=config.b)
    if d == "lognormal":
        return scipy.stats.lognorm(s=config.sigma, scale=math.exp(config.mu))
    if d == "mixture":
        return None
    return scipy_distribution(d, config.params)


def draw_sample(
    config: NeuronConfig, should_stop: Callable[[], bool] | None = None, deadline: float | None = None
) -> np.ndarray | None:
    """The fixed input sample (float64, length ``n``) for a config's distribution and seed.

    A ``scipy.stats`` distribution by name is drawn from the one generator in chunks of 1, 2, 4, …
    ``SAMPLE_CHUNK`` samples (the same numbers whoever asks: the preview and the run), because some are slow —
    studentized_range takes about 0.1–0.3 s per sample, half an hour for 10 000 — and such work must stop when
    nobody waits for it: between chunks, ``should_stop()`` returning True ends the draw (None is returned), and
    past ``deadline`` (a ``time.monotonic()`` value) a ConfigError on ``dist`` says how slow it is. Once the
    first chunks show the distribution is fast (``SLOW_SAMPLE_S``), the rest comes in one call. A sample with
    values that are not finite or beyond ±``SAMPLE_LIMIT`` is a ConfigError (``check_sample``).
    """
    sample = _draw(config, should_stop, deadline)
    if sample is not None:
        check_sample(config, sample)
    return sample


SAMPLE_LIMIT = 1e18
"""The largest input magnitude a sample may hold: the unit computes in float32, where x² must stay finite."""


def check_sample(config: NeuronConfig, sample: np.ndarray) -> None:
    """A ConfigError (on ``params`` for a scipy distribution, else ``dist``) when the sample holds a value that is
    not finite or beyond ±``SAMPLE_LIMIT``: its median, mean and density could not be shown, nor a unit run on it."""
    finite = np.isfinite(sample)
    biggest = float(np.abs(sample[finite]).max()) if finite.any() else math.inf
    if finite.all() and biggest <= SAMPLE_LIMIT:
        return
    field = "dist" if config.dist in BUILTIN_DISTS or config.dist == "mixture" else "params"
    found = "values that are not finite" if not finite.all() else f"values as large as {biggest:.3g}"
    raise ConfigError(
        field, f"the {config.dist} sample holds {found}; inputs must stay within ±{SAMPLE_LIMIT:g} (float32 units)"
    )


def _draw(config: NeuronConfig, should_stop: Callable[[], bool] | None, deadline: float | None) -> np.ndarray | None:
    rng = np.random.default_rng(config.seed)
    if config.dist == "mixture":
        first = rng.random(config.n) < config.weight
        a = rng.normal(config.mu, config.sigma, config.n)
        b = rng.normal(config.mu2, config.sigma2, config.n)
        return np.where(first, a, b)
    frozen = _frozen(config)
    if config.dist in BUILTIN_DISTS:
        return np.asarray(frozen.rvs(size=config.n, random_state=rng), dtype=np.float64)
    chunks, drawn, started = [], 0, time.monotonic()
    while drawn < config.n:
        if should_stop is not None and should_stop():
            return None
        if deadline is not None and time.monotonic() > deadline:
            elapsed = time.monotonic() - started
            raise ConfigError(
                "dist",
                f"{config.dist} draws samples too slowly for this ({drawn:,} of {config.n:,} in "
                f"{_duration(elapsed)}; all would take about {_duration(elapsed / max(drawn, 1) * config.n)})",
            )
        fast = drawn >= 2 * SAMPLE_CHUNK and time.monotonic() - started < drawn * SLOW_SAMPLE_S
        size = config.n - drawn if fast else min(SAMPLE_CHUNK, 2 ** len(chunks), config.n - drawn)
        if fast and (should_stop is not None or deadline is not None):  # in steps that each take ~0.1 s or less
            per_sample = max((time.monotonic() - started) / drawn, 1e-9)
            size = min(config.n - drawn, max(2 * drawn, int(0.1 / per_sample)))
        chunks.append(np.asarray(frozen.rvs(size=size, random_state=rng), dtype=np.float64).reshape(-1))
        drawn += size
    return np.concatenate(chunks)


def _duration(seconds: float) -> str:
    """``0.4 µs``, ``12 ms``, ``3.1 s``, ``7 min``, ``5 h``: a time in the unit that shows it."""
    for unit, scale in (("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return f"{seconds / scale:.2g} {unit}"
    return f"{seconds * 1e6:.2g} µs"


def density(config: NeuronConfig, grid: np.ndarray) -> np.ndarray:
    """The input distribution's probability density on ``grid`` (for the live preview; see
    ``preview_density`` for a cost-bounded one)."""
    if config.dist == "mixture":
        a = scipy.stats.norm(config.mu, config.sigma).pdf(grid)
        b = scipy.stats.norm(config.mu2, config.sigma2).pdf(grid)
        return config.weight * a + (1 - config.weight) * b
    return _frozen(config).pdf(grid)


CHECK_S = 0.05
"""The simulator reports progress and checks for a stop every this many seconds of work."""
STOP_ROW_S = 0.25
"""On a stop, the iterations since the last recorded row get a row of their own only when making a row took at
most this long: one over 10⁷ samples and ten rules takes tens of seconds (a histogram of every rule's output),
and a stop must end the run in about a second (``ipcore.jobs.process.STOP_GRACE_S``). The rows before are kept."""
PREVIEW_BUDGET_S = 2.0
PREVIEW_POINTS = (50, 500)


PREVIEW_MARGIN_S = 0.5
"""Besides its budget, the preview's worker process may take this long to start and send its answer."""


def preview_density(config: NeuronConfig, budget_s: float = PREVIEW_BUDGET_S) -> dict[str, Any]:
    """``preview_in_place`` in a worker process that is ended after ``budget_s`` (+ ``PREVIEW_MARGIN_S``): no
    scipy call of unknown cost (a levy_stable draw, a slow density) holds the caller past its budget. A ConfigError
    on ``dist`` says why when there is no preview."""
    from ipcore.bounded import TimeLimitExceeded, WorkerError, call_with_time_limit

    try:
        return call_with_time_limit(preview_in_place, (config, budget_s), budget_s + PREVIEW_MARGIN_S)
    except TimeLimitExceeded:
        raise ConfigError("dist", f"{config.dist} is too slow to preview (more than {budget_s:g} s)") from None
    except WorkerError as error:
        raise ConfigError("dist", f"{config.dist} cannot be previewed ({error})") from None


def preview_in_place(config: NeuronConfig, budget_s: float = PREVIEW_BUDGET_S) -> dict[str, Any]:
    """What the neuron lab draws while the user types: the run's own sample (its median, mean and std are the
    ones the run will use) and the density on a grid spanning it (0.5–99.5 % quantiles, widened).

    The whole computation stays within about ``budget_s`` seconds, so a slow scipy distribution cannot tie up
    the server: the sample is drawn against a deadline, and the density's grid has as many points (50–500) as
    the remaining time allows at the measured cost per point. Too slow for even that: a ConfigError on ``dist``.
    """
    deadline = time.monotonic() + budget_s
    sample = draw_sample(config, deadline=deadline)
    assert sample is not None  # no should_stop was given
    low, high = np.quantile(sample, [0.005, 0.995])
    pad = 0.15 * (high - low) + 1e-9
    span = (min(low - pad, -1.5), max(high + pad, 1.5))
    probe_started = time.monotonic()
    density(config, np.linspace(*span, 4))
    per_point = (time.monotonic() - probe_started) / 4
    points = int(min(PREVIEW_POINTS[1], (deadline - time.monotonic()) / max(per_point, 1e-9)))
    if points < PREVIEW_POINTS[0]:
        raise ConfigError(
            "dist", f"{config.dist}'s density is too slow to preview (about {per_point * 1e3:.0f} ms per point)"
        )
    grid = np.linspace(*span, points)
    return {
        "grid": grid,
        "density": density(config, grid),
        "median": float(np.median(sample)),
        "mean": float(sample.mean()),
        "std": float(sample.std()),
        "ip_fixed_point": ip_fixed_point_of_sample(sample) if config.activation == "tanh" else None,
    }


def ip_fixed_point_of_sample(x: np.ndarray, tol: float = 1e-10, max_iter: int = 2000) -> tuple[float, float]:
    """IP's fixed point on a fixed sample: α = 2E[x·y] and E[y] = 0, y = tanh((x − β)/α) (thesis §5.1, §5.3).

    ``ip`` and ``ip_notebook`` both settle there (``ip_printed`` has no fixed point; the median β of
    ``rules.ip_fixed_point`` is its α → 0 approximation, Lemma 1). Solved by alternating a Newton step for β on
    E[tanh((x − β)/α)] = 0 (its β-derivative is −E[1 − y²]/α) with α ← 2E[x·y], until both move less than
    ``tol``."""
    x = np.asarray(x, dtype=float)
    alpha, beta = max(float(x.std()), 1e-6), float(np.median(x))
    for _ in range(max_iter):
        y = np.tanh((x - beta) / alpha)
        slope = max(float((1 - y * y).mean()), 1e-12)
        new_beta = beta + alpha * float(y.mean()) / slope
        new_alpha = 2 * float((x * np.tanh((x - new_beta) / alpha)).mean())
        done = abs(new_beta - beta) < tol and abs(new_alpha - alpha) < tol
        alpha, beta = new_alpha, new_beta
        if done:
            break
    return alpha, beta


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

    def record(iteration: int) -> None:
        nonlocal row_seconds
        row_started = time.monotonic()
        hists, alphas, betas, means = [], [], [], []
        for rule, state in zip(rules, states, strict=True):
            with torch.no_grad():
                y = activation.value(rule.transform(x, state, training=False))
            hists.append(histogram_counts(y.view(1, -1), ENTROPY_BINS)[0])
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

    record(0)
    state_name = "done"
    done = 0
    stride = config.record_stride()
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
            if it % stride == 0 or it == config.iters:
                record(it)
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
