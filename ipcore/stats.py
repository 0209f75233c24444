"""Output statistics shared by the single-neuron simulator and the networks.

Entropy of y ∈ (−1, 1) is the differential entropy in nats estimated from a density histogram on [−1, 1]
(thesis §5.2): with bin width Δ and densities pᵢ = countᵢ / (n·Δ), H = −Σ pᵢ log pᵢ Δ (0·log 0 = 0).
Its maximum, log 2 ≈ 0.693 nats, is reached by a uniform output.
"""

from __future__ import annotations

import math

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
    """H = −Σ pᵢ log pᵢ Δ from histogram counts on [−1, 1] (last axis = bins). NaN where a row is empty."""
    lib = torch if isinstance(counts, torch.Tensor) else np
    bins = counts.shape[-1]
    width = 2.0 / bins
    total = counts.sum(-1, keepdims=True) if lib is np else counts.sum(-1, keepdim=True)
    with np.errstate(invalid="ignore"):  # an empty row (every y non-finite) is 0/0: NaN, a recorded fact
        density = counts / (total * width)
    safe = lib.where(density > 0, density, lib.ones_like(density))
    return -(density * lib.log(safe)).sum(-1) * width


def entropy(y: torch.Tensor, bins: int = ENTROPY_BINS) -> torch.Tensor:
    """Differential entropy of y in nats, one value per leading index (``[M, ...] -> [M]``)."""
    return entropy_from_counts(histogram_counts(y, bins))
