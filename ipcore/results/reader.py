"""One reader of a run's recorded metrics: named per-seed metrics, and means over the *healthy* seeds.

"Per rule, over the seeds that survived" is asked by the CLI's summary (``results.summary.summarize``), the gallery's
assessment (``ipcore.gallery.assessment``), the learning-rate sweep charts, the labs' summary table and the stability
card. They all read through here, so they agree on two things:

- **what a metric is**: ``SEED_METRICS`` names one number per member (seed) of a network run, e.g.
  ``final_loss`` = the training loss over the last epoch's batches, ``slope`` = the mean ∂y/∂u = 1 − y² of
  one hidden layer over every recorded step (thesis Fig. 3.7, 4.4);
- **which seeds count**: the healthy ones of ``ipcore.results.health`` (not diverged, not at chance level at the last
  epoch), and of those only the ones whose value is finite. A mean says on how many seeds it stands
  (``RuleSeeds.note``: "9 of 10 seeds; 1 collapsed").

Adding a metric means one reader function and one ``SEED_METRICS`` line; every reader above can then name it
(a gallery ``Claim`` by its ``metric``).

Curves over time (the labs' loss bands, histograms) are a different question — which members were still
finite at a given step — and keep ``ipcore.charts``' per-step choice; a seed that collapses late is part of
its curve until then.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ipcore.results.health import Health, member_health, rule_members, seeds_note

Metrics = Mapping[str, Any]


Layer = int | None
"""A hidden layer (0-based, −1 the last), or None for the mean over all of them."""


def _last_epoch(key: str) -> Callable[[Metrics, Layer], np.ndarray | None]:
    def read(metrics: Metrics, layer: Layer) -> np.ndarray | None:
        values = metrics.get(f"epoch/{key}")
        return None if values is None or len(values) == 0 else np.asarray(values, dtype=float)[-1]

    return read


def _epoch1_loss(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    values = metrics.get("epoch/train_loss")
    return None if values is None or len(values) == 0 else np.asarray(values, dtype=float)[0]


def _layer_rows(metrics: Metrics, key: str) -> np.ndarray | None:
    """The recorded ``layer/<key>`` rows ``[K, M, L]`` as floats, None when there are none."""
    values = metrics.get(f"layer/{key}")
    return None if values is None or len(values) == 0 else np.asarray(values, dtype=float)


def _of_layer(rows: np.ndarray, layer: Layer) -> np.ndarray:
    """``[K, M, L]`` → ``[K, M]``: one hidden layer's values, or (None) each row's mean over the layers."""
    return _nanmean(rows, axis=-1) if layer is None else rows[:, :, layer]


def _slope(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Mean ∂y/∂u of hidden ``layer`` (None: of every layer) over every recorded step (the time average of
    Fig. 3.7 / 4.4)."""
    rows = _layer_rows(metrics, "grad_y_u")
    return None if rows is None else _nanmean(_of_layer(rows, layer), axis=0)


def _slope_x(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Mean ∂y/∂x = ∂y/∂u · du/dx of hidden ``layer`` over every recorded step: the factor backprop applies on
    its way through the unit ((1 − y²)/α for u = (x − β)/α). None for records made before it was recorded."""
    rows = _layer_rows(metrics, "grad_y_x")
    return None if rows is None else _nanmean(_of_layer(rows, layer), axis=0)


def _entropy_unit(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Each unit's own output entropy (``training.measure.unit_entropy``), averaged over ``layer``'s units (None: every
    layer's) and the second half of the run (once the rules have settled)."""
    rows = _layer_rows(metrics, "entropy_unit")
    return None if rows is None else _nanmean(_of_layer(rows[len(rows) // 2 :], layer), axis=0)


def _log_grad_weight(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """log₁₀ of the RMS loss gradient of ``layer``'s incoming weights (None: the mean over the layers), averaged
    over the run; −inf where every gradient was 0 (all ReLU output units dead)."""
    rows = _layer_rows(metrics, "grad_weight_rms")
    if rows is None:
        return None
    with np.errstate(divide="ignore"):
        return np.log10(_nanmean(_of_layer(rows[1:], layer), axis=0))  # row 0: before any backward pass


def _log_grad_ratio(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """log₁₀ of the first hidden layer's RMS weight gradient over the last one's, both averaged over the run: how
    much the gradient shrinks on its way down (NaN where it is 0 everywhere)."""
    rows = _layer_rows(metrics, "grad_weight_rms")
    if rows is None:
        return None
    rms = _nanmean(rows[1:], axis=0)  # [M, L]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(rms[:, 0] / rms[:, -1])


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` of the finite values, NaN where there is none (without numpy's warning)."""
    values = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _alpha_nonpositive(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Unit-updates with α ≤ 0 over the whole run, summed over the hidden layers."""
    values = metrics.get("alpha_nonpositive_final")
    return None if values is None else np.asarray(values, dtype=float).sum(-1)


def _final_layer(key: str) -> Callable[[Metrics, Layer], np.ndarray | None]:
    """The last recorded ``layer/<key>`` row of hidden ``layer`` (None: the mean over the layers)."""

    def read(metrics: Metrics, layer: Layer) -> np.ndarray | None:
        rows = _layer_rows(metrics, key)
        return None if rows is None else _of_layer(rows[-1:], layer)[0]

    return read


def _alpha_shift(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """|mean α − 1| at the end of the run: how far a rule moved the layer's gain from its start α = 1."""
    alpha = _final_layer("alpha_mean")(metrics, layer)
    return None if alpha is None else np.abs(alpha - 1.0)


def _latest_loss(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    values = metrics.get("batch/loss")
    return None if values is None or len(values) == 0 else np.asarray(values, dtype=float)[-1]


def _latest_slope(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Mean ∂y/∂u over every hidden layer at the latest recorded step (a running job's current value)."""
    values = metrics.get("layer/grad_y_u")
    if values is None or len(values) == 0:
        return None
    return _nanmean(np.asarray(values, dtype=float)[-1], axis=-1)


def _latest_alpha_nonpositive(metrics: Metrics, layer: Layer) -> np.ndarray | None:
    """Unit-updates with α ≤ 0 so far (latest layer record), summed over the hidden layers."""
    values = metrics.get("layer/alpha_nonpositive")
    if values is None or len(values) == 0:
        return None
    return np.nansum(np.asarray(values, dtype=float)[-1], axis=-1)


@dataclass(frozen=True)
class SeedMetric:
    """A named per-member number: ``read(metrics, layer)`` → [M] floats (None when the run did not record it),
    and ``label``, how texts name it (the gallery writes a paired difference as "Δ <label>")."""

    read: Callable[[Metrics, Layer], np.ndarray | None]
    label: str


SEED_METRICS: dict[str, SeedMetric] = {
    "final_loss": SeedMetric(_last_epoch("train_loss"), "final loss"),
    "epoch1_loss": SeedMetric(_epoch1_loss, "epoch-1 loss"),
    "train_acc": SeedMetric(_last_epoch("train_acc"), "train acc"),
    "test_loss": SeedMetric(_last_epoch("test_loss"), "test loss"),
    "test_acc": SeedMetric(_last_epoch("test_acc"), "test acc"),
    "slope": SeedMetric(_slope, "∂y/∂u"),
    "slope_x": SeedMetric(_slope_x, "∂y/∂x"),
    "entropy_unit": SeedMetric(_entropy_unit, "per-unit entropy (nats)"),
    "log_grad_weight": SeedMetric(_log_grad_weight, "log₁₀ RMS ∂loss/∂W"),
    "log_grad_ratio": SeedMetric(_log_grad_ratio, "log₁₀ (RMS ∂loss/∂W of layer 1 / of the last layer)"),
    "alpha_nonpositive": SeedMetric(_alpha_nonpositive, "α≤0 count"),
    "alpha_final": SeedMetric(_final_layer("alpha_mean"), "final mean α"),
    "alpha_shift": SeedMetric(_alpha_shift, "|final mean α − 1|"),
    "alpha_distance": SeedMetric(_final_layer("alpha_distance"), "final |α − α*|"),
    "beta_distance": SeedMetric(_final_layer("beta_distance"), "final β criterion"),
    "latest_loss": SeedMetric(_latest_loss, "latest loss"),
    "latest_slope": SeedMetric(_latest_slope, "latest ∂y/∂u"),
    "latest_alpha_nonpositive": SeedMetric(_latest_alpha_nonpositive, "α≤0 count so far"),
}
"""The named per-member numbers of a network run. ``final_loss``, ``train_acc``, ``test_loss``, ``test_acc``:
the last epoch's values (the training ones over that epoch's batches, the test ones from an evaluation pass);
``epoch1_loss``: the first epoch's training loss (how fast a rule learns at first); ``slope``: mean ∂y/∂u of
hidden ``layer`` (None: of all layers) over all recorded steps; ``slope_x``: the same of ∂y/∂x = ∂y/∂u · du/dx, the
factor backprop applies; ``entropy_unit``, ``log_grad_weight``,
``log_grad_ratio``: each unit's own output entropy late in the run, the weights' gradient size and how it shrinks
toward layer 1 (their functions say how); ``alpha_final``, ``alpha_shift``, ``alpha_distance``: at the last
layer record, the mean gain α of ``layer`` (None: of every layer), its distance from the start α = 1, and the
mean distance |α − α*| of its units to the rule's own fixed point (``beta_distance``: β's criterion, |E[y]| for
IP, |β − E[y]| for WD, as ``Rule.fixed_point_distance``); ``alpha_nonpositive``: unit-updates with α ≤ 0 in the whole run, all
layers; ``latest_*``: the newest row of a running job (batch loss, ∂y/∂u over all layers, α ≤ 0 count so far)."""


def member_values(metrics: Metrics, metric: str, layer: Layer = 0) -> np.ndarray | None:
    """``metric`` (a name of ``SEED_METRICS``) for every member of a network run, or None if not recorded."""
    try:
        definition = SEED_METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(SEED_METRICS)}") from None
    return definition.read(metrics, layer)


@dataclass(frozen=True)
class RuleSeeds:
    """A rule's members in a network run and which of them count: ``members`` (indices into the run's
    members), their ``seeds``, ``healthy`` (bool per member, ``ipcore.results.health``), and the counts behind it."""

    rule: str
    members: np.ndarray
    seeds: np.ndarray
    healthy: np.ndarray
    diverged: int
    collapsed: int

    @property
    def kept(self) -> np.ndarray:
        """The healthy members' indices."""
        return self.members[self.healthy]

    @property
    def note(self) -> str:
        """ "9 of 10 seeds; 1 collapsed": on how many seeds a mean of this rule stands."""
        return seeds_note(int(self.healthy.sum()), len(self.members), self.collapsed, self.diverged)


class RunReader:
    """A network run's metrics read per rule over the healthy seeds; the health is computed once.

    ``dataset`` names the class count for records made before ``num_classes`` was stored.
    """

    def __init__(self, metrics: Metrics, dataset: str | None = None):
        self.metrics = metrics
        self.health: Health = member_health(metrics, dataset)
        self.member_seeds = np.asarray(metrics.get("members_seed", np.arange(len(self.health.healthy))))
        self._members = rule_members(metrics)
        self._cache: dict[tuple[str, Layer], np.ndarray | None] = {}

    def rules(self) -> dict[str, RuleSeeds]:
        """Every rule of the run, in the run's order."""
        return {rule: self.rule(rule) for rule in self._members}

    def rule(self, rule: str) -> RuleSeeds:
        """``rule``'s members and which of them are healthy (no members: a rule the run does not have)."""
        members = self._members.get(rule, np.array([], dtype=np.int64))
        return RuleSeeds(
            rule=rule,
            members=members,
            seeds=self.member_seeds[members].astype(np.int64),
            healthy=self.health.healthy[members],
            diverged=int(self.health.diverged[members].sum()),
            collapsed=int(self.health.collapsed[members].sum()),
        )

    def values(self, metric: str, layer: Layer = 0) -> np.ndarray | None:
        """``member_values`` of every member (cached per metric and layer)."""
        key = (metric, layer)
        if key not in self._cache:
            self._cache[key] = member_values(self.metrics, metric, layer)
        return self._cache[key]

    def seed_values(self, rule: str, metric: str, layer: Layer = 0, keep_collapsed: bool = False) -> dict[int, float]:
        """One number per healthy seed of ``rule`` whose value is finite: {seed: value}, in member order.
        ``keep_collapsed``: every seed that did not diverge counts, collapsed to chance or not (for questions whose
        outcome is whether a network learns at all, such as the gallery's chapter 7)."""
        values = self.values(metric, layer)
        if values is None:
            return {}
        seeds = self.rule(rule)
        counted = ~self.health.diverged[seeds.members] if keep_collapsed else seeds.healthy
        return {
            int(seed): float(values[m])
            for m, seed, ok in zip(seeds.members, seeds.seeds, counted, strict=True)
            if ok and np.isfinite(values[m])
        }

    def mean(self, rule: str, metric: str, layer: int = 0) -> float | None:
        """The mean of ``seed_values`` (None when no healthy seed has a finite value)."""
        values = list(self.seed_values(rule, metric, layer).values())
        return float(np.mean(values)) if values else None

    def total(self, rule: str, metric: str, layer: int = 0) -> float | None:
        """The sum over *all* the rule's seeds, healthy or not (event counts such as α ≤ 0, which are facts of
        every seed); None when not recorded."""
        values = self.values(metric, layer)
        if values is None:
            return None
        return float(np.nansum(values[self.rule(rule).members]))


# --- single-neuron runs -------------------------------------------------------------------------------


def neuron_final(metrics: Metrics, key: str) -> dict[str, float]:
    """The last recorded ``trace/<key>`` (alpha, beta, entropy, mean_y …) of every rule of a single-neuron run."""
    rules = [str(r) for r in np.asarray(metrics["rules"])]
    values = np.asarray(metrics[f"trace/{key}"], dtype=float)[-1]
    return dict(zip(rules, values.tolist(), strict=True))


def centre_and_gain(rule: str, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Any rule's (α, β) as the divide form u = (x − c)/a: affine rules u = αx + β (Infomax, Triesch) have
    a = 1/α, c = −β/α. c is the input where the tanh is centred (u = 0) — IP's β, comparable with the sample's
    median (thesis §5.1)."""
    from ipcore.engine.rules import RULES

    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    if RULES.get(rule) is not None and RULES[rule].form == "affine":
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 / alpha, -beta / alpha
    return alpha, beta
