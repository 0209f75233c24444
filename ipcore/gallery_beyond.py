"""The gallery's chapter "beyond the thesis": our own questions, the ones a researcher asks after the thesis.

The thesis's network claims rest on Adam, seven hidden layers and tanh units (§3.2.2, ch. 4). Each entry here
changes one of those and states a hypothesis that is *ours*, not the thesis's, with records computed the same way
as the thesis entries (identical initial weights across rules for the same seed, batch 200, MNIST read from the
shared folder), but smaller: they were computed on a shared 2-core CPU, so 5 seeds, 3 epochs and the first 20 000
MNIST training samples (said in every entry's notes).

Comparisons are paired per seed like the thesis entries' (``stats.paired_difference``, 95 % t-interval →
reproduced / contradicted / inconclusive), with one difference: a network that *collapsed* to chance keeps its
loss (≈ ln 10) in the comparison instead of being left out, because failing to learn at all is the outcome these
questions are about (plain SGD leaves the standard deep tanh net at chance); only diverged seeds (non-finite
loss) are left out. Each entry's text says how many seeds collapsed.

Metrics per seed (``seed_metric``): ``final_loss`` (last epoch's training loss), ``test_acc``, ``grad_y_u``
(mean ∂y/∂u over the run; one hidden layer, or all of them), ``entropy_unit`` (each unit's own output entropy,
averaged over the layer and the second half of the run), ``log_grad_weight`` (log₁₀ of the RMS loss gradient of a
layer's incoming weights, averaged over the run), ``log_grad_ratio`` (log₁₀ of the first hidden layer's RMS over
the last one's: how much the gradient shrinks on its way down; a net whose gradient is exactly 0 everywhere — its
ReLU output units all dead — has no ratio and is left out) and ``benefit`` (the baseline's final loss minus the rule's:
how much a rule helps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ipcore.assessment import claim_text, combine_verdicts
from ipcore.gallery_entry import GalleryEntry
from ipcore.health import member_health, rule_members
from ipcore.stats import interval_verdict, paired_difference

CHAPTER = 7
CHAPTER_TITLE = "7 — beyond the thesis"
SEEDS, EPOCHS, SUBSET = 10, 3, 20_000
"""What fits the shared 2-core CPU (the thesis entries: 10 seeds, 20 epochs, all 60 000 samples)."""
LOG_EVERY, HIST_EVERY = 10, 150
"""Recorded every 10 of the 300 steps (loss and layer rows) and 3 histograms: 10-seed records of 30-layer nets stay
compact (the committed gallery must stay under 40 MiB)."""
DEEP_LR = 0.01
SGD_LR = 0.1
"""Plain SGD's learning rate: a probe of 0.03, 0.1 and 0.3 on 10 000 samples (2 seeds, 2 epochs) left the standard
net at chance at 0.03 and changed little between 0.1 and 0.3."""
MOMENTUM_LR = 0.01
"""With momentum 0.9 the effective step is lr/(1 − 0.9) = 0.1, plain SGD's."""
DEPTHS = (15, 30)
DEPTH_LR = 0.005  # Fig. 3.7's rate, where the thesis measured ∂y/∂u


def _net(rules: tuple[str, ...], lr: float, *, depth: int = 7, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "train",
        "dataset": "mnist",
        "rules": list(rules),
        "depth": depth,
        "width": 50,
        "lr": lr,
        "epochs": EPOCHS,
        "seeds": SEEDS,
        "subset": SUBSET,
        "batch_size": 200,
        "log_every": LOG_EVERY,
        "hist_every": HIST_EVERY,
        **kw,
    }


@dataclass(frozen=True)
class Comparison:
    """One sub-claim: the paired difference a − b of ``metric`` per seed lies on ``side`` ("<" or ">") of 0.

    ``a`` is measured in ``part``, ``b`` in ``part_b`` (default the same part). ``layer``: a hidden layer (0-based;
    −1 the last) or None for the mean over all layers. With metric ``benefit`` a value is ``baseline``'s final
    loss minus the rule's in the same record."""

    label: str
    part: str
    a: str
    b: str
    side: str
    metric: str = "final_loss"
    layer: int | None = None
    part_b: str = ""
    baseline: str = "none"


def _layer_mean(values: np.ndarray, layer: int | None) -> np.ndarray:
    """``[K, M, L]`` → ``[K, M]``: one layer, or the mean over layers."""
    return np.nanmean(values, axis=-1) if layer is None else values[:, :, layer]


def seed_metric(record: Any, rule: str, metric: str, layer: int | None = None, baseline: str = "none") -> dict:
    """{seed: value} of ``rule`` over the seeds that did not diverge (collapsed seeds kept, see the module)."""
    metrics = record.metrics
    members = rule_members(metrics).get(rule, np.array([], dtype=np.int64))
    seeds = np.asarray(metrics["members_seed"])
    diverged = np.asarray(metrics["diverged_step"]) >= 0
    if metric == "benefit":
        base = seed_metric(record, baseline, "final_loss")
        mine = seed_metric(record, rule, "final_loss")
        return {s: base[s] - mine[s] for s in sorted(set(base) & set(mine))}
    if metric == "final_loss":
        values = np.asarray(metrics["epoch/train_loss"], dtype=float)[-1]
    elif metric == "test_acc":
        values = np.asarray(metrics["epoch/test_acc"], dtype=float)[-1]
    elif metric == "grad_y_u":
        values = np.nanmean(_layer_mean(np.asarray(metrics["layer/grad_y_u"], dtype=float), layer), axis=0)
    elif metric == "entropy_unit":
        rows = np.asarray(metrics["layer/entropy_unit"], dtype=float)
        values = np.nanmean(_layer_mean(rows[len(rows) // 2 :], layer), axis=0)
    elif metric == "log_grad_weight":
        rms = np.asarray(metrics["layer/grad_weight_rms"], dtype=float)[1:]  # row 0: before any backward pass
        with np.errstate(divide="ignore"):  # 0: every gradient cut off (all ReLU output units dead) → −inf, left out
            values = np.log10(np.nanmean(_layer_mean(rms, layer), axis=0))
    elif metric == "log_grad_ratio":
        rms = np.nanmean(np.asarray(metrics["layer/grad_weight_rms"], dtype=float)[1:], axis=0)  # [M, L]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log10(rms[:, 0] / rms[:, -1])
    else:
        raise ValueError(f"unknown metric {metric!r}")
    return {int(seeds[m]): float(values[m]) for m in members if not diverged[m] and np.isfinite(values[m])}


def evaluate(comparison: Comparison, by_part: dict[str, Any]) -> dict[str, Any]:
    """The paired interval and verdict of one comparison ("missing" when a record is absent)."""
    part_b = comparison.part_b or comparison.part
    if comparison.part not in by_part or part_b not in by_part:
        return {"label": comparison.label, "verdict": "missing"}
    c = comparison
    a = seed_metric(by_part[c.part], c.a, c.metric, c.layer, c.baseline)
    b = seed_metric(by_part[part_b], c.b, c.metric, c.layer, c.baseline)
    seeds = sorted(set(a) & set(b))
    result = paired_difference(np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds]))
    verdict = interval_verdict(result["low"], result["high"], c.side) if result["n"] >= 2 else "inconclusive"
    return {"label": c.label, "verdict": verdict, **result}


METRIC_TEXT = {
    "final_loss": "final train loss",
    "test_acc": "test accuracy",
    "grad_y_u": "mean ∂y/∂u",
    "entropy_unit": "per-unit entropy (nats)",
    "log_grad_weight": "log₁₀ RMS ∂loss/∂W",
    "log_grad_ratio": "log₁₀ (RMS ∂loss/∂W of layer 1 / of the last layer)",
    "benefit": "loss below the standard net's",
}


def _rule_text(record: Any, rule: str, metric: str, layer: int | None) -> str:
    values = np.array(list(seed_metric(record, rule, metric, layer).values()))
    health = member_health(record.metrics, getattr(record.config, "dataset", None))
    members = rule_members(record.metrics)[rule]
    collapsed = int(health.collapsed[members].sum())
    note = f", {collapsed} of {len(members)} collapsed" if collapsed else ""
    if values.size == 0:
        return f"{rule} – (no seed{note})"
    return f"{rule} {values.mean():.4g} ± {values.std():.2g}{note}"


def assess_beyond(entry: Any, by_part: dict[str, Any]) -> tuple[str, str, dict]:
    """Per part the rules' means of the entry's ``summary_metrics`` (over the seeds that did not diverge), then
    every comparison's paired interval and verdict (``gallery.combine_verdicts`` of them)."""

    texts, numbers = [], {}
    summary_metrics = entry.extra.get("summary_metrics", (("final_loss", None),))
    for part in [p for p in entry.parts if p in by_part]:
        record = by_part[part]
        rules = list(rule_members(record.metrics))
        for metric, layer in summary_metrics:
            where = "" if layer is None else f", hidden layer {layer + 1 if layer >= 0 else 'last'}"
            texts.append(
                f"{part}: {METRIC_TEXT[metric]}{where} "
                + ", ".join(_rule_text(record, r, metric, layer) for r in rules)
            )
    results = []
    for comparison in entry.extra["comparisons"]:
        result = evaluate(comparison, by_part)
        results.append(result)
        text = claim_text(result, "Δ " + METRIC_TEXT[comparison.metric])
        texts.append(text.replace("seeds healthy under both", "seeds with a value under both (collapsed kept)"))
        numbers[comparison.label] = dict(result)
    verdict = combine_verdicts([r["verdict"] for r in results if r["verdict"] != "missing"])
    return "; ".join(texts), verdict, numbers


def _entries() -> list[Any]:
    sgd_rules = ("ip", "wd", "batchnorm", "none")
    depth_rules = ("ip", "wd", "none")
    logistic_rules = ("triesch_logistic", "ip_logistic", "batchnorm", "none")
    small = f"{SEEDS} seeds, {EPOCHS} epochs on the first {SUBSET:,} MNIST training samples (shared 2-core CPU)"
    return [
        GalleryEntry(
            id="bt-sgd",
            title="Plain SGD instead of Adam: do IP, WD and batch norm help more?",
            chapter=CHAPTER,
            claim="Ours (beyond the thesis): Adam rescales every weight's step to about lr whatever its gradient, "
            "which can hide the vanishing gradients IP is meant to cure (§3.1's first hypothesis). Under plain SGD "
            "(and SGD with momentum) IP, WD and batch norm should each train the deep tanh net to a lower loss than "
            "the standard net, and by a larger margin than under Adam.",
            kind="train",
            datasets=("mnist",),
            rules=sgd_rules,
            parts={
                "adam": _net(sgd_rules, DEEP_LR),
                "sgd": _net(sgd_rules, SGD_LR, optimizer="sgd"),
                "momentum": _net(sgd_rules, MOMENTUM_LR, optimizer="momentum", momentum=0.9),
            },
            plot="loss",
            check="beyond",
            extra={
                "comparisons": tuple(
                    Comparison(f"{opt}: {rule} below standard", opt, rule, "none", "<")
                    for opt in ("sgd", "momentum")
                    for rule in ("ip", "wd", "batchnorm")
                )
                + tuple(
                    Comparison(
                        f"{rule} helps more under {opt} than under Adam",
                        opt,
                        rule,
                        rule,
                        ">",
                        metric="benefit",
                        part_b="adam",
                    )  # fmt: skip
                    for opt in ("sgd", "momentum")
                    for rule in ("ip", "wd", "batchnorm")
                ),
                "summary_metrics": (("final_loss", None), ("grad_y_u", None)),
            },
            notes=f"Deep MNIST (7 × 50 tanh, ReLU output), {small}. Adam lr {DEEP_LR:g}; SGD lr {SGD_LR:g} (a "
            f"probe of 0.03/0.1/0.3 left the standard net at chance at 0.03); momentum 0.9 at lr {MOMENTUM_LR:g} "
            "(the same effective step). η: the thesis's network defaults (IP 1e-4, WD 0.1). 'Helps more' compares "
            "per seed the rule's loss below the standard net's under SGD with the same under Adam. Collapsed seeds "
            "keep their chance-level loss in these comparisons.",
        ),
        GalleryEntry(
            id="bt-depth",
            title="15 and 30 hidden layers: where does the gradient vanish?",
            chapter=CHAPTER,
            claim="Ours (beyond the thesis): the thesis stops at 7 hidden layers. At 15 and 30 layers the standard "
            "tanh net's gradient should shrink on its way down to the first layers, and IP and WD, which keep "
            "units in the steep part of tanh (§3.1, Fig. 3.7, 4.4), should keep more of it alive there (the RMS "
            "∂loss/∂W of the first hidden layer falls less below the last one's; a larger mean ∂y/∂u) and train to "
            "a lower loss.",
            kind="train",
            datasets=("mnist",),
            rules=depth_rules,
            parts={f"d{d}": _net(depth_rules, DEPTH_LR, depth=d) for d in DEPTHS},
            plot="layer_profile",
            check="beyond",
            extra={
                "comparisons": tuple(
                    c
                    for d in DEPTHS
                    for rule, name in (("ip", "IP"), ("wd", "WD"))
                    for c in (
                        Comparison(
                            f"d{d}: {name}'s gradient shrinks less toward layer 1 than standard's",
                            f"d{d}",
                            rule,
                            "none",
                            ">",
                            metric="log_grad_ratio",
                        ),  # fmt: skip
                        Comparison(
                            f"d{d}: {name}'s ∂y/∂u above standard's (all layers)",
                            f"d{d}",
                            rule,
                            "none",
                            ">",
                            metric="grad_y_u",
                        ),  # fmt: skip
                        Comparison(f"d{d}: {name} below standard", f"d{d}", rule, "none", "<"),
                    )
                ),
                "summary_metrics": (
                    ("final_loss", None),
                    ("log_grad_weight", 0),
                    ("log_grad_weight", -1),
                    ("log_grad_ratio", None),
                    ("grad_y_u", None),
                ),  # fmt: skip
                "profile_metrics": ("grad_y_u", "grad_weight_rms"),
            },
            notes=f"MNIST, width 50, Adam lr {DEPTH_LR:g} (Fig. 3.7's rate), default η, {small}. The gradient "
            "reaching a layer is the RMS of ∂loss/∂W of its incoming weights, recorded per layer over training "
            "(`grad_weight_rms`); the card draws it and ∂y/∂u against depth. The depth limit is now 32.",
        ),
        GalleryEntry(
            id="bt-logistic",
            title="Logistic units with their own IP: Triesch 2005 and the thesis's §3.1 variant",
            chapter=CHAPTER,
            claim="Ours (beyond the thesis): §3.1 says that for logistic units IP would shift by E[x] and scale by "
            "σ[x]; Triesch 2005 gives logistic units an exponential output target. In a deep logistic net both "
            "rules should train to a lower loss than the standard logistic net and keep ∂y/∂u larger.",
            kind="train",
            datasets=("mnist",),
            rules=logistic_rules,
            parts={
                "mnist": _net(
                    logistic_rules,
                    DEEP_LR,
                    activation="logistic",
                    output="linear",
                    eta={"triesch_logistic": 1e-3, "ip_logistic": 1e-2},
                )
            },
            plot="loss",
            check="beyond",
            extra={
                "comparisons": tuple(
                    c
                    for rule in ("triesch_logistic", "ip_logistic")
                    for c in (
                        Comparison(f"{rule} below standard", "mnist", rule, "none", "<"),
                        Comparison(f"{rule}'s ∂y/∂u above standard's", "mnist", rule, "none", ">", metric="grad_y_u"),
                    )
                )
                + (Comparison("ip_logistic below batch norm", "mnist", "ip_logistic", "batchnorm", "<"),),
                "summary_metrics": (("final_loss", None), ("grad_y_u", None), ("entropy_unit", None)),
            },
            notes=f"Deep MNIST with logistic hidden units (7 × 50) and a linear output (with the thesis's ReLU "
            "output every logistic net but batch norm's sat at chance in a 2-seed probe: positive hidden outputs "
            f"kill output units), Adam lr {DEEP_LR:g}, {small}. η: "
            "triesch_logistic 1e-3 (target mean μ 0.2), ip_logistic 1e-2 (Adam-smoothed like IP; at the thesis's "
            "1e-4 it would move α, β by only about 0.03 in these 300 steps). ∂y/∂u = y(1 − y) ≤ ¼ for logistic "
            "units. The neuron lab runs both rules on one logistic unit and draws the output against its target "
            "density (uniform on (0, 1), or the exponential of mean μ).",
        ),
        GalleryEntry(
            id="bt-relu",
            title="A ReLU baseline beside the tanh nets",
            chapter=CHAPTER,
            claim="Ours (beyond the thesis): the network people actually use has ReLU hidden units, with or without "
            "batch norm. The deep ReLU net should train to a lower loss than the standard tanh net, and than the "
            "best tanh rule of the thesis, WD; batch norm should help ReLU too.",
            kind="train",
            datasets=("mnist",),
            rules=("wd", "batchnorm", "none"),
            parts={
                "relu": _net(("batchnorm", "none"), DEEP_LR, activation="relu"),
                "tanh": _net(("wd", "batchnorm", "none"), DEEP_LR),
            },
            plot="loss",
            check="beyond",
            extra={
                "comparisons": (
                    Comparison("ReLU standard below tanh standard", "relu", "none", "none", "<", part_b="tanh"),
                    Comparison("ReLU standard below tanh WD", "relu", "none", "wd", "<", part_b="tanh"),
                    Comparison("ReLU + BN below tanh + BN", "relu", "batchnorm", "batchnorm", "<", part_b="tanh"),
                    Comparison("ReLU + BN below ReLU standard", "relu", "batchnorm", "none", "<"),
                ),
                "summary_metrics": (("final_loss", None), ("test_acc", None), ("grad_y_u", None)),
            },
            notes=f"Deep MNIST (7 × 50, ReLU output), Adam lr {DEEP_LR:g}, default η, {small}. The tanh rules that "
            "assume tanh (IP, WD, …) are refused for ReLU units; batch norm works with any unit. For ReLU ∂y/∂u is "
            "the share of active units, and the output entropy is not recorded (a point mass at 0).",
        ),
        GalleryEntry(
            id="bt-entropy",
            title="Per-unit entropy inside a network: is WD's higher? (§6.2)",
            chapter=CHAPTER,
            claim="Ours, from §6.2's open question: the single-neuron tests gave WD a poor entropy on fixed inputs "
            "(§5.2), but inside a network, where inputs keep shifting, WD's units might reach higher entropy. Each "
            "unit's own output entropy (not pooled over the layer), averaged over the layer, should be higher under "
            "WD than under IP and the standard net.",
            kind="train",
            datasets=("mnist",),
            rules=("wd", "ip", "none"),
            parts={"mnist": _net(("wd", "ip", "none"), DEEP_LR)},
            plot="layer_profile",
            check="beyond",
            extra={
                "comparisons": (
                    Comparison("WD's per-unit entropy above IP's", "mnist", "wd", "ip", ">", metric="entropy_unit"),
                    Comparison(
                        "WD's per-unit entropy above standard's", "mnist", "wd", "none", ">", metric="entropy_unit"
                    ),  # fmt: skip
                    Comparison(
                        "WD's per-unit entropy above standard's, first hidden layer",
                        "mnist",
                        "wd",
                        "none",
                        ">",
                        metric="entropy_unit",
                        layer=0,
                    ),  # fmt: skip
                    Comparison(
                        "WD's per-unit entropy above standard's, last hidden layer",
                        "mnist",
                        "wd",
                        "none",
                        ">",
                        metric="entropy_unit",
                        layer=-1,
                    ),  # fmt: skip
                ),
                "summary_metrics": (
                    ("entropy_unit", None),
                    ("entropy_unit", 0),
                    ("entropy_unit", -1),
                    ("final_loss", None),
                ),  # fmt: skip
                "profile_metrics": ("entropy_unit", "entropy"),
            },
            notes=f"Deep MNIST (7 × 50 tanh), Adam lr {DEEP_LR:g}, default η, {small}. Per-unit entropy: a 20-bin "
            "histogram of each unit's 200 outputs in a training batch with the Miller–Madow correction, averaged "
            "over the layer's units and the second half of the recorded steps; the maximum is log 2 ≈ 0.693 nats.",
        ),
    ]


def register(entries: list[Any], by_id: dict[str, Any], assessors: dict[str, Any]) -> None:
    """Add this chapter's entries and its assessment to the gallery's registries (``ipcore.gallery`` calls it)."""
    for entry in _entries():
        entries.append(entry)
        by_id[entry.id] = entry
    assessors["beyond"] = assess_beyond
