"""The gallery's chapter "beyond the thesis": our own questions, the ones a researcher asks after the thesis.

The thesis's network claims rest on Adam, seven hidden layers and tanh units (§3.2.2, ch. 4). Each entry here
changes one of those and states a hypothesis that is *ours*, not the thesis's, with records computed the same way
as the thesis entries (identical initial weights across rules for the same seed, batch 200, MNIST read from the
shared folder), but smaller: they were computed on a shared 2-core CPU, so 10 seeds, 3 epochs and the first 20 000
MNIST training samples (said in every entry's notes).

Sub-claims are the thesis entries' ``assessment.Claim`` (paired per seed, two analyses side by side and Holm's
correction within the entry, ``assessment.evaluate_claims``), with one difference in the main analysis: a network that *collapsed* to chance
keeps its loss (≈ ln 10) in the comparison instead of being left out (``Claim.keep_collapsed``), because failing
to learn at all is the outcome these questions are about (plain SGD leaves the standard deep tanh net at chance);
only diverged seeds (non-finite loss) are left out. Each entry's text says how many seeds collapsed.

The metrics per seed are ``reader.SEED_METRICS``' (``final_loss``, ``test_acc``, ``slope`` — the mean ∂y/∂u —,
``entropy_unit``, ``log_grad_weight``, ``log_grad_ratio``); how much a rule helps is a claim's ``baseline``: the
standard net's final loss minus the rule's, per seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ipcore.gallery.assessment import SD_NOTE, Claim, claims_text, combine_verdicts, reader_of
from ipcore.gallery.entry import GalleryEntry
from ipcore.results.reader import SEED_METRICS, RunReader

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


def _claim(label: str, part: str, a: str, b: str, side: str, **options: Any) -> Claim:
    """A sub-claim of this chapter: a thesis entry's ``Claim`` with the seeds collapsed to chance kept."""
    return Claim(label, part, a, b, side, keep_collapsed=True, **options)


def _rule_text(reader: RunReader, rule: str, metric: str, layer: int | None) -> str:
    """A rule's mean ± sample standard deviation over its seeds that did not diverge, and how many collapsed."""
    values = np.array(list(reader.seed_values(rule, metric, layer, keep_collapsed=True).values()))
    seeds = reader.rule(rule)
    note = f", {seeds.collapsed} of {len(seeds.members)} collapsed" if seeds.collapsed else ""
    if values.size == 0:
        return f"{rule} – (no seed{note})"
    sd = values.std(ddof=1) if values.size > 1 else math.nan
    return f"{rule} {values.mean():.4g} ± {sd:.2g}{note}"


def assess_beyond(entry: Any, by_part: dict[str, Any]) -> tuple[str, str, dict]:
    """Per part the rules' means of the entry's ``summary_metrics`` (over the seeds that did not diverge), then
    every sub-claim's paired interval and verdict (``assessment.combine_verdicts`` of them)."""
    texts = []
    summary_metrics = entry.extra.get("summary_metrics", (("final_loss", None),))
    for part in [p for p in entry.parts if p in by_part]:
        reader = reader_of(by_part[part])
        for metric, layer in summary_metrics:
            where = "" if layer is None else f", hidden layer {layer + 1 if layer >= 0 else 'last'}"
            texts.append(
                f"{part}: {SEED_METRICS[metric].label}{where} "
                + ", ".join(_rule_text(reader, r, metric, layer) for r in reader.rules())
            )
    claim_lines, numbers, verdicts = claims_text(entry.extra["claims"], by_part)
    return "; ".join(texts + claim_lines + [SD_NOTE]), combine_verdicts(verdicts), numbers


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
                "claims": tuple(
                    _claim(f"{opt}: {rule} below standard", opt, rule, "none", "<")
                    for opt in ("sgd", "momentum")
                    for rule in ("ip", "wd", "batchnorm")
                )
                + tuple(
                    _claim(
                        f"{rule} helps more under {opt} than under Adam",
                        opt,
                        rule,
                        rule,
                        ">",
                        baseline="none",
                        part_b="adam",
                    )  # fmt: skip
                    for opt in ("sgd", "momentum")
                    for rule in ("ip", "wd", "batchnorm")
                ),
                "summary_metrics": (("final_loss", None), ("slope", None)),
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
                "claims": tuple(
                    c
                    for d in DEPTHS
                    for rule, name in (("ip", "IP"), ("wd", "WD"))
                    for c in (
                        _claim(
                            f"d{d}: {name}'s gradient shrinks less toward layer 1 than standard's",
                            f"d{d}",
                            rule,
                            "none",
                            ">",
                            metric="log_grad_ratio",
                        ),  # fmt: skip
                        _claim(
                            f"d{d}: {name}'s ∂y/∂u above standard's (all layers)",
                            f"d{d}",
                            rule,
                            "none",
                            ">",
                            metric="slope",
                        ),  # fmt: skip
                        _claim(f"d{d}: {name} below standard", f"d{d}", rule, "none", "<"),
                    )
                ),
                "summary_metrics": (
                    ("final_loss", None),
                    ("log_grad_weight", 0),
                    ("log_grad_weight", -1),
                    ("log_grad_ratio", None),
                    ("slope", None),
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
                "claims": tuple(
                    c
                    for rule in ("triesch_logistic", "ip_logistic")
                    for c in (
                        _claim(f"{rule} below standard", "mnist", rule, "none", "<"),
                        _claim(f"{rule}'s ∂y/∂u above standard's", "mnist", rule, "none", ">", metric="slope"),
                    )
                )
                + (_claim("ip_logistic below batch norm", "mnist", "ip_logistic", "batchnorm", "<"),),
                "summary_metrics": (("final_loss", None), ("slope", None), ("entropy_unit", None)),
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
                "claims": (
                    _claim("ReLU standard below tanh standard", "relu", "none", "none", "<", part_b="tanh"),
                    _claim("ReLU standard below tanh WD", "relu", "none", "wd", "<", part_b="tanh"),
                    _claim("ReLU + BN below tanh + BN", "relu", "batchnorm", "batchnorm", "<", part_b="tanh"),
                    _claim("ReLU + BN below ReLU standard", "relu", "batchnorm", "none", "<"),
                ),
                "summary_metrics": (("final_loss", None), ("test_acc", None), ("slope", None)),
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
                "claims": (
                    _claim("WD's per-unit entropy above IP's", "mnist", "wd", "ip", ">", metric="entropy_unit"),
                    _claim(
                        "WD's per-unit entropy above standard's", "mnist", "wd", "none", ">", metric="entropy_unit"
                    ),  # fmt: skip
                    _claim(
                        "WD's per-unit entropy above standard's, first hidden layer",
                        "mnist",
                        "wd",
                        "none",
                        ">",
                        metric="entropy_unit",
                        layer=0,
                    ),  # fmt: skip
                    _claim(
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
    """Add this chapter's entries and its assessment to the gallery's registries (``ipcore.gallery.entries`` calls it)."""
    for entry in _entries():
        entries.append(entry)
        by_id[entry.id] = entry
    assessors["beyond"] = assess_beyond
