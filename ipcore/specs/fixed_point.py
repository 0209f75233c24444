"""IP's fixed point on a density given on a grid, in numpy: the home page's picture of what IP does, drawn
without loading torch.

It is the weighted form of ``ipcore.engine.rules.ip_fixed_point`` (the computation ``ip_hard`` runs on every
batch; ``tests/test_rules.py`` checks that the two agree): β is the weighted median of x and α solves
α = 2E[x·tanh((x − β)/α)] (thesis §5.1, §5.3, §6.2), found by fixed-point steps α ← 2E[x·tanh((x − β)/α)].
"""

from __future__ import annotations

import numpy as np

ALPHA_FLOOR = 1e-6
"""|α| never falls below this in a step (``ipcore.engine.rules.safe_alpha``), so x − β is never divided by 0."""


def ip_fixed_point_on_grid(
    x: np.ndarray, weights: np.ndarray, iterations: int = 50, alpha: float = 1.0
) -> tuple[float, float]:
    """IP's fixed point (α, β) of one unit whose input takes the values ``x`` with ``weights`` (a density times
    the grid's spacing, or counts): E[t] = Σ w·t / Σ w, β = the first x, in sorted order, where the weights'
    cumulative share reaches ½, and ``iterations`` steps α ← 2E[x·tanh((x − β)/α)] from ``alpha``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    share = np.asarray(weights, dtype=np.float64).ravel()
    share = share / share.sum()
    order = np.argsort(x, kind="stable")
    below_half = int(np.count_nonzero(np.cumsum(share[order]) < 0.5))
    beta = float(x[order][below_half])
    centered = x - beta
    for _ in range(iterations):
        safe = np.copysign(max(abs(alpha), ALPHA_FLOOR), alpha)
        alpha = float(2 * np.sum(share * x * np.tanh(centered / safe)))
    return alpha, beta
