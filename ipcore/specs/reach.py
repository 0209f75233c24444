"""Whether a run is long enough for its intrinsic rules to act: one plain warning per rule that cannot (or can
hardly) move its α and β in the run's steps. The command line prints these notes as ``warning: …`` before training;
the app shows them beside its Train button (``app/lab_guide.py``).

How far can a rule move α and β in a run? Adam-smoothed rules (ip, bn_inc, ip_cov) move each parameter by at
most about η per step (Adam's step is ≈ η in size), plain-gradient rules (infomax, triesch) by about η·|gradient|
with gradients of order 1: so ≈ η × steps in all, against α = 1 and β = 0 at the start. Weighted-decay rules
(wd, bn_wd, wd_cov) close a share 1 − (1 − η)^steps of the gap to their target. Those two numbers decide
whether a run can show a rule's effect at all (the thesis's deep runs, §4, train for many epochs at η = 1e-4).
"""

from __future__ import annotations

import math
from typing import Any

from ipcore.specs.rules import RULE_SPECS, default_eta

TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "clusters": 8_000, "spirals": 4_000}
TOO_SHORT = 0.1  # η × steps below this: α and β can hardly leave their start (1, 0)
BARELY = 1.0  # below this: the rule has begun to act, the effect is still small
DECAY_TOO_SHORT = 0.5  # weighted decay: less than half of the way to its target


def train_steps(dataset: str, subset: int, batch_size: int, epochs: int) -> int | None:
    """Optimizer steps of a run (None when the dataset's size is not known here, e.g. an image folder)."""
    size = TRAIN_SIZES.get(dataset.split(":", 1)[0])
    if size is None:
        return None
    if subset:
        size = min(size, subset)
    return epochs * math.ceil(size / batch_size)


def rule_reach(rule: str, eta: float, steps: int) -> tuple[float, str]:
    """How far ``rule`` can move α and β in ``steps`` steps: (value, what it measures).

    Weighted decay: the share 1 − (1 − η)^steps of the way to its target. Other rules: η × steps, the most an
    Adam-smoothed (or order-1 gradient) update of size ≈ η per step can add up to."""
    if RULE_SPECS[rule].weighted_decay:
        return 1 - (1 - min(eta, 1.0)) ** steps, "share of the way to its target"
    return eta * steps, "η × steps"


def too_short(config: Any) -> list[str]:
    """One plain sentence per chosen rule that cannot (or can hardly) act in this setup; empty when all can.
    ``config``: a TrainConfig (steps from the dataset's size) or a NeuronConfig (one step per iteration)."""
    if hasattr(config, "iters"):
        steps, context, unit = int(config.iters), "neuron", "iterations"
    else:
        steps, context, unit = (
            train_steps(config.dataset, config.subset, config.batch_size, config.epochs),
            "network",
            "steps",
        )
    if steps is None:
        return []
    notes = []
    for rule in config.rules:
        eta = config.eta.get(rule, default_eta(rule, context))
        if eta is None or not RULE_SPECS[rule].has_eta:
            continue
        reach, _ = rule_reach(rule, float(eta), steps)
        if RULE_SPECS[rule].weighted_decay:
            if reach < DECAY_TOO_SHORT:
                notes.append(f"{rule} (η = {eta:g}) gets only {reach:.0%} of the way to its target in {steps} {unit}: "
                             "too short for it to act; expect it to look like none. Raise η or the "
                             f"{'iterations' if context == 'neuron' else 'epochs'}.")  # fmt: skip
        elif reach < TOO_SHORT:
            notes.append(f"{rule} (η = {eta:g}) can move α and β by at most η × {unit} ≈ {reach:.2g} in {steps} {unit} "
                         f"(from α = 1, β = 0): too short for it to act; expect it to look like none. Raise η (e.g. "
                         f"{TOO_SHORT * 10 / steps:.0e}) or the {'iterations' if context == 'neuron' else 'epochs'}.")  # fmt: skip
        elif reach < BARELY:
            notes.append(f"{rule} (η = {eta:g}): η × {unit} ≈ {reach:.2g} in {steps} {unit}, so it has only begun to "
                         "act; expect small differences.")  # fmt: skip
    return notes
