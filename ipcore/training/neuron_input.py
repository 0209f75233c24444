"""The single neuron's input: its fixed sample, its density and the neuron lab's preview, without torch.

The simulator (``ipcore.training.neuron``) and the neuron lab's preview draw the sample here, so both see the same
numbers. The built-in distributions are numpy (the same draws as ``scipy.stats``'s, see ``_Builtin``); a
distribution named from ``scipy.stats`` imports scipy when it is used. A page that previews a Gaussian thus loads
neither torch nor scipy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ipcore.config import BUILTIN_DISTS, ConfigError, NeuronConfig, scipy_distribution

SAMPLE_CHUNK = 32
"""At most this many samples of a slow scipy distribution are drawn between two checks for a stop
(``draw_sample``): chunks of 1, 2, 4, … up to it, so a slow distribution is noticed after a few samples."""


SLOW_SAMPLE_S = 1e-3
"""A distribution slower than this per sample (over its first chunks) is drawn in chunks to the end; a faster
one draws the rest in one call (a thousand times below the slow ones seen, e.g. studentized_range at ~0.1 s)."""


class _Builtin:
    """A built-in input distribution in numpy: ``rvs`` draws exactly what ``scipy.stats``'s frozen distribution
    draws from the same generator (standardised values × scale + loc; ``tests/test_neuron.py`` checks it bit for
    bit) and ``pdf`` is its density, so the neuron lab needs no scipy (2 s to import) for these."""

    def __init__(self, kind: str, loc: float, scale: float, shape: float = 0.0):
        self.kind, self.loc, self.scale, self.shape = kind, loc, scale, shape

    def rvs(self, size: int, random_state: np.random.Generator) -> np.ndarray:
        if self.kind == "uniform":
            standard = random_state.uniform(0.0, 1.0, size)
        elif self.kind == "norm":
            standard = random_state.standard_normal(size)
        elif self.kind == "laplace":
            standard = random_state.laplace(0, 1, size=size)
        else:  # lognorm: exp(s·z), scaled by e^μ
            standard = np.exp(self.shape * random_state.standard_normal(size))
        return standard * self.scale + self.loc

    def pdf(self, grid: np.ndarray) -> np.ndarray:
        z = (np.asarray(grid, dtype=np.float64) - self.loc) / self.scale
        if self.kind == "uniform":
            standard = np.where((z >= 0) & (z <= 1), 1.0, 0.0)
        elif self.kind == "norm":
            standard = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        elif self.kind == "laplace":
            standard = 0.5 * np.exp(-np.abs(z))
        else:  # lognorm with shape s: exp(−log²z / 2s²) / (s·z·√(2π)) for z > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                positive = np.where(z > 0, z, 1.0)
                standard = np.where(
                    z > 0,
                    np.exp(-0.5 * (np.log(positive) / self.shape) ** 2)
                    / (self.shape * positive * math.sqrt(2 * math.pi)),
                    0.0,
                )
        return standard / self.scale


def _frozen(config: NeuronConfig) -> Any:
    """The config's input distribution: a ``_Builtin`` (numpy) for the built-in ones, a frozen ``scipy.stats``
    one for a scipy name, None for the mixture (drawn in ``_draw``)."""
    d = config.dist
    if d == "uniform":
        return _Builtin("uniform", config.center - config.width / 2, config.width)
    if d == "gaussian":
        return _Builtin("norm", config.mu, config.sigma)
    if d == "laplace":
        return _Builtin("laplace", config.mu, config.b)
    if d == "lognormal":
        return _Builtin("lognorm", 0.0, math.exp(config.mu), config.sigma)
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
        a = _Builtin("norm", config.mu, config.sigma).pdf(grid)
        b = _Builtin("norm", config.mu2, config.sigma2).pdf(grid)
        return config.weight * a + (1 - config.weight) * b
    return _frozen(config).pdf(grid)


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
