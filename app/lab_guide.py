"""The network lab's guidance: one-click demos that show a thesis claim within a minute on a 2-core CPU, a
notice when a setup is too short for an intrinsic rule to act, and how to get a missing dataset (written for
the app: an environment variable and a folder, not command-line flags).

No streamlit here: the page draws what these functions return.

How far can a rule move α and β in a run? Adam-smoothed rules (ip, bn_inc, ip_cov) move each parameter by at
most about η per step (Adam's step is ≈ η in size), plain-gradient rules (infomax, triesch) by about η·|gradient|
with gradients of order 1: so ≈ η × steps in all, against α = 1 and β = 0 at the start. Weighted-decay rules
(wd, bn_wd, wd_cov) close a share 1 − (1 − η)^steps of the gap to their target. Those two numbers decide
whether a run can show a rule's effect at all.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ipcore.config import TrainConfig
from ipcore.data import DATASETS
from ipcore.specs.rules import RULE_SPECS, default_eta

TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "clusters": 8_000, "spirals": 4_000}
TOO_SHORT = 0.1  # η × steps below this: α and β can hardly leave their start (1, 0)
BARELY = 1.0  # below this: the rule has begun to act, the effect is still small
DECAY_TOO_SHORT = 0.5  # weighted decay: less than half of the way to its target


@dataclass(frozen=True)
class Demo:
    """A one-click setup that shows one claim; ``look_for`` is the one line that says what to see."""

    key: str
    title: str
    look_for: str
    rules: tuple[str, ...]
    eta: Mapping[str, float] = field(default_factory=dict)
    lr: float = 0.01
    epochs: int = 1
    seeds: int = 2
    depth: int = 7
    width: int = 50
    seconds: Mapping[str, float] = field(default_factory=dict)  # measured wall time per dataset (2-core CPU)


# Times: the longest of the CLI's wall time (process start and data loading included) and the app's job time,
# measured on the project's 2-core CPU shared with other work (load 5–7); see docs/lab-demos.md.
DEMOS = (
    Demo("wd-slopes", "WD keeps the slopes large (thesis Fig. 4.4)",
         "the ∂y/∂u lines: wd stays near 0.65 in every layer while none falls (on MNIST the table's mean ∂y/∂u "
         "ends ≈ 0.63 against ≈ 0.2)",
         ("wd", "none"), seconds={"mnist": 20, "fashion-mnist": 22, "clusters": 10}),
    Demo("ip-eta", "IP acts at a larger η (η = 0.01)",
         "the ∂y/∂u lines and α over training: ip's α grows and its slopes rise above none's within the epoch "
         "(on MNIST the table's mean ∂y/∂u ends ≈ 0.6 against ≈ 0.2, and ip's loss is lower)",
         ("ip", "none"), eta={"ip": 0.01}, seconds={"mnist": 24, "fashion-mnist": 12, "clusters": 9}),
    Demo("large-lr", "A large learning rate: WD trains, the plain net stalls (thesis Fig. 4.2)",
         "the loss and the accuracy at lr 0.03: on MNIST wd ends near 0.9 nats and ≈ 89 %, none near 1.7–1.8 nats "
         "and 33–42 %",
         ("wd", "none"), lr=0.03, seconds={"mnist": 16, "fashion-mnist": 13, "clusters": 17}),
)  # fmt: skip
DEMO_DATASETS = ("mnist", "fashion-mnist", "clusters")  # the first one present is used


def demo_dataset(available: Mapping[str, Mapping[str, Any]]) -> str:
    """The dataset the demos use here: MNIST when present, else Fashion-MNIST, else the synthetic clusters."""
    for name in DEMO_DATASETS:
        info = available.get(name)
        if info is not None and info.get("available"):
            return name
    return "clusters"


DEMO_STEPS = 300  # the demos' length in optimizer steps: one MNIST epoch at batch 200


def demo_epochs(demo: Demo, dataset: str) -> int:
    """The demo's epochs on ``dataset``: as many as give ``DEMO_STEPS`` steps (a small synthetic set needs more)."""
    steps = train_steps(dataset, 0, 200, 1) or DEMO_STEPS
    return max(demo.epochs, math.ceil(demo.epochs * DEMO_STEPS / steps))


def demo_values(demo: Demo, dataset: str, prefix: str = "net") -> dict[str, Any]:
    """The lab's widget values for ``demo`` on ``dataset`` (every η slider back to its default except the demo's)."""
    defaults = {k: v for k, v in dataclasses.asdict(TrainConfig()).items() if not isinstance(v, (list, dict))}
    values: dict[str, Any] = {f"{prefix}.{k}": v for k, v in defaults.items()}  # every other field at its default
    values.update({
        f"{prefix}.dataset": dataset, f"{prefix}.rules": list(demo.rules), f"{prefix}.depth": demo.depth,
        f"{prefix}.width": demo.width, f"{prefix}.lr": demo.lr, f"{prefix}.epochs": demo_epochs(demo, dataset),
        f"{prefix}.seeds": demo.seeds, f"{prefix}.subset": 0, f"{prefix}.batch_size": 200,
    })  # fmt: skip
    for rule in RULE_SPECS:
        eta = default_eta(rule, "network")
        if eta is not None:
            values[f"{prefix}.eta.{rule}"] = float(demo.eta.get(rule, eta))
    return values


def demo_matches(demo: Demo, config: Any) -> bool:
    """Whether ``config`` (a TrainConfig) is still the demo's setup, so its "what to look for" line applies."""
    etas = {r: float(config.eta.get(r, default_eta(r, "network") or 0.0)) for r in config.rules}
    wanted = {r: float(demo.eta.get(r, default_eta(r, "network") or 0.0)) for r in demo.rules}
    return (
        tuple(config.rules) == demo.rules and etas == wanted and config.lr == demo.lr
        and config.epochs == demo_epochs(demo, config.dataset) and config.depth == demo.depth and config.width == demo.width and config.subset == 0
    )  # fmt: skip


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


def how_to_get(name: str, data_root: str) -> str:
    """How to make ``name`` available to the app (the dataset's own ``how``, with ``<data>`` for the data root),
    and the ``IPCORE_DATA`` variable that names that root."""
    spec = DATASETS.get(name)
    where = spec.how_to_get("<data>") if spec is not None else "put it in a folder `<data>/`"
    return (
        f"To use it, {where}, then start the app with the environment variable `IPCORE_DATA` set to that `<data>` "
        f"folder (`IPCORE_DATA=/path/to/data streamlit run app/main.py`). This app now reads `{data_root}`."
    )
