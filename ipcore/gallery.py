"""The gallery: every experiment of the thesis as a small declarative entry, and an honest check of each claim.

An entry names the figure, the thesis's claim, and its *parts* — one config per record (one per learning
rate, dataset, η scale or sample seed). ``python -m ipcore gallery`` computes the missing parts into run
records ``gallery-<id>-<part>``; ``assess`` reads those records back and says, with numbers, whether the claim
holds. Settings the thesis leaves unstated are chosen here and said in ``notes``.

Network entries: Adam on the weights, batch 200, identical initial weights across rules (same seed), 10 seeds
unless a config says otherwise; CIFAR-10 is the JPEG re-encoding in ``../shared/datasets/cifar10-jpg``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ipcore.config import CONFIG_KINDS, Config
from ipcore.runner import config_from_dict
from ipcore.stats import ENTROPY_MAX

SEEDS = 10
MNIST_EPOCHS, CIFAR_EPOCHS = 20, 40
SHALLOW_WIDTH = {"mnist": 50, "cifar10": 150}
DEEP_DEPTH = 7  # the thesis's text; its published code used 8


@dataclass(frozen=True)
class GalleryEntry:
    """One thesis figure: its claim, how we re-run it (``parts``: name → config dict), how to plot and check it.

    ``check`` selects the assessment in ``assess``; ``baseline`` is the rule the others are compared with.
    """

    id: str
    title: str
    chapter: int
    claim: str
    kind: str  # "train" | "neuron"
    datasets: tuple[str, ...]
    rules: tuple[str, ...]
    parts: dict[str, dict[str, Any]]
    plot: str  # "loss" | "grad_y_u" | "entropy" | "histogram" | "beta_median" | "stability"
    check: str
    layer: int | None = None
    baseline: str = "none"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, part: str, **overrides: Any) -> Config:
        """The validated config of one part. ``overrides`` (seeds, epochs, subset, device, data_root, iters …)
        apply where this kind's config has that field; ``None`` values are ignored."""
        data = dict(self.parts[part])
        fields = {f.name for f in dataclasses.fields(CONFIG_KINDS[self.kind])}
        data.update({k: v for k, v in overrides.items() if v is not None and k in fields})
        return config_from_dict(data)

    def run_id(self, part: str) -> str:
        return f"gallery-{self.id}-{part}"


# --- builders -----------------------------------------------------------------------------------------


def _net(dataset: str, rules: Iterable[str], lr: float, *, depth: int, eta: dict | None = None, **kw: Any) -> dict:
    width = kw.pop("width", SHALLOW_WIDTH[dataset])
    epochs = kw.pop("epochs", MNIST_EPOCHS if dataset == "mnist" else CIFAR_EPOCHS)
    return {
        "kind": "train",
        "dataset": dataset,
        "rules": list(rules),
        "eta": dict(eta or {}),
        "depth": depth,
        "width": width,
        "lr": lr,
        "epochs": epochs,
        "seeds": SEEDS,
        "batch_size": 200,
        **kw,
    }


def _lr_part(lr: float) -> str:
    return f"lr{lr:g}"


def _neuron(dist: str, rules: Iterable[str], seed: int, **kw: Any) -> dict:
    return {"kind": "neuron", "dist": dist, "rules": list(rules), "n": 10_000, "iters": 10_000, "seed": seed,
            "record_every": 100, **kw}  # fmt: skip


NEURON_RULES = ("ip", "infomax", "bn_inc", "wd")
LEMMA_INPUTS = {  # name → distribution fields; two symmetric, two skewed
    "gaussian": {"dist": "gaussian", "mu": 5.0, "sigma": 2.0},
    "laplace": {"dist": "laplace", "mu": 2.0, "b": 1.0},
    "lognormal": {"dist": "lognormal", "mu": 0.0, "sigma": 0.75},
    "gamma": {"dist": "gamma", "params": {"a": 2.0, "scale": 1.5}},
}
STABILITY_RULES = ("ip", "wd", "infomax")
STABILITY_SCALES = (1, 10, 100)


def _stability_eta(scale: int) -> dict[str, float]:
    # WD's η is a mixing weight: ×10 of the thesis's 0.1 is already 1.0 (α jumps to 2E[xy]); ×100 is capped there.
    return {"ip": 1e-4 * scale, "wd": min(0.1 * scale, 1.0), "infomax": 1e-4 * scale}


ENTRIES: list[GalleryEntry] = [
    GalleryEntry(
        id="fig3.3",
        title="Shallow IP vs standard, MNIST",
        chapter=3,
        claim="With one hidden layer IP trains about as well as the standard network (it does not hurt).",
        kind="train",
        datasets=("mnist",),
        rules=("ip", "none"),
        parts={"mnist": _net("mnist", ("ip", "none"), 0.03, depth=1, eta={"ip": 1e-4})},
        plot="loss",
        check="not_worse",
    ),
    GalleryEntry(
        id="fig3.4",
        title="Shallow IP vs standard, CIFAR-10",
        chapter=3,
        claim="With one hidden layer IP trains about as well as the standard network on CIFAR-10.",
        kind="train",
        datasets=("cifar10",),
        rules=("ip", "none"),
        parts={"cifar10": _net("cifar10", ("ip", "none"), 1e-4, depth=1, eta={"ip": 1e-4})},
        plot="loss",
        check="not_worse",
    ),
    GalleryEntry(
        id="fig3.5",
        title="Deep IP vs standard, MNIST, three learning rates",
        chapter=3,
        claim="In a deep tanh net IP makes training robust to larger synaptic learning rates: as lr grows the "
        "standard net degrades or diverges while IP keeps a low loss.",
        kind="train",
        datasets=("mnist",),
        rules=("ip", "none"),
        parts={_lr_part(lr): _net("mnist", ("ip", "none"), lr, depth=DEEP_DEPTH) for lr in (0.003, 0.01, 0.012)},
        plot="loss",
        check="robust",
    ),
    GalleryEntry(
        id="fig3.6",
        title="Deep IP vs standard, CIFAR-10, three learning rates",
        chapter=3,
        claim="The same robustness to large learning rates holds on CIFAR-10.",
        kind="train",
        datasets=("cifar10",),
        rules=("ip", "none"),
        parts={_lr_part(lr): _net("cifar10", ("ip", "none"), lr, depth=DEEP_DEPTH) for lr in (6e-4, 1e-3, 1.3e-3)},
        plot="loss",
        check="robust",
    ),
    GalleryEntry(
        id="fig3.7",
        title="∂y/∂u in the third hidden layer, IP vs standard",
        chapter=3,
        claim="IP keeps the mean slope ∂y/∂u of the hidden units large during training (against vanishing "
        "gradients), while in the standard net it falls.",
        kind="train",
        datasets=("mnist",),
        rules=("ip", "none"),
        parts={"mnist": _net("mnist", ("ip", "none"), 0.005, depth=DEEP_DEPTH)},
        plot="grad_y_u",
        check="larger_slope",
        layer=2,
    ),
    GalleryEntry(
        id="fig3.8",
        title="Deep Infomax vs IP vs incremental BN vs standard",
        chapter=3,
        claim="Among the Adam-smoothed rules, IP trains deep nets at least as well as Infomax and incremental "
        "batch normalisation, all better than the standard net.",
        kind="train",
        datasets=("mnist", "cifar10"),
        rules=("ip", "infomax", "bn_inc", "none"),
        parts={
            "mnist": _net(
                "mnist",
                ("ip", "infomax", "bn_inc", "none"),
                0.01,
                depth=DEEP_DEPTH,
                eta={"ip": 1e-4, "infomax": 1e-4, "bn_inc": 1e-4},
            ),
            "cifar10": _net(
                "cifar10",
                ("ip", "infomax", "bn_inc", "none"),
                1e-3,
                depth=DEEP_DEPTH,
                eta={"ip": 1e-4, "infomax": 1e-4, "bn_inc": 1e-4},
            ),
        },  # fmt: skip
        plot="loss",
        check="best_of",
        notes="Synaptic learning rate unstated in the thesis: we use the middle rate of fig3.5 / fig3.6 "
        "(0.01 on MNIST, 0.001 on CIFAR-10).",
    ),
    GalleryEntry(
        id="fig4.1",
        title="Shallow WD vs standard",
        chapter=4,
        claim="With one hidden layer weighted-decay IP trains at least as well as the standard network.",
        kind="train",
        datasets=("mnist", "cifar10"),
        rules=("wd", "none"),
        parts={
            "mnist": _net("mnist", ("wd", "none"), 0.03, depth=1, eta={"wd": 0.1}),
            "cifar10": _net("cifar10", ("wd", "none"), 1e-4, depth=1, eta={"wd": 0.1}),
        },
        plot="loss",
        check="not_worse",
    ),
    GalleryEntry(
        id="fig4.2",
        title="Deep WD vs standard, MNIST, three learning rates",
        chapter=4,
        claim="WD makes deep nets robust to large learning rates, even more than IP (it trained best).",
        kind="train",
        datasets=("mnist",),
        rules=("wd", "none"),
        parts={_lr_part(lr): _net("mnist", ("wd", "none"), lr, depth=DEEP_DEPTH) for lr in (0.003, 0.01, 0.015)},
        plot="loss",
        check="robust",
    ),
    GalleryEntry(
        id="fig4.3",
        title="Deep WD vs standard, CIFAR-10, three learning rates",
        chapter=4,
        claim="The same holds on CIFAR-10.",
        kind="train",
        datasets=("cifar10",),
        rules=("wd", "none"),
        parts={_lr_part(lr): _net("cifar10", ("wd", "none"), lr, depth=DEEP_DEPTH) for lr in (6e-4, 1e-3, 2e-3)},
        plot="loss",
        check="robust",
    ),
    GalleryEntry(
        id="fig4.4",
        title="∂y/∂u in the third hidden layer, WD vs IP vs standard",
        chapter=4,
        claim="WD keeps ∂y/∂u large as IP does, compared with the standard net.",
        kind="train",
        datasets=("mnist",),
        rules=("wd", "ip", "none"),
        parts={"mnist": _net("mnist", ("wd", "ip", "none"), 0.005, depth=DEEP_DEPTH)},
        plot="grad_y_u",
        check="larger_slope",
        layer=2,
    ),
    GalleryEntry(
        id="fig4.5",
        title="Deep WD vs BN-WD vs Infomax vs standard",
        chapter=4,
        claim="WD beats every other rule, incremental batch norm by weighted decay included.",
        kind="train",
        datasets=("mnist", "cifar10"),
        rules=("wd", "bn_wd", "infomax", "none"),
        parts={
            "mnist": _net(
                "mnist",
                ("wd", "bn_wd", "infomax", "none"),
                0.01,
                depth=DEEP_DEPTH,
                eta={"wd": 0.1, "bn_wd": 0.1, "infomax": 1e-4},
            ),
            "cifar10": _net(
                "cifar10",
                ("wd", "bn_wd", "infomax", "none"),
                1e-3,
                depth=DEEP_DEPTH,
                eta={"wd": 0.1, "bn_wd": 0.1, "infomax": 1e-4},
            ),
        },  # fmt: skip
        plot="loss",
        check="best_of",
        notes="Synaptic learning rate unstated in the thesis: 0.01 on MNIST, 0.001 on CIFAR-10 (as fig3.8).",
    ),
    GalleryEntry(
        id="fig5.1",
        title="Single neuron: entropy vs iteration for IP, Infomax, incremental BN, WD",
        chapter=5,
        claim="On a fixed input IP reaches Infomax-level output entropy, incremental BN a little less, WD much less.",
        kind="neuron",
        datasets=("uniform(1, 4)", "gaussian(1, 2)"),
        rules=NEURON_RULES,
        parts={
            **{f"uniform-s{s}": _neuron("uniform", NEURON_RULES, s, center=1.0, width=4.0) for s in range(SEEDS)},
            **{f"gaussian-s{s}": _neuron("gaussian", NEURON_RULES, s, mu=1.0, sigma=2.0) for s in range(SEEDS)},
        },
        plot="entropy",
        check="entropy_order",
        notes="η unstated in the thesis: the single-neuron defaults (IP, Infomax, incremental BN 1e-3; WD 0.1), "
        "10 000 full-batch iterations; 10 samples (seeds) of 10 000 inputs per distribution.",
    ),
    GalleryEntry(
        id="fig5.2",
        title="IP output histogram after 10 000 iterations, gaussian(5, 2)",
        chapter=5,
        claim="IP turns a Gaussian input far from zero into a nearly uniform output (maximum entropy).",
        kind="neuron",
        datasets=("gaussian(5, 2)",),
        rules=("ip",),
        parts={f"s{s}": _neuron("gaussian", ("ip",), s, mu=5.0, sigma=2.0) for s in range(SEEDS)},
        plot="histogram",
        check="uniform_output",
        notes="η = 1e-3 (single-neuron default); 10 seeds.",
    ),
    GalleryEntry(
        id="lemma5.1",
        title="Where IP's β settles: the median, not the mean",
        chapter=5,
        claim="IP's β settles at the median of the input; for skewed inputs that differs from the mean.",
        kind="neuron",
        datasets=tuple(LEMMA_INPUTS),
        rules=("ip",),
        parts={
            f"{name}-s{s}": _neuron(fields["dist"], ("ip",), s, **{k: v for k, v in fields.items() if k != "dist"})
            for name, fields in LEMMA_INPUTS.items()
            for s in range(SEEDS)
        },  # fmt: skip
        plot="beta_median",
        check="beta_median",
        notes="Inputs: gaussian(5, 2) and laplace(2, 1) (symmetric: median = mean); lognormal(0, 0.75) and "
        "gamma(a=2, scale=1.5) (skewed: median < mean). 10 seeds each.",
    ),
    GalleryEntry(
        id="fw-cov",
        title="Future work: α toward 2Cov(x, y) instead of 2E[xy]",
        chapter=6,
        claim="Thesis §6.2 suggests the covariance target 2Cov(x, y) as a cleaner fixed point for α; expected to "
        "train at least as well as the E[xy] target.",
        kind="train",
        datasets=("mnist",),
        rules=("ip_cov", "ip", "wd_cov", "wd"),
        parts={"mnist": _net("mnist", ("ip_cov", "ip", "wd_cov", "wd"), 0.01, depth=DEEP_DEPTH)},
        plot="loss",
        check="pairs",
        extra={"pairs": (("ip_cov", "ip"), ("wd_cov", "wd"))},
        notes="Deep MNIST at lr 0.01, default η (1e-4 for the Adam rules, 0.1 for weighted decay). §6.2 writes "
        "Cov(x, y) without a factor; we keep IP's factor 2 so that α's fixed point is unchanged once β has "
        "settled (E[y] = 0 makes Cov(x, y) = E[xy]); §6.2's reason for the covariance is the E[x]E[y] term "
        "offsetting approximation errors, not a halved gain.",
    ),
    GalleryEntry(
        id="fw-hard",
        title="Future work: instantaneous IP vs batch normalisation vs incremental BN",
        chapter=6,
        claim="Thesis §6.2 proposes a 'hard', instantaneous IP (β = batch median, α solved on the batch) as the "
        "IP analogue of true batch normalisation; expected to approach batch normalisation.",
        kind="train",
        datasets=("mnist", "cifar10"),
        rules=("ip_hard", "batchnorm", "bn_inc"),
        parts={
            "mnist": _net("mnist", ("ip_hard", "batchnorm", "bn_inc"), 0.01, depth=DEEP_DEPTH),
            "cifar10": _net("cifar10", ("ip_hard", "batchnorm", "bn_inc"), 1e-3, depth=DEEP_DEPTH),
        },
        plot="loss",
        check="pairs",
        baseline="batchnorm",
        extra={"pairs": (("ip_hard", "batchnorm"), ("ip_hard", "bn_inc"))},
        notes="lr 0.01 on MNIST, 0.001 on CIFAR-10.",
    ),
    GalleryEntry(
        id="fw-stability",
        title="Future work: long runs and raised η — which rule diverges first",
        chapter=6,
        claim="The thesis saw α cross zero and asks how stable the rules are over long training; raising η should "
        "expose which of IP, WD and Infomax breaks first.",
        kind="train",
        datasets=("mnist",),
        rules=STABILITY_RULES,
        parts={
            f"eta-x{k}": _net("mnist", STABILITY_RULES, 0.01, depth=DEEP_DEPTH, eta=_stability_eta(k), epochs=100)
            for k in STABILITY_SCALES
        },  # fmt: skip
        plot="stability",
        check="stability",
        notes="Deep MNIST, lr 0.01, 100 epochs, η ×1/×10/×100 of the defaults (IP, Infomax 1e-4 → 1e-2). WD's η "
        "is a mixing weight ≤ 1: ×10 gives 1.0 and ×100 is capped at 1.0.",
    ),
]

_BY_ID = {entry.id: entry for entry in ENTRIES}


def get_entry(entry_id: str) -> GalleryEntry:
    try:
        return _BY_ID[entry_id]
    except KeyError:
        raise KeyError(f"unknown gallery entry {entry_id!r}; known: {', '.join(_BY_ID)}") from None


# --- assessment ---------------------------------------------------------------------------------------

RECORD_NUMBERS = ("final_train_loss", "test_accuracy")


def final_per_rule(metrics: dict[str, np.ndarray], key: str = "epoch/train_loss") -> dict[str, np.ndarray]:
    """A last-epoch metric per member (default: the training loss), grouped by rule; diverged members NaN."""
    values = np.asarray(metrics[key], dtype=float)[-1].copy()
    diverged = np.asarray(metrics["diverged_step"]) >= 0
    values[diverged] = np.nan
    rules = [str(r) for r in metrics["members_rule"]]
    return {r: values[[i for i, m in enumerate(rules) if m == r]] for r in dict.fromkeys(rules)}


def final_losses(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return final_per_rule(metrics, "epoch/train_loss")


def _acc(metrics: dict[str, np.ndarray], rule: str) -> str:
    values = final_per_rule(metrics, "epoch/test_acc")[rule]
    values = values[np.isfinite(values)]
    return f"test acc {100 * values.mean():.1f} %" if values.size else "test acc –"


def diverged_counts(metrics: dict[str, np.ndarray]) -> dict[str, int]:
    diverged = np.asarray(metrics["diverged_step"]) >= 0
    rules = [str(r) for r in metrics["members_rule"]]
    return {r: int(sum(diverged[i] for i, m in enumerate(rules) if m == r)) for r in dict.fromkeys(rules)}


def layer_slope(metrics: dict[str, np.ndarray], layer: int) -> dict[str, float]:
    """Mean ∂y/∂u of one hidden layer over the whole run (all recorded steps, non-diverged members), per rule."""
    values = np.asarray(metrics["layer/grad_y_u"], dtype=float)[:, :, layer]  # [S, M]
    diverged = np.asarray(metrics["diverged_step"]) >= 0
    rules = [str(r) for r in metrics["members_rule"]]
    out = {}
    for rule in dict.fromkeys(rules):
        cols = [i for i, m in enumerate(rules) if m == rule and not diverged[i]]
        out[rule] = float(np.nanmean(values[:, cols])) if cols else math.nan
    return out


def _fmt(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "all diverged"
    return f"{values.mean():.4f} ± {values.std():.4f}"


def _mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.inf


def assess(entry: GalleryEntry, records: list[Any]) -> dict[str, Any]:
    """The card's measurement and verdict from the entry's records (``RunRecord``: ``config``, ``metrics``,
    ``summary``, and the part in ``meta``). Verdicts: "reproduced", "partly", "not reproduced", "missing"."""
    by_part = {}
    for record in records:
        part = record.meta.get("part")
        if part in entry.parts:
            by_part[part] = record
    if not by_part:
        return {"measured": "no record yet", "verdict": "missing", "numbers": {}, "parts": 0}
    assessor = _ASSESSORS[entry.check]
    measured, verdict, numbers = assessor(entry, by_part)
    if len(by_part) < len(entry.parts) and verdict != "missing":
        measured += f" (only {len(by_part)} of {len(entry.parts)} parts computed)"
    return {"measured": measured, "verdict": verdict, "numbers": numbers, "parts": len(by_part)}


def _verdict(hits: int, total: int) -> str:
    if total and hits == total:
        return "reproduced"
    return "partly" if hits else "not reproduced"


def _assess_not_worse(entry, by_part):
    """Claim: the rule's final training loss is no worse than the baseline's (within 5 % or lower)."""
    texts, numbers, hits = [], {}, 0
    rule = entry.rules[0]
    for part, record in sorted(by_part.items()):
        losses = final_losses(record.metrics)
        ok = _mean(losses[rule]) <= 1.05 * _mean(losses[entry.baseline])
        hits += ok
        numbers[part] = {r: _mean(v) for r, v in losses.items()}
        texts.append(f"{part}: final train loss {rule} {_fmt(losses[rule])} ({_acc(record.metrics, rule)}), "
                     f"{entry.baseline} {_fmt(losses[entry.baseline])} ({_acc(record.metrics, entry.baseline)})")  # fmt: skip
    return "; ".join(texts), _verdict(hits, len(by_part)), numbers


def _assess_robust(entry, by_part):
    """Claim: at every lr the rule's final loss is lower than the baseline's (or the baseline diverges more);
    reproduced when that holds at every lr, with the gap at the largest lr."""
    texts, numbers, hits = [], {}, 0
    rule = entry.rules[0]
    for part, record in sorted(by_part.items(), key=lambda kv: kv[1].config.lr):
        losses = final_losses(record.metrics)
        diverged = diverged_counts(record.metrics)
        ok = _mean(losses[rule]) < _mean(losses[entry.baseline]) or diverged[rule] < diverged[entry.baseline]
        hits += ok
        numbers[part] = {"loss": {r: _mean(v) for r, v in losses.items()}, "diverged": diverged}
        texts.append(
            f"lr {record.config.lr:g}: {rule} {_fmt(losses[rule])}, {_acc(record.metrics, rule)} "
            f"({diverged[rule]} diverged); {entry.baseline} {_fmt(losses[entry.baseline])}, "
            f"{_acc(record.metrics, entry.baseline)} ({diverged[entry.baseline]} diverged)"
        )
    return "; ".join(texts), _verdict(hits, len(by_part)), numbers


def _assess_larger_slope(entry, by_part):
    """Claim: mean ∂y/∂u of the layer is larger under each rule than under the baseline."""
    record = next(iter(by_part.values()))
    slopes = layer_slope(record.metrics, entry.layer or 0)
    others = [r for r in entry.rules if r != entry.baseline]
    hits = sum(slopes[r] > slopes[entry.baseline] for r in others)
    ratios = {r: slopes[r] / slopes[entry.baseline] for r in others}
    text = f"mean ∂y/∂u, hidden layer {(entry.layer or 0) + 1}: " + ", ".join(
        f"{r} {slopes[r]:.3f}" for r in entry.rules
    )
    text += "; ratio to standard: " + ", ".join(f"{r} {ratios[r]:.2f}×" for r in others)
    return text, _verdict(hits, len(others)), {"slopes": slopes, "ratios": ratios}


def _assess_best_of(entry, by_part):
    """Claim: the first rule has the lowest final training loss of all rules compared."""
    texts, numbers, hits = [], {}, 0
    rule = entry.rules[0]
    for part, record in sorted(by_part.items()):
        losses = {r: _mean(v) for r, v in final_losses(record.metrics).items()}
        diverged = diverged_counts(record.metrics)
        best = min(losses, key=losses.get)
        hits += best == rule
        numbers[part] = {"loss": losses, "diverged": diverged, "best": best}
        ranking = ", ".join(f"{r} {losses[r]:.4f} ({_acc(record.metrics, r)}" + (f", {diverged[r]} div.)" if diverged[r] else ")")
                            for r in sorted(losses, key=losses.get))  # fmt: skip
        texts.append(f"{part}: {ranking}")
    return "; ".join(texts), _verdict(hits, len(by_part)), numbers


def _assess_pairs(entry, by_part):
    """Claim: in each pair (a, b), rule a's final loss is at most 5 % above rule b's."""
    texts, numbers, hits, total = [], {}, 0, 0
    for part, record in sorted(by_part.items()):
        losses = {r: _mean(v) for r, v in final_losses(record.metrics).items()}
        numbers[part] = losses
        for a, b in entry.extra["pairs"]:
            total += 1
            hits += losses[a] <= 1.05 * losses[b]
        texts.append(f"{part}: " + ", ".join(f"{r} {losses[r]:.4f} ({_acc(record.metrics, r)})" for r in losses))
    return "; ".join(texts), _verdict(hits, total), numbers


def _neuron_final(record, key: str) -> dict[str, float]:
    rules = [str(r) for r in record.metrics["rules"]]
    values = np.asarray(record.metrics[f"trace/{key}"], dtype=float)[-1]
    return dict(zip(rules, values, strict=True))


def _assess_entropy_order(entry, by_part):
    """Claim: H(ip) ≈ H(infomax) (within 0.02 nats), H(bn_inc) a little below H(ip), H(wd) much lower."""
    texts, numbers, hits, total = [], {}, 0, 0
    for dist in ("uniform", "gaussian"):
        parts = [r for p, r in by_part.items() if p.startswith(dist)]
        if not parts:
            continue
        ent = {r: np.array([_neuron_final(rec, "entropy")[r] for rec in parts]) for r in entry.rules}
        mean = {r: float(v.mean()) for r, v in ent.items()}
        checks = [
            abs(mean["ip"] - mean["infomax"]) <= 0.02,
            mean["bn_inc"] < mean["ip"],
            mean["wd"] < mean["ip"] - 0.1,
        ]
        hits, total = hits + sum(checks), total + len(checks)
        numbers[dist] = mean
        texts.append(f"{dist} ({len(parts)} seeds): " + ", ".join(f"{r} {_fmt(ent[r])} nats" for r in entry.rules))
    return "; ".join(texts) + f" (max log 2 = {ENTROPY_MAX:.4f})", _verdict(hits, total), numbers


def _assess_uniform_output(entry, by_part):
    """Claim: IP's output entropy ends within 0.02 nats of the maximum log 2."""
    ent = np.array([_neuron_final(rec, "entropy")["ip"] for rec in by_part.values()])
    gap = ENTROPY_MAX - ent
    hits = int((gap <= 0.02).sum())
    text = f"IP output entropy {_fmt(ent)} nats over {len(ent)} seeds (max {ENTROPY_MAX:.4f}; gap {gap.mean():.4f})"
    return text, _verdict(hits, len(ent)), {"entropy": float(ent.mean()), "gap": float(gap.mean())}


def _assess_beta_median(entry, by_part):
    """Claim: β ends closer to the sample median than to the mean (skewed inputs), and within 0.1 of it."""
    texts, numbers, hits, total = [], {}, 0, 0
    for name in LEMMA_INPUTS:
        parts = [r for p, r in by_part.items() if p.startswith(name + "-")]
        if not parts:
            continue
        beta = np.array([_neuron_final(rec, "beta")["ip"] for rec in parts])
        median = np.array([float(rec.metrics["sample_median"]) for rec in parts])
        mean = np.array([float(rec.metrics["sample_mean"]) for rec in parts])
        to_median, to_mean = np.abs(beta - median), np.abs(beta - mean)
        skewed = np.abs(median - mean).mean() > 0.05
        ok = (to_median.mean() < 0.1) and (not skewed or to_median.mean() < to_mean.mean())
        hits, total = hits + ok, total + 1
        numbers[name] = {
            "beta_minus_median": float((beta - median).mean()),
            "beta_minus_mean": float((beta - mean).mean()),
        }
        texts.append(f"{name}: β−median {(beta - median).mean():+.3f}, β−mean {(beta - mean).mean():+.3f}")
    return "; ".join(texts), _verdict(hits, total), numbers


def _assess_stability(entry, by_part):
    """Future-work question, no thesis number: report divergences and α ≤ 0 counts per rule and η scale.
    'reproduced' means the thesis's observation (instability under large η) shows up in at least one rule."""
    texts, numbers, unstable = [], {}, 0
    for part, record in sorted(by_part.items(), key=lambda kv: int(kv[0].split("x")[-1])):
        diverged = diverged_counts(record.metrics)
        losses = {r: _mean(v) for r, v in final_losses(record.metrics).items()}
        nonpos = {r["rule"]: r.get("alpha_nonpositive", 0) for r in record.summary.get("rules", [])}
        unstable += sum(diverged.values()) + sum(int(v or 0) > 0 for v in nonpos.values())
        numbers[part] = {"diverged": diverged, "loss": losses, "alpha_nonpositive": nonpos}
        texts.append(f"{part}: " + ", ".join(
            f"{r} loss {losses[r]:.4f}, {_acc(record.metrics, r)}, {diverged[r]} diverged, α≤0 {int(nonpos.get(r) or 0)}"
            for r in losses))  # fmt: skip
    return "; ".join(texts), ("reproduced" if unstable else "not reproduced"), numbers


_ASSESSORS = {
    "not_worse": _assess_not_worse,
    "robust": _assess_robust,
    "larger_slope": _assess_larger_slope,
    "best_of": _assess_best_of,
    "pairs": _assess_pairs,
    "entropy_order": _assess_entropy_order,
    "uniform_output": _assess_uniform_output,
    "beta_median": _assess_beta_median,
    "stability": _assess_stability,
}


# --- computing and reporting --------------------------------------------------------------------------


def entry_records(runs_dir: str, entry: GalleryEntry) -> list[Any]:
    """The stored records of an entry (one per computed part)."""
    from ipcore.records import list_runs, load_run

    ids = {entry.run_id(part) for part in entry.parts}
    return [load_run(runs_dir, item["run_id"]) for item in list_runs(runs_dir) if item["run_id"] in ids]


def done_parts(runs_dir: str, entry: GalleryEntry) -> set[str]:
    """Parts whose record exists and finished (state "done"): ``gallery`` skips them when resuming."""
    from ipcore.records import list_runs

    ids = {entry.run_id(part): part for part in entry.parts}
    return {ids[item["run_id"]] for item in list_runs(runs_dir) if item["run_id"] in ids and item["state"] == "done"}


def _settings(entry: GalleryEntry, records: list[Any]) -> str:
    if not records:
        return "–"
    config = records[0].config
    if entry.kind == "neuron":
        seeds = len({r.config.seed for r in records})
        inputs = len(records) // max(seeds, 1)
        per = f" for each of {inputs} inputs" if inputs > 1 else ""
        return f"{seeds} seeds{per} × {config.iters} iterations, n = {config.n}"
    seeds = sorted({r.config.seeds for r in records})
    epochs = sorted({r.config.epochs for r in records})
    subset = {r.config.subset for r in records}
    devices = sorted({str(r.meta.get("device", "?")) for r in records})
    text = f"{'/'.join(map(str, seeds))} seeds, {'/'.join(map(str, epochs))} epochs"
    if subset != {0}:
        text += f", first {max(subset)} training samples"
    text += f", depth {config.depth}, width {'/'.join(str(w) for w in sorted({r.config.width for r in records}))}"
    for record in records:
        if record.meta.get("state") != "done":
            done = len(record.metrics.get("epoch/epoch", []))
            text += (
                f"; {record.meta.get('part')} {record.meta.get('state')} after {done} of {record.config.epochs} epochs"
            )
    return text + f" ({', '.join(devices)})"


def _data(entry: GalleryEntry) -> str:
    if entry.kind == "neuron":
        return "synthetic samples: " + ", ".join(entry.datasets)
    names = {"mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG re-encoding)"}
    return ", ".join(names.get(d, d) for d in entry.datasets)


REPORT_START, REPORT_END = "<!-- gallery-table:start -->", "<!-- gallery-table:end -->"


def report_table(runs_dir: str) -> str:
    """The REPRODUCTION.md table: one row per entry, from the stored records."""
    rows = [
        "| id | thesis claim | our measurement | seeds, epochs | data | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for entry in ENTRIES:
        records = entry_records(runs_dir, entry)
        result = assess(entry, records)
        cells = [entry.id, entry.claim, result["measured"], _settings(entry, records), _data(entry), result["verdict"]]
        rows.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(rows)


def write_report(runs_dir: str, path: str) -> None:
    """Replace the table between the markers in ``path`` (the hand-written discussion around it is kept)."""
    from pathlib import Path

    target = Path(path)
    table = f"{REPORT_START}\n{report_table(runs_dir)}\n{REPORT_END}"
    text = target.read_text() if target.exists() else f"# Reproduction report\n\n{REPORT_START}\n{REPORT_END}\n"
    if REPORT_START in text and REPORT_END in text:
        head, rest = text.split(REPORT_START, 1)
        _, tail = rest.split(REPORT_END, 1)
        text = head + table + tail
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)


_INPUTS = {"mnist": (60_000, 784), "cifar10": (50_000, 3072)}


def estimated_cost(config: Config) -> float:
    """Rough seconds of one part on a GPU, to schedule the longest parts first: small models there are
    launch-bound (a fixed cost per layer and step) plus their arithmetic at a modest rate."""
    if config.kind == "neuron":
        return config.iters * len(config.rules) * 1e-4
    samples, inputs = _INPUTS.get(config.dataset, (10_000, 100))
    if config.subset:
        samples = min(samples, config.subset)
    steps = config.epochs * samples / config.batch_size
    macs = inputs * config.width + (config.depth - 1) * config.width**2 + config.width * 10
    flops = 6 * steps * config.batch_size * config.seeds * len(config.rules) * macs
    return steps * (config.depth + 2) * 3e-4 + flops / 2e13
