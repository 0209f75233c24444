"""Output statistics shared by the single-neuron simulator and the networks.

Entropy of y ∈ (−1, 1) is the differential entropy in nats estimated from a density histogram on [−1, 1]
(thesis §5.2): with bin width Δ and densities pᵢ = countᵢ / (n·Δ), H = −Σ pᵢ log pᵢ Δ (0·log 0 = 0).
Its maximum, log 2 ≈ 0.693 nats, is reached by a uniform output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

ENTROPY_BINS = 100
ENTROPY_MAX = math.log(2.0)


def histogram_counts(y: torch.Tensor, bins: int) -> torch.Tensor:
    """Counts of y on [−1, 1] in ``bins`` equal bins, one histogram per leading index.

    ``y`` is ``[M, ...]``; returns ``[M, bins]`` (float). Values outside [−1, 1] (never for tanh) are clipped
    into the edge bins; non-finite values are not counted.
    """
    members = y.shape[0]
    flat = y.detach().reshape(members, -1)
    finite = torch.isfinite(flat)
    index = ((flat.clamp(-1, 1) + 1) * (bins / 2)).long().clamp_(0, bins - 1)
    index = index + torch.arange(members, device=y.device).unsqueeze(1) * bins
    counts = torch.zeros(members * bins, device=y.device, dtype=torch.float32)
    counts.index_add_(0, index[finite], torch.ones_like(index[finite], dtype=torch.float32))
    return counts.view(members, bins)


def entropy_from_counts(counts: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """H = −Σ pᵢ log pᵢ Δ from histogram counts on [−1, 1] (last axis = bins). NaN where a row is empty.

    With density pᵢ = nᵢ/(N·Δ), N = Σ nᵢ, this is log(N·Δ) − Σ nᵢ log nᵢ / N (0·log 0 = 0): the same value in five
    passes over the counts instead of nine (the training records take it on every unit's histogram). Any
    non-negative weights serve as counts (densities too: the result does not change with their scale)."""
    bins = counts.shape[-1]
    width = 2.0 / bins
    if isinstance(counts, torch.Tensor):
        counts = counts if counts.is_floating_point() else counts.float()  # whole-number counts as they come
        total = counts.sum(-1)
        # the smallest normal float keeps log finite where a count is 0, and 0 times it is 0
        n_log_n = counts.clamp(min=torch.finfo(counts.dtype).tiny).log_().mul_(counts).sum(-1)
        return (total * width).log_().sub_(n_log_n.div_(total))
    tiny = np.finfo(counts.dtype).tiny if np.issubdtype(counts.dtype, np.floating) else 1
    total = counts.sum(-1)
    # an empty row (every y non-finite) is 0/0: NaN, a recorded fact
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(total * width) - (counts * np.log(np.maximum(counts, tiny))).sum(-1) / total


def entropy(y: torch.Tensor, bins: int = ENTROPY_BINS) -> torch.Tensor:
    """Differential entropy of y in nats, one value per leading index (``[M, ...] -> [M]``)."""
    return entropy_from_counts(histogram_counts(y, bins))


def tanh_entropy_bound(dist: Any, bins: int = ENTROPY_BINS) -> dict[str, float]:
    """The largest output entropy a tanh unit y = tanh((x − β)/α) can reach on input ``dist`` (a frozen
    ``scipy.stats`` distribution, symmetric about its median so that β = median is optimal), over α.

    Two values: ``entropy`` is the true differential entropy at the best α, H(y) = H(x) − log α +
    E[log(1 − y²)] (change of variables, integrated with ``scipy.integrate.quad``); ``entropy_hist`` is what
    this module's estimator (``bins`` bins on [−1, 1]) reads for that output from an infinite sample, the
    figure to compare measured entropies with (binning smooths the density and so reads a little higher).
    Neither reaches log 2 for a Gaussian: a tanh of a Gaussian is never uniform. ``alpha_over_sigma`` is the
    best α in units of the input's standard deviation (for the estimator's optimum).
    """
    from scipy import integrate, optimize

    beta = float(dist.median())
    lo, hi = (float(v) for v in dist.support())
    lo, hi = max(lo, float(dist.ppf(1e-12))), min(hi, float(dist.ppf(1 - 1e-12)))
    sigma = float(dist.std())

    def true_entropy(alpha: float) -> float:
        def integrand(x: float) -> float:
            u = abs(x - beta) / alpha  # log(1 − tanh²u) = log 4 − 2|u| − 2·log(1 + e^(−2|u|)), stable for large |u|
            return float(dist.pdf(x)) * (math.log(4.0) - 2 * u - 2 * math.log1p(math.exp(-2 * u)))

        expected, _ = integrate.quad(integrand, lo, hi, limit=200, points=[beta])
        return float(dist.entropy()) - math.log(alpha) + expected

    def hist_entropy(alpha: float) -> float:
        edges = np.linspace(-1.0, 1.0, bins + 1)
        with np.errstate(divide="ignore"):
            probs = np.diff(dist.cdf(beta + alpha * np.arctanh(edges)))
        probs = probs[probs > 0]
        return float(-(probs * np.log(probs / (2.0 / bins))).sum())

    def maximise(entropy: Any) -> Any:
        # a grid first: the binned entropy of an input with a bounded support has local maxima
        grid = sigma * np.geomspace(0.1, 10, 100)
        i = int(np.argmax([entropy(a) for a in grid]))
        bounds = (grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)])
        return optimize.minimize_scalar(lambda a: -entropy(a), bounds=bounds, method="bounded")

    best_true, best_hist = maximise(true_entropy), maximise(hist_entropy)
    return {
        "entropy": float(-best_true.fun),
        "entropy_hist": float(-best_hist.fun),
        "alpha": float(best_hist.x),
        "alpha_over_sigma": float(best_hist.x / sigma),
        "beta": beta,
    }


def paired_difference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Paired comparison of two rules on the same seeds: d = a − b per seed, its mean, the ``confidence``
    t-interval of the mean and the paired t-test's two-sided p-value (``scipy.stats.ttest_rel``).

    ``n`` < 2 gives an unbounded interval (nothing can be concluded); identical differences give a zero-width
    interval at their value (p = 0 unless they are all 0, then p = 1).
    """
    from scipy import stats as sstats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "low": -math.inf, "high": math.inf, "p": math.nan}
    sem = float(d.std(ddof=1) / math.sqrt(n))
    if sem == 0:
        return {"n": n, "mean": mean, "low": mean, "high": mean, "p": 1.0 if mean == 0 else 0.0}
    half = float(sstats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    p = float(sstats.ttest_rel(a, b).pvalue)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "p": p}


def interval_verdict(low: float, high: float, side: str, threshold: float = 0.0) -> str:
    """The verdict on a claim about a difference from its confidence interval [low, high]: ``side`` "<" claims
    it lies below ``threshold``, ">" above. "reproduced" when the whole interval lies on the claimed side,
    "contradicted" when it lies wholly on the other, else "inconclusive" (an interval [0, 0] included)."""
    below, above = high < threshold, low > threshold
    if side == "<":
        return "reproduced" if below else "contradicted" if above else "inconclusive"
    if side == ">":
        return "reproduced" if above else "contradicted" if below else "inconclusive"
    raise ValueError(f"side must be '<' or '>' (got {side!r})")


def equivalence_verdict(low: float, high: float, margin: float) -> str:
    """A claim that two things are about equal (|d| ≤ ``margin``): "reproduced" when the interval lies inside
    (−margin, margin), "contradicted" when it lies wholly outside it, else "inconclusive"."""
    if -margin < low and high < margin:
        return "reproduced"
    if low > margin or high < -margin:
        return "contradicted"
    return "inconclusive"
