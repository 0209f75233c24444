"""What training measures on the device: evaluation passes, output histograms and per-layer statistics.

The kernels behind a training run's ``layer`` and ``hist`` records and its ``epoch`` evaluation (``ipcore.training.loop``
calls them; ``ipcore.training.recorder`` moves their rows into the ``MetricsLog``). Entropy is the differential
entropy of a density histogram on [−1, 1] (thesis §5.2, ``ipcore.results.statistics``); the per-unit entropy adds
the Miller–Madow correction (Miller 1955).
"""

from __future__ import annotations

import functools
import math

import torch

from ipcore.engine.model import LockstepMLP, member_losses
from ipcore.results.statistics import ENTROPY_BINS, entropy_from_counts

HIST_BINS = 50
EVAL_ELEMENTS = {"cpu": 2**18}
"""Floats per evaluation activation tensor [M, chunk, H], by device type: on a CPU 1 MiB, about a core's L2 cache
(docs/performance.md, "Measurements behind the engine's defaults"); elsewhere ``EVAL_ELEMENTS_OTHER`` (fewer,
larger kernel launches)."""
EVAL_ELEMENTS_OTHER = 2**20


def evaluation_chunk(model: LockstepMLP, n: int, device: torch.device) -> int:
    """Samples per evaluation chunk: ``EVAL_ELEMENTS`` floats per activation tensor ``[M, chunk, H]``."""
    elements = EVAL_ELEMENTS.get(device.type, EVAL_ELEMENTS_OTHER)
    return max(1, min(n, elements // max(1, model.members * max(model.width, model.num_classes))))


@torch.no_grad()
def evaluate(
    model: LockstepMLP, inputs: torch.Tensor, labels: torch.Tensor, alive: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy of every member on a whole set, ``[M]`` each (evaluation mode: rules use
    their stored α, β / running statistics and nothing changes). ``alive`` (``[M, C]`` bool, optional) is or-ed
    with whether each output unit was positive on some sample: ``dead_output_units`` from the same pass."""
    members = model.members
    n = len(labels)
    chunk = evaluation_chunk(model, n, inputs.device)
    loss_sum = torch.zeros(members, device=inputs.device)
    correct = torch.zeros(members, device=inputs.device)
    for start in range(0, n, chunk):
        x, y = inputs[start : start + chunk], labels[start : start + chunk]
        logits, _, _ = model.forward(x, training=False)
        expanded = y.expand(members, -1)
        loss_sum += member_losses(logits, expanded) * len(y)
        correct += (logits.argmax(-1) == expanded).sum(1)
        if alive is not None:
            alive |= (logits > 0).any(1)
    return loss_sum / n, correct / n


@torch.no_grad()
def dead_output_units(model: LockstepMLP, inputs: torch.Tensor) -> torch.Tensor:
    """``[M]``: output units whose ReLU output is zero on every one of ``inputs`` (the test set), per member.

    A dead output unit's class can never win and gets no gradient, so the network loses that class for good
    (the thesis's ReLU after the output layer). With a linear output no unit can die: all zeros.
    """
    members = model.members
    if model.output != "relu":
        return torch.zeros(members, dtype=torch.int64, device=inputs.device)
    n = len(inputs)
    chunk = evaluation_chunk(model, n, inputs.device)
    alive = torch.zeros(members, model.num_classes, dtype=torch.bool, device=inputs.device)
    for start in range(0, n, chunk):
        logits, _, _ = model.forward(inputs[start : start + chunk], training=False)  # [M, b, C], after ReLU
        alive |= (logits > 0).any(1)
    return (~alive).sum(1)


def histogram_rows(
    values: torch.Tensor,
    bins: int,
    group: torch.Tensor | None = None,
    groups: int | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """Counts of ``values`` in ``bins`` equal bins on [−1, 1], one histogram per row of ``values`` ``[N, n]``,
    or, with ``group`` (integers broadcastable to ``values`` numbering ``groups`` histograms), per group.

    The same bins as ``statistics.histogram_counts`` (bin ⌊(v+1)·bins/2⌋, the right edge in the last bin, values
    beyond ±1 in the edge bins, NaN not counted), counted over ``bins + 1`` slots per histogram (the extra one
    collects NaN) in one pass instead of a masked ``index_add``: this runs every few training steps, and
    ``group`` lets it count every layer of every member without first copying them apart. The bin numbers are
    counted in the order they lie in memory (for the records' layers, held units × batch, each unit's samples
    one after another). ``method`` "auto" is ``bincount`` on a CPU (faster there for this layout: docs/performance.md)
    and ``index_add`` of a broadcast 1 elsewhere (``counts_with_bincount``); both give the same counts.
    """
    if group is None:
        groups = values.shape[0]
        group = torch.arange(groups, device=values.device, dtype=torch.int32).unsqueeze(1)
    elif groups is None:
        groups = int(group.max()) + 1
    slots = groups * (bins + 1)
    if slots >= 2**31:
        raise ValueError(f"{groups} histograms of {bins} bins do not fit int32 bin numbers")
    # int32 bin numbers: converting and offsetting them is about twice as fast as in int64
    index = values.add(1).mul_(bins / 2).clamp_(0, bins - 0.5).nan_to_num_(nan=bins).int()
    index += (group * (bins + 1)).int()
    flat = _flat_in_memory_order(index)
    if method == "bincount" or (method == "auto" and counts_with_bincount(values.device)):
        counts = torch.bincount(flat, minlength=slots).float()
    else:  # float counts are exact up to 2^24 per bin
        ones = torch.ones(1, device=values.device).expand(flat.numel())
        counts = torch.zeros(slots, device=values.device).index_add_(0, flat, ones)
    return counts.view(groups, bins + 1)[:, :bins]


def counts_with_bincount(device: torch.device) -> bool:
    """Whether ``histogram_rows`` ("auto") counts with ``bincount`` (a CPU, where it is faster) rather than an
    ``index_add_`` of a broadcast 1 (anywhere else: ``bincount`` first reads the largest bin number back to the
    host, which on a GPU waits for every queued kernel). With ``freeze_every_step``, one of the two choices that
    keep a GPU's training step free of host synchronisations."""
    return device.type == "cpu"


def _flat_in_memory_order(values: torch.Tensor) -> torch.Tensor:
    """Every element of ``values`` once, 1-D, in the order they lie in memory: a view for any dense tensor (such as
    the transposed layers of ``LockstepMLP.stack_layers``), where ``reshape(-1)`` would copy. For counting, where
    order does not matter."""
    order = sorted(range(values.dim()), key=lambda dim: values.stride(dim), reverse=True)
    return values.permute(order).reshape(-1)


UNIT_ENTROPY_BINS = 20
"""Bins of the per-unit entropy: one unit sees only a batch (200 samples by default), too few for 100 bins."""
SHARED_HISTOGRAM_SLOTS = 2**24
"""``layer_statistics`` counts every unit in 100 bins once (both entropies from one pass) while that is at most
this many counters (64 MiB of float32); larger models count per layer and per unit separately."""


@functools.lru_cache(maxsize=8)
def _bin_merger(bins: int, merged: int, device: torch.device) -> torch.Tensor:
    """``[bins, merged]`` 0/1 matrix summing runs of bins // merged adjacent bins: counts ``@`` it merges them in
    one product, exactly (small whole numbers), several times faster than a sum over a last axis of 5. Made once
    per device and only read (a record row used to build it afresh)."""
    return torch.eye(merged, device=device).repeat_interleave(bins // merged, dim=0)


@torch.no_grad()
def layer_statistics(
    model: LockstepMLP,
    y_all: torch.Tensor,
    nonpositive: torch.Tensor,
    want_hist: bool,
    x_all: torch.Tensor | None = None,
    means: dict[str, torch.Tensor] | None = None,
    want_distances: bool | None = None,
) -> dict[str, torch.Tensor]:
    """One ``layer`` row (and maybe a histogram), all ``[M, L]`` (histogram ``[M, L, 50]``), on the device.

    ∂y/∂u (1 − y² for y = tanh(u); the model's ``activation.derivative_from_output``), averaged over the batch
    and the layer's units (thesis Fig. 3.7, 4.4); ``grad_y_x``: ∂y/∂x = ∂y/∂u · du/dx, the factor backprop
    applies ((1 − y²)/α for u = (x − β)/α, (1 − y²)·α for u = αx + β; ``LockstepMLP.input_gains``); entropy:
    ``stats`` estimator (100 bins on [−1, 1]) pooling the layer's units; ``entropy_unit``: each unit's own output entropy on this batch, averaged over the layer's
    units (``unit_entropy``); ``grad_weight_rms``: the root mean square of ∂loss/∂W of the layer's incoming
    weights (``weight_gradient_rms``; NaN before any backward pass) — how much gradient reaches the layer. A ReLU
    output has a point mass at 0, so its differential entropy is −∞: both entropies are NaN for ReLU units.
    The histogram is the same counts merged pairwise into 50 bins, as densities. With ``x_all`` (the
    pre-activations of the same pass): ``alpha_distance`` and ``beta_distance``, each rule's distance to its own
    fixed point (``LockstepMLP.fixed_point_distances``); the pass's batch means ``means`` (see
    ``LockstepMLP.moments``) serve instead of x where they are enough. ``want_distances``: whether to measure the
    distances (default: when x or the means are given).
    """
    M, L, H = model.members, model.depth, model.width
    activation = model.activation
    unit_slope = activation.mean_derivative(y_all, dim=1)  # [M, L·H]: E[∂y/∂u] of every unit
    grad_y_u = unit_slope.view(M, L, H).mean(-1)
    # what backprop multiplies by on its way to x: ∂y/∂x = ∂y/∂u · du/dx, per unit before the layer's mean
    grad_y_x = (unit_slope * model.input_gains()).view(M, L, H).mean(-1)
    alpha, beta = model.alpha_beta()
    if (activation.low, activation.high) == (-1.0, 1.0) and M * L * H * (ENTROPY_BINS + 1) <= SHARED_HISTOGRAM_SLOTS:
        # one count of every unit's outputs in 100 bins gives both entropies: the layer's pooled histogram sums
        # its units' counts, and each unit's 20 bins are 5 adjacent ones of its 100 (the same edges on [−1, 1])
        unit_group = torch.arange(M * L * H, device=y_all.device, dtype=torch.int32).view(M, 1, L * H)
        unit_counts = histogram_rows(y_all, ENTROPY_BINS, unit_group, M * L * H)  # [M·L·H, 100]
        counts = unit_counts.view(M, L, H, ENTROPY_BINS).sum(2).view(M * L, ENTROPY_BINS)
        merged = unit_counts @ _bin_merger(ENTROPY_BINS, UNIT_ENTROPY_BINS, y_all.device)  # [M·L·H, 20]
        entropy_unit = unit_entropy_from_counts(merged, y_all.shape[1], activation.low, activation.high)
    else:
        # histogram number m·L + l for unit l·H + h of member m: every (member, layer) pools its units
        group = torch.arange(M * L, device=y_all.device, dtype=torch.int32)
        group = group.view(M, 1, L, 1).expand(M, 1, L, H).reshape(M, 1, L * H)
        counts = histogram_rows(y_all, ENTROPY_BINS, group, M * L)
        entropy_unit = unit_entropy(y_all, activation.low, activation.high)
    row = {
        "grad_y_u": grad_y_u,
        "grad_y_x": grad_y_x,
        "alpha_mean": alpha.mean(-1),
        "alpha_std": alpha.std(-1, correction=0),
        "beta_mean": beta.mean(-1),
        "beta_std": beta.std(-1, correction=0),
        "entropy": entropy_from_counts(counts).view(M, L),
        "entropy_unit": entropy_unit.view(M, L, H).mean(-1),
        "grad_weight_rms": weight_gradient_rms(model),
        "alpha_nonpositive": nonpositive.view(M, L, H).sum(-1),
    }
    if not math.isfinite(activation.high):
        row["entropy"] = torch.full_like(row["entropy"], math.nan)
        row["entropy_unit"] = torch.full_like(row["entropy_unit"], math.nan)
    if want_distances is None:
        want_distances = x_all is not None or means is not None
    if want_distances:
        row["alpha_distance"], row["beta_distance"] = model.fixed_point_distances(x_all, y_all, means)
    if want_hist:
        merged = counts.view(M * L, HIST_BINS, ENTROPY_BINS // HIST_BINS).sum(-1)
        density = merged / (merged.sum(-1, keepdim=True).clamp(min=1) * (2.0 / HIST_BINS))
        row["hist"] = density.view(M, L, HIST_BINS)
    return row


@torch.no_grad()
def unit_entropy(y_all: torch.Tensor, low: float, high: float, bins: int = UNIT_ENTROPY_BINS) -> torch.Tensor:
    """Each unit's output entropy on one batch, ``[M, U]`` from y ``[M, B, U]`` on the output range [low, high]
    (an unbounded range gives NaN): a ``bins``-bin histogram of the unit's B outputs, H = −Σ pᵢ log pᵢ Δ in nats
    plus the Miller–Madow correction (K − 1)/(2B), K the occupied bins, which removes most of the downward bias of
    a histogram estimate from few samples (Miller 1955). The maximum is log(high − low): log 2 for tanh, 0 for
    the logistic function. Unlike the pooled ``entropy``, a layer whose units each sit in a narrow but different
    range scores low here (§6.2 asks about the entropy of WD's units inside a network)."""
    M, B, U = y_all.shape
    if not math.isfinite(high):
        return torch.full((M, U), math.nan, device=y_all.device)
    scaled = y_all.sub(low).mul_(2.0 / (high - low)).sub_(1)  # onto [−1, 1], where histogram_rows counts
    group = torch.arange(M * U, device=y_all.device, dtype=torch.int32).view(M, 1, U)
    counts = histogram_rows(scaled, bins, group, M * U)  # [M·U, bins]
    return unit_entropy_from_counts(counts, B, low, high).view(M, U)


def unit_entropy_from_counts(counts: torch.Tensor, batch: int, low: float, high: float) -> torch.Tensor:
    """``unit_entropy`` from each unit's histogram ``[..., bins]`` of its ``batch`` outputs on [low, high]:
    −Σ pᵢ log pᵢ Δ + (K − 1)/(2·batch) (Miller–Madow, K the occupied bins) + log((high − low)/2)."""
    occupied = (counts > 0).sum(-1).float()
    return entropy_from_counts(counts) + (occupied - 1) / (2 * batch) + math.log((high - low) / 2)


@torch.no_grad()
def weight_gradient_rms(model: LockstepMLP) -> torch.Tensor:
    """``[M, L]``: √(mean of (∂loss/∂W)²) over each hidden layer's incoming weight matrix, per member, from the
    gradients of the last backward pass (NaN where there are none yet)."""
    M, L = model.members, model.depth
    device = model.first_weight.device
    columns = []
    first = model.first_weight.grad  # [S, R, H, D]
    if first is None:
        return torch.full((M, L), math.nan, device=device)

    def rms(grad: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        # √(mean of g²) = ‖g‖ / √n: the norm reads the gradient once and makes no squared copy of it
        return torch.linalg.vector_norm(grad, dim=dims) / math.sqrt(math.prod(grad.shape[d] for d in dims))

    columns.append(rms(first, (2, 3)).t().reshape(M))  # member r·S + s
    for weight in model.hidden_weights:
        grad = weight.grad
        columns.append(torch.full((M,), math.nan, device=device) if grad is None else rms(grad, (1, 2)))
    return torch.stack(columns, dim=1)
