"""Which members of a network run are *healthy*: the one definition used by ``results.summary.summarize``, the gallery's
assessment and the app's summary tables.

A member is **diverged** when its batch loss became NaN/inf (``diverged_step`` ≥ 0; it is frozen there). It is
**collapsed** at the end of an epoch when the network sits at chance level: its training accuracy over that
epoch is within ``COLLAPSE_ACC_POINTS`` (2 percentage points) of 1/C and its training loss within
``COLLAPSE_LOSS_SHARE`` (2 %) of ln C, C being the number of classes (e.g. every ReLU output unit dead, or
every hidden unit saturated). Collapse is a recorded fact of a run, like divergence: the member keeps
training and may recover. A member is **healthy** when it did not diverge and is not collapsed at its last
recorded epoch; means over seeds are taken over the healthy ones and say on how many they stand.

Everything here is derived from the per-epoch metrics every record has (``epoch/train_acc``,
``epoch/train_loss``), so it applies to records made before collapse was recorded. Dead output units
(``dead_output_units``: ReLU outputs zero on the whole test set) are measured at the end of a run and exist
only in records made since; older records say "not recorded".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ipcore.data import DATASETS

COLLAPSE_ACC_POINTS = 0.02
COLLAPSE_LOSS_SHARE = 0.02


def classes_of(metrics: Mapping[str, Any], dataset: str | None = None) -> int | None:
    """C: the record's ``num_classes`` when stored, else from the dataset's name, else None (unknown)."""
    if "num_classes" in metrics:
        return int(np.asarray(metrics["num_classes"]))
    if dataset is None:
        return None
    spec = DATASETS.get(dataset.split(":", 1)[0])  # records made before num_classes was stored
    return None if spec is None else spec.classes


@dataclass(frozen=True)
class Health:
    """Per member ([M] arrays): diverged, collapsed at the last epoch, the first epoch it was collapsed (−1:
    never), the epoch it recovered (first non-collapsed epoch after its last collapsed stretch, −1: did not),
    healthy, and dead output units (−1 each: not recorded)."""

    diverged: np.ndarray
    collapsed: np.ndarray
    collapse_epoch: np.ndarray
    recovered_epoch: np.ndarray
    healthy: np.ndarray
    dead_output_units: np.ndarray
    classes: int | None

    @property
    def dead_recorded(self) -> bool:
        return bool((self.dead_output_units >= 0).all()) and self.dead_output_units.size > 0


def collapsed_by_epoch(train_acc: np.ndarray, train_loss: np.ndarray, classes: int) -> np.ndarray:
    """[E, M] bool: at chance level at the end of each epoch (accuracy within 2 points of 1/C and loss within
    2 % of ln C). NaN values (a diverged member) are not collapse."""
    acc = np.asarray(train_acc, dtype=float)
    loss = np.asarray(train_loss, dtype=float)
    chance, ln_c = 1.0 / classes, math.log(classes)
    with np.errstate(invalid="ignore"):
        return (np.abs(acc - chance) <= COLLAPSE_ACC_POINTS) & (np.abs(loss - ln_c) <= COLLAPSE_LOSS_SHARE * ln_c)


def member_health(metrics: Mapping[str, Any], dataset: str | None = None) -> Health:
    """The health of every member of a network run's ``metrics`` (see the module docstring)."""
    members = len(np.asarray(metrics["members_rule"]))
    diverged = np.asarray(metrics.get("diverged_step", np.full(members, -1))) >= 0
    classes = classes_of(metrics, dataset)
    collapse_epoch = np.full(members, -1, dtype=np.int64)
    recovered_epoch = np.full(members, -1, dtype=np.int64)
    collapsed = np.zeros(members, dtype=bool)
    acc, loss = metrics.get("epoch/train_acc"), metrics.get("epoch/train_loss")
    if classes and classes > 1 and acc is not None and loss is not None and len(acc):
        by_epoch = collapsed_by_epoch(acc, loss, classes)  # [E, M]
        epochs = np.asarray(metrics.get("epoch/epoch", np.arange(1, len(by_epoch) + 1)))
        collapsed = by_epoch[-1] & ~diverged
        for m in np.flatnonzero(by_epoch.any(0) & ~diverged):
            hits = np.flatnonzero(by_epoch[:, m])
            collapse_epoch[m] = int(epochs[hits[0]])
            if not collapsed[m]:
                recovered_epoch[m] = int(epochs[hits[-1] + 1])
    dead = np.asarray(metrics.get("dead_output_units", np.full(members, -1)), dtype=np.int64).reshape(-1)
    if dead.size != members:
        dead = np.full(members, -1, dtype=np.int64)
    return Health(
        diverged=diverged,
        collapsed=collapsed,
        collapse_epoch=collapse_epoch,
        recovered_epoch=recovered_epoch,
        healthy=~diverged & ~collapsed,
        dead_output_units=dead,
        classes=classes,
    )


def seeds_note(healthy: int, total: int, collapsed: int, diverged: int) -> str:
    """ "9 of 10 seeds; 1 collapsed" — on how many healthy seeds a mean stands, and why the others are out."""
    text = f"{healthy} of {total} seeds"
    reasons = [f"{collapsed} collapsed" if collapsed else "", f"{diverged} diverged" if diverged else ""]
    reasons = [r for r in reasons if r]
    return text + ("; " + ", ".join(reasons) if reasons else "")


def no_healthy_text(diverged: int, collapsed: int, seeds: int) -> str:
    """What a surface shows instead of a mean when no seed of a rule is healthy: "all 2 collapsed",
    "1 collapsed, 1 diverged" — never a bare "—", "None" or an empty cell."""
    if collapsed == seeds and seeds:
        return f"all {seeds} collapsed"
    if diverged == seeds and seeds:
        return f"all {seeds} diverged"
    parts = [f"{collapsed} collapsed" if collapsed else "", f"{diverged} diverged" if diverged else ""]
    return ", ".join(p for p in parts if p) or "no healthy seed"


def rule_health(metrics: Mapping[str, Any], dataset: str | None = None) -> dict[str, dict[str, Any]]:
    """Per rule of a network run, its seeds' health by this module's definition: ``seeds``, ``healthy``,
    ``diverged``, ``collapsed`` (counts) and ``collapsed_seeds`` / ``diverged_seeds`` (seed numbers) — what
    ``train.summarize`` writes, computed from the metrics so that records older than that agree too."""
    health = member_health(metrics, dataset)
    seeds = np.asarray(metrics.get("members_seed", np.arange(len(health.healthy))))
    out = {}
    for rule, members in rule_members(metrics).items():
        out[rule] = {
            "seeds": int(members.size),
            "healthy": int(health.healthy[members].sum()),
            "diverged": int(health.diverged[members].sum()),
            "collapsed": int(health.collapsed[members].sum()),
            "diverged_seeds": [int(seeds[m]) for m in members if health.diverged[m]],
            "collapsed_seeds": [int(seeds[m]) for m in members if health.collapsed[m]],
        }
    return out


def rule_members(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Member indices per rule, in the order of ``members_rule``."""
    rules = [str(r) for r in np.asarray(metrics["members_rule"])]
    return {r: np.array([i for i, m in enumerate(rules) if m == r], dtype=np.int64) for r in dict.fromkeys(rules)}
