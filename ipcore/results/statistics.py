"""Output statistics shared by the single-neuron simulator and the networks.

Entropy of y ∈ (−1, 1) is the differential entropy in nats estimated from a density histogram on [−1, 1]
(thesis §5.2): with bin width Δ and densities pᵢ = countᵢ / (n·Δ), H = −Σ pᵢ log pᵢ Δ (0·log 0 = 0).
Its maximum, log 2 ≈ 0.693 nats, is reached by a uniform output.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is counted: the gallery's verdicts need numpy only
    import torch

ENTROPY_BINS = 100
ENTROPY_MAX = math.log(2.0)


def histogram_counts(y: torch.Tensor, bins: int) -> torch.Tensor:
    """Counts of y on [−1, 1] in ``bins`` equal bins, one histogram per leading index.

    ``y`` is ``[M, ...]``; returns ``[M, bins]`` (float). Values outside [−1, 1] (never for tanh) are clipped
    into the edge bins; non-finite values are not counted.
    """
    import torch

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
    if not isinstance(counts, np.ndarray):  # a tensor (torch is loaded, then)
        import torch

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
    E[log(1 − y²)] (change of variables, integrated by Simpson's rule on a fine grid); ``entropy_hist`` is what
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

    # E[log(1 − y²)] on a fixed grid: the density is read once (not at every quadrature point of every α);
    # Simpson's rule on each side of β, where |x − β| has its kink, is exact to ~1e-10 here.
    sides = [np.linspace(lo, beta, 4001), np.linspace(beta, hi, 4001)]
    densities = [dist.pdf(x) for x in sides]

    def true_entropy(alpha: float) -> float:
        expected = 0.0
        for x, density in zip(sides, densities, strict=True):
            u = np.abs(x - beta) / alpha  # log(1 − tanh²u) = log 4 − 2|u| − 2·log(1 + e^(−2|u|)), stable for large |u|
            expected += float(integrate.simpson(density * (math.log(4.0) - 2 * u - 2 * np.log1p(np.exp(-2 * u))), x=x))
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


# --- verdicts: a location claimed inside (lo, hi), by a t-test and by rank tests -------------------------

ALPHA = 0.05
"""The level every verdict is held to, after Holm's correction within an entry (``holm``)."""


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values: sorted ascending, the i-th (from 0) of m is multiplied
    by m − i, made non-decreasing and capped at 1 (Holm 1979). NaN p-values (no test) stay NaN and do not count in
    m. Rejecting where the adjusted p < α keeps the family-wise error at α."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m, running = len(order), 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p[index])))
        adjusted[index] = running
    return adjusted.tolist()


def location_verdict(location: float, p: float, lo: float, hi: float, alpha: float = ALPHA) -> str:
    """The verdict on "the true location lies in (lo, hi)" from an estimate of it and the p-value of the test that
    decides (``t_location`` / ``rank_location``): "reproduced" when the estimate is inside and p < α,
    "contradicted" when it is outside and p < α, else "inconclusive"."""
    if not math.isfinite(p) or p >= alpha or math.isnan(location):
        return "inconclusive"
    return "reproduced" if _inside(location, lo, hi) else "contradicted"


def _inside(location: float, lo: float, hi: float) -> bool:
    """lo < location < hi, where an open end (±inf) holds a location at that end too (more than half the seeds
    dead, ranked worst)."""
    return (lo < location or lo == -math.inf) and (location < hi or hi == math.inf)


def _deciding_p(location: float, lo: float, hi: float, p_against: Any) -> float:
    """The p-value that decides a claim "inside (lo, hi)": inside, the largest of the two-sided p-values against
    each finite bound (every bound must be excluded); outside, the p-value against the bound it crossed."""
    if math.isnan(location):
        return math.nan
    if _inside(location, lo, hi):
        return max(p_against(bound) for bound in (lo, hi) if math.isfinite(bound))
    return p_against(lo if location <= lo else hi)


def t_location(x: np.ndarray, lo: float, hi: float, confidence: float = 0.95) -> dict[str, float]:
    """The mean of the paired values ``x`` (one per seed), its t-interval, and the two-sided one-sample t-test's
    p-value against the bound that decides whether the mean lies in (lo, hi) (``_deciding_p``): its 95 % interval
    lies inside the band exactly when that p < 0.05. n < 2: an unbounded interval and p NaN."""
    from scipy import stats as sstats

    x = np.asarray(x, dtype=float)
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "low": -math.inf, "high": math.inf, "p": math.nan, "sd": math.nan}
    sd = float(x.std(ddof=1))
    sem = sd / math.sqrt(n)

    def p_against(bound: float) -> float:
        if sem == 0:
            return 1.0 if mean == bound else 0.0
        return float(sstats.ttest_1samp(x, bound).pvalue)

    half = float(sstats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    p = _deciding_p(mean, lo, hi, p_against)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "p": p, "sd": sd}


def rank_location(x: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    """Rank evidence that the paired values ``x`` lie in (lo, hi), which may hold ±inf (a dead member ranked
    worst: its rank is used, never its value): the median, how many values lie inside, and against the bound that
    decides (``_deciding_p``) the sign test's p (``scipy.stats.binomtest``, ties dropped) and the Wilcoxon
    signed-rank test's (``scipy.stats.wilcoxon``, two-sided, zero differences dropped). NaN values (no outcome
    on either side) are left out."""
    from scipy import stats as sstats

    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    median = float(np.median(x)) if n else math.nan
    inside = int(sum(_inside(float(v), lo, hi) for v in x))

    def sign_p(bound: float) -> float:
        above, below = int((x > bound).sum()), int((x < bound).sum())
        return float(sstats.binomtest(above, above + below).pvalue) if above + below else 1.0

    def wilcoxon_p(bound: float) -> float:
        z = x - bound
        z = z[z != 0]
        if z.size == 0:
            return 1.0
        with np.errstate(invalid="ignore"):
            return float(sstats.wilcoxon(z).pvalue)

    return {
        "n": n,
        "median": median,
        "inside": inside,
        "sign_p": _deciding_p(median, lo, hi, sign_p) if n else math.nan,
        "p": _deciding_p(median, lo, hi, wilcoxon_p) if n else math.nan,
    }
