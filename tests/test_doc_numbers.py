"""Every number the docs quote from a committed record, recomputed from the record: a recomputed record that
changes a quoted number fails here, naming the doc, its text and the record's value.

Each row of ``ROWS`` is (doc, the doc's text with each checked number written ``{}``, a function of the records
giving those numbers, where they come from). The doc must contain the text (whitespace, line breaks included,
counts as one space) and each printed number must be the computed value rounded to the precision it is printed
with (``−0.048`` checks the value to 3 decimals, ``44 %`` to 0). Values come from ``cached_runs/`` through the
gallery's own reader and assessment (``ipcore.gallery``, ``ipcore.results.reader``), each entry read and
assessed once. ``NEURON_ROWS`` do the same for the single-neuron numbers of README.md and docs/science.md,
which are deterministic runs of the neuron lab (``simulate``, a minute or two: marked slow). When a record is
recomputed on purpose, a failure names the doc, its text and the record's value: write that value into the doc.

Not here: chapter 7's ``bt-*`` numbers (docs/beyond.md and REPRODUCTION.md's last section), docs/performance.md
(benchmark measurements), and numbers measured on runs that are not records (the CLI's example outputs in
README.md, docs/cli.md and docs/lab-demos.md; wall times measured outside the records).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

from ipcore.gallery import assessment
from ipcore.gallery import entries as gallery
from ipcore.results.reader import neuron_final

from conftest import CACHED, ROOT

NUMBER = r"[−+-]?(?:\d{1,3}(?: \d{3})+|\d+)(?:\.\d+)?(?:e[−+-]?\d+)?"
"""A printed number: signed (− or -), grouped by spaces (69 628), with decimals or an exponent."""
HOLE = "{}"


class Row(NamedTuple):
    doc: str
    text: str
    values: Callable[[], tuple[float, ...]]
    source: str


# --- the records, read once -------------------------------------------------------------------------------


@functools.cache
def records(entry_id: str) -> dict[str, Any]:
    """An entry's committed records by part."""
    if not CACHED.is_dir():
        pytest.skip("no cached_runs folder")
    entry = gallery.get_entry(entry_id)
    return {r.meta["part"]: r for r in gallery.entry_records(str(CACHED), entry)}


@functools.cache
def numbers(entry_id: str) -> dict[str, Any]:
    """The entry's assessment numbers (``assessment.assess``), as its card and REPRODUCTION.md's table show them."""
    return gallery.assess(gallery.get_entry(entry_id), list(records(entry_id).values()))["numbers"]


def claim(entry_id: str, label: str, keys: tuple[str, ...] = ("mean", "low", "high"), sign: float = 1.0):
    """A sub-claim's paired estimate and 95 % interval (ratio claims as ratios of geometric means); ``sign`` −1
    for a text that quotes b − a where the claim is a − b (its interval then read high, low)."""
    result = numbers(entry_id)[label]
    values = [result[k] for k in keys]
    if result["ratio"]:
        values = [math.exp(v) if k in ("mean", "low", "high") else v for k, v in zip(keys, values, strict=True)]
    if sign < 0:
        flip = {"low": "high", "high": "low"}
        values = [-result[flip.get(k, k)] for k in keys]
    return tuple(values)


def healthy_mean(entry_id: str, part: str, rule: str, metric: str = "final_loss", layer: int | None = 0) -> float:
    """A rule's mean over its healthy seeds (``RunReader.mean``), as every table of the gallery shows it."""
    values = assessment.seed_values(records(entry_id)[part], rule, metric, layer)
    return float(np.mean(list(values.values())))


def percent(entry_id: str, part: str, rule: str) -> float:
    return 100 * healthy_mean(entry_id, part, rule, "test_acc")


def all_seeds_mean(entry_id: str, part: str, rule: str, metric: str = "final_loss") -> float:
    """A rule's mean over all its seeds, collapsed ones included."""
    reader = assessment.reader_of(records(entry_id)[part])
    return float(np.mean(reader.values(metric, 0)[reader.rule(rule).members]))


def per_seed(entry_id: str, part: str, rule: str, metric: str = "final_loss") -> dict[int, float]:
    return assessment.seed_values(records(entry_id)[part], rule, metric, 0)


def layer_rows(entry_id: str, part: str, key: str, rule: str) -> np.ndarray:
    """``layer/<key>`` of one rule's members: (recorded rows, members, layers)."""
    metrics = records(entry_id)[part].metrics
    return np.asarray(metrics[f"layer/{key}"], dtype=float)[:, np.asarray(metrics["members_rule"]) == rule]


def alpha_final(entry_id: str, part: str, rule: str) -> np.ndarray:
    """A rule's mean gain α per hidden layer at the last recorded row, over its members."""
    return layer_rows(entry_id, part, "alpha_mean", rule)[-1].mean(0)


def stability(part: str, rule: str) -> dict[str, Any]:
    rows = assessment.stability_rows(records("fw-stability"))
    return next(row for row in rows if row["part"] == part and row["rule"] == rule)


def neuron_ip(entry_id: str, key: str) -> float:
    """IP's final ``key`` in a single-neuron entry, mean over its sample seeds."""
    return float(np.mean([neuron_final(r.metrics, key)["ip"] for r in records(entry_id).values()]))


def minutes(entry_id: str, part: str | None = None) -> float:
    """The wall time a record (or all of an entry's, summed) took to compute, from its summary's ``seconds``."""
    chosen = [records(entry_id)[part]] if part else records(entry_id).values()
    return sum(float(r.summary["seconds"]) for r in chosen) / 60


def minutes_range(entry_id: str) -> tuple[float, float]:
    each = [float(r.summary["seconds"]) / 60 for r in records(entry_id).values()]
    return min(each), max(each)


def epoch_loss(entry_id: str, part: str, rule: str, epoch: int) -> float:
    """A rule's training loss at ``epoch`` (1-based), mean over its members."""
    metrics = records(entry_id)[part].metrics
    members = np.asarray(metrics["members_rule"]) == rule
    return float(np.asarray(metrics["epoch/train_loss"], dtype=float)[epoch - 1, members].mean())


def paired_epoch_gap(entry_id: str, part: str, epoch: int, rule: str = "ip", other: str = "none") -> float:
    """The mean over seeds of ``rule``'s training loss minus ``other``'s at ``epoch`` (1-based), over the seeds
    healthy under both."""
    record = records(entry_id)[part]
    metrics, health = record.metrics, assessment.reader_of(record).health
    rules, seeds = np.asarray(metrics["members_rule"]), np.asarray(metrics["members_seed"])
    loss = np.asarray(metrics["epoch/train_loss"], dtype=float)[epoch - 1]
    healthy = ~(np.asarray(health.collapsed) | np.asarray(health.diverged))
    mine = {int(seeds[m]): loss[m] for m in np.flatnonzero((rules == rule) & healthy)}
    theirs = {int(seeds[m]): loss[m] for m in np.flatnonzero((rules == other) & healthy)}
    both = sorted(set(mine) & set(theirs))
    return float(np.mean([mine[s] - theirs[s] for s in both]))


def collapsed_members() -> list[tuple[str, str, str, int, int]]:
    """(entry, part, rule, seed, first collapsed epoch) of every member collapsed at its last epoch in the thesis's
    entries (figures and §6.2's covariance and hard-IP entries; fw-stability and fw-eta count their own)."""
    out = []
    for entry in gallery.ENTRIES:
        if not (entry.id.startswith("fig") or entry.id in ("fw-cov", "fw-hard")):
            continue
        for part, record in records(entry.id).items():
            if "members_rule" not in record.metrics or "epoch/train_acc" not in record.metrics:
                continue
            health = assessment.reader_of(record).health
            rules, seeds = record.metrics["members_rule"], record.metrics["members_seed"]
            for m in np.flatnonzero(health.collapsed):
                out.append((entry.id, part, str(rules[m]), int(seeds[m]), int(health.collapse_epoch[m])))
    return out


# --- REPRODUCTION.md's discussion ---------------------------------------------------------------------------

R = "REPRODUCTION.md"
ROWS: list[Row] = [
    Row(R, "paired differences {}, {}, {} at lr 0.003, 0.01, 0.012",
        lambda: tuple(claim("fig3.5", f"lr {lr}: IP below standard")[0] for lr in ("0.003", "0.01", "0.012")),
        "fig3.5: ip − none, final loss"),
    Row(R, "WD's is {} and {} at lr 0.01 and 0.015",
        lambda: tuple(claim("fig4.2", f"lr {lr}: WD below standard at the end")[0] for lr in ("0.01", "0.015")),
        "fig4.2: wd − none, final loss"),
    Row(R, "is larger under IP ({} vs {}, Δ {} [{}, {}])",
        lambda: (healthy_mean("fig3.7", "mnist", "ip", "slope", 2), healthy_mean("fig3.7", "mnist", "none", "slope", 2),
                 *claim("fig3.7", "IP's slope above standard")),
        "fig3.7: third layer's ∂y/∂u"),
    Row(R, "much larger under WD ({}; Δ {} over IP, {} over the standard net)",
        lambda: (healthy_mean("fig4.4", "mnist", "wd", "slope", 2), claim("fig4.4", "WD's slope above IP's")[0],
                 claim("fig4.4", "WD's slope above standard")[0]),
        "fig4.4: third layer's ∂y/∂u"),
    Row(R, "so the gains shrink to {} (IP) and {} (WD) against the standard net's {} — still above it (Δ {} [{}, {}] "
           "for IP, {} [{}, {}] for WD)",
        lambda: (*(healthy_mean("fig4.4", "mnist", r, "slope_x", 2) for r in ("ip", "wd", "none")),
                 *claim("fig3.7", "IP's ∂y/∂x above standard's"), *claim("fig4.4", "WD's ∂y/∂x above standard's")),
        "fig4.4, fig3.7: third layer's ∂y/∂x"),
    Row(R, "IP reaches Infomax's entropy on both inputs of Fig. 5.1 (IP − Infomax {} and {} nats)",
        lambda: tuple(claim("fig5.1", f"{d}: IP ≈ Infomax (±0.02 nats)")[0] for d in ("uniform on [−1, 3]", "N(1, 2²)")),
        "fig5.1: ip − infomax entropy"),
    Row(R, "its output entropy, {}, is {} below the most any tanh can reach on a Gaussian as our estimator reads it "
           "({} nats at α ≈ {}σ; true differential entropy {}) — not {} below log 2",
        lambda: (numbers("fig5.2")["entropy"], numbers("fig5.2")["gap_to_bound"]["mean"],
                 numbers("fig5.2")["bound"]["entropy_hist"], numbers("fig5.2")["bound"]["alpha_over_sigma"],
                 numbers("fig5.2")["bound"]["entropy"], numbers("fig5.2")["gap"]),
        "fig5.2: IP's entropy and the tanh bound"),
    Row(R, "and IP's α ({}) is the optimal one ({})",
        lambda: (neuron_ip("fig5.2", "alpha"), numbers("fig5.2")["bound"]["alpha"]), "fig5.2: IP's α"),
    Row(R, "than the standard one (Δ {} [{}, {}]), as §3.3.1 says",
        lambda: claim("fig3.4", "IP above standard"), "fig3.4: ip − none"),
    Row(R, "our paired difference is {} with a 95 % interval [{}, {}] (p = {})",
        lambda: claim("fig3.3", "IP below standard", ("mean", "low", "high", "p")), "fig3.3: ip − none"),
    Row(R, "The seed spread ({} ± {})",
        lambda: (np.mean(list(per_seed("fig3.3", "mnist", "ip").values())),
                 np.std(list(per_seed("fig3.3", "mnist", "ip").values()), ddof=1)),
        "fig3.3: ip's final loss, mean ± sample sd"),
    Row(R, "WD / standard is {} [{}, {}] against the band (1/6, 3/8)",
        lambda: claim("fig4.1", "mnist: WD's loss around a quarter of the standard's"), "fig4.1 mnist: wd / none"),
    Row(R, "dominated by one seed whose ratio is {})",
        lambda: (max(w / per_seed("fig4.1", "mnist", "none")[s] for s, w in per_seed("fig4.1", "mnist", "wd").items()),),
        "fig4.1 mnist: largest per-seed wd / none"),
    Row(R, "(epoch-1 loss {} below the standard net)",
        lambda: (np.mean([w - per_seed("fig4.1", "cifar10", "none", "epoch1_loss")[s]
                          for s, w in per_seed("fig4.1", "cifar10", "wd", "epoch1_loss").items()]),),
        "fig4.1 cifar10: wd − none, epoch-1 loss"),
    Row(R, "ends clearly worse (Δ {} [{}, {}]; {} % vs {} % test accuracy)",
        lambda: (*claim("fig4.1", "cifar10: WD below standard at the end"), percent("fig4.1", "cifar10", "wd"),
                 percent("fig4.1", "cifar10", "none")),
        "fig4.1 cifar10: wd − none"),
    Row(R, "here IP is lower (Δ {} [{}, {}]): contradicted",
        lambda: claim("fig3.6", "lr 0.0006: standard below IP"), "fig3.6 lr 0.0006: ip − none"),
    Row(R, "the standard net ends slightly lower (Δ {} [{}, {}])",
        lambda: claim("fig4.2", "lr 0.003: WD below standard at the end"), "fig4.2 lr 0.003: wd − none"),
    Row(R, "On MNIST Infomax is better (Δ IP − Infomax {} [{}, {}])",
        lambda: claim("fig3.8", "mnist: IP below Infomax"), "fig3.8 mnist: ip − infomax"),
    Row(R, "IP is better ({} [{}, {}]) and the order is bn_inc {} < ip {} < infomax {} (the old all-seed means, "
           "{} / {} / {}",
        lambda: (*claim("fig3.8", "cifar10: IP below Infomax"),
                 *(healthy_mean("fig3.8", "cifar10", r) for r in ("bn_inc", "ip", "infomax")),
                 *(all_seeds_mean("fig3.8", "cifar10", r) for r in ("bn_inc", "ip", "infomax"))),
        "fig3.8 cifar10: final losses"),
    Row(R, "on MNIST the interval ({}, {}) is a hair wider than the ±{} margin",
        lambda: (*claim("fig3.8", "mnist: incremental BN comparable to IP (±5 %)", ("low", "high")),
                 numbers("fig3.8")["mnist: incremental BN comparable to IP (±5 %)"]["bounds"][1]),
        "fig3.8 mnist: bn_inc − ip and its ±5 % margin"),
    Row(R, "the mean |β − median| is {} (N(5, 2²)) and {} (Laplace); for the skewed ones it is {} (lognormal) and {} "
           "(gamma), and β lies *between* the median and the mean in all {} seeds of each (mean |β − mean| {} and {})",
        lambda: (*(numbers("lemma5.1")[d]["abs_beta_minus_median"] for d in ("gaussian", "laplace", "lognormal", "gamma")),
                 min(numbers("lemma5.1")[d]["between"] for d in ("lognormal", "gamma")),
                 *(numbers("lemma5.1")[d]["abs_beta_minus_mean"] for d in ("lognormal", "gamma"))),
        "lemma5.1: IP's β"),
    Row(R, "the covariance costs IP nothing (Δ {} [{}, {}]) and *improves* WD ({} [{}, {}])",
        lambda: (*claim("fw-cov", "IP: covariance target's loss above 2E[xy]'s"),
                 *claim("fw-cov", "WD: covariance target's loss above 2E[xy]'s")),
        "fw-cov: cov − 2E[xy] final loss"),
    Row(R, "cannot be told apart (both counts {})",
        lambda: (max(np.sum(list(per_seed("fw-cov", "mnist", r, "alpha_nonpositive").values()))
                     for r in ("ip_cov", "wd_cov", "ip", "wd")),),
        "fw-cov: α ≤ 0 unit-updates"),
    Row(R, "*Hard IP* does not approach batch normalisation (Δ {} on MNIST, {} on CIFAR-10",
        lambda: tuple(claim("fw-hard", f"{d}: hard IP within 5 % of batch norm")[0] for d in ("mnist", "cifar10")),
        "fw-hard: ip_hard − batchnorm"),
    Row(R, "clearly worse on CIFAR-10 ({})",
        lambda: (claim("fw-hard", "cifar10: hard IP no worse than incremental BN (5 %)")[0],),
        "fw-hard cifar10: ip_hard − bn_inc"),
    Row(R, "Infomax breaks at η 1e-3 (median test accuracy {} % against {} % at 1e-4; {} α ≤ 0 unit-updates per "
           "seed; every seed collapses from 1e-2 on), IP only at 1.0 ({} % at 1e-2 and {} % at 0.1 against its best, "
           "{} %, though its α crosses zero in {} unit-updates per seed at 0.1), WD only at 1.0 ({} % at 0.1",
        lambda: (100 * stability("eta0.001", "infomax")["median_acc"], 100 * stability("eta0.0001", "infomax")["median_acc"],
                 stability("eta0.001", "infomax")["alpha_nonpositive"],
                 100 * stability("eta0.01", "ip")["median_acc"], 100 * stability("eta0.1", "ip")["median_acc"],
                 100 * max(stability(p, "ip")["median_acc"] for p in records("fw-stability")),
                 stability("eta0.1", "ip")["alpha_nonpositive"], 100 * stability("eta0.1", "wd")["median_acc"]),
        "fw-stability: median test accuracy; α ≤ 0 unit-updates per seed"),
    Row(R, "One WD seed at η 1e-3 ends at {} % test accuracy with the others at {} %",
        lambda: (100 * min(per_seed("fw-stability", "eta0.001", "wd", "test_acc").values()),
                 100 * np.median(list(per_seed("fw-stability", "eta0.001", "wd", "test_acc").values()))),
        "fw-stability η 1e-3: WD's seeds"),
    Row(R, "after {} steps α of every layer is ≈ {} for both rules",
        lambda: (float(records("fw-eta")["eta0.0001"].metrics["total_steps"]),
                 np.mean([alpha_final("fw-eta", "eta0.0001", r) for r in ("ip", "bn_inc")])),
        "fw-eta η 1e-4: final α"),
    Row(R, "|α − 2E[xy]| in the third hidden layer, *grows* from {} to {} while",
        lambda: tuple(layer_rows("fw-eta", "eta0.0001", "alpha_distance", "ip")[[0, -1], :, 2].mean(1)),
        "fw-eta η 1e-4: ip's third-layer |α − 2E[xy]|, first and last row"),
    Row(R, "at η 1e-2 the third layer ends at |α − 2E[xy]| = {} and |E[y]| = {}, BN at |α − σ[x]| = {}",
        lambda: (healthy_mean("fw-eta", "eta0.01", "ip", "alpha_distance", 2),
                 healthy_mean("fw-eta", "eta0.01", "ip", "beta_distance", 2),
                 healthy_mean("fw-eta", "eta0.01", "bn_inc", "alpha_distance", 2)),
        "fw-eta η 1e-2: third layer's distances to the fixed point"),
    Row(R, "IP's final loss is lower by {} [{}, {}] at η 1e-3 ({} paired seeds) and by {} [{}, {}] at η 1e-2",
        lambda: (*claim("fw-eta", "ip at η 0.001 below ip at η 1e-4", sign=-1.0),
                 numbers("fw-eta")["ip at η 0.001 below ip at η 1e-4"]["n"],
                 *claim("fw-eta", "ip at η 0.01 below ip at η 1e-4", sign=-1.0)),
        "fw-eta: ip at η 1e-4 − ip at η"),
    Row(R, "the notebooks' rule ends below the standard net by {} [{}, {}] (inconclusive), {} [{}, {}] and {} [{}, {}] "
           "at lr 0.003, 0.01 and 0.012, against `ip`'s {}, {}, {}; below `ip` by {} [{}, {}] at lr 0.01 and {} [{}, {}] "
           "at 0.012, but above it by {} [{}, {}] at lr 0.003 (test accuracy {} / {} / {} % vs `ip`'s {} / {} / {} % and "
           "the standard net's {} / {} / {} %)",
        lambda: (*(v for lr in ("0.003", "0.01", "0.012")
                   for v in claim("nb-ip", f"mnist lr {lr}: notebook IP below standard")),
                 *(claim("nb-ip", f"mnist lr {lr}: text IP below standard")[0] for lr in ("0.003", "0.01", "0.012")),
                 *claim("nb-ip", "mnist lr 0.01: notebook IP below text IP"),
                 *claim("nb-ip", "mnist lr 0.012: notebook IP below text IP"),
                 *claim("nb-ip", "mnist lr 0.003: notebook IP below text IP"),
                 *(percent("nb-ip", f"mnist-lr{lr}", r) for r in ("ip_notebook", "ip", "none")
                   for lr in ("0.003", "0.01", "0.012"))),
        "nb-ip: final loss differences and test accuracy"),
    Row(R, "in the deeper layers to {}–{} at lr 0.01 and {}–{} at lr 0.012 ({}–{} in the first layer), where `ip`'s "
           "Adam step leaves α at {} in every layer (third layer: Δ |α − 1| {} and {}); at lr 0.003, where the layers' "
           "inputs stay small, both end near {}–{} (third layer {} vs {})",
        lambda: (*(f(alpha_final("nb-ip", f"mnist-lr{lr}", "ip_notebook")[1:]) for lr in ("0.01", "0.012")
                   for f in (np.min, np.max)),
                 *(alpha_final("nb-ip", f"mnist-lr{lr}", "ip_notebook")[0] for lr in ("0.01", "0.012")),
                 np.mean([alpha_final("nb-ip", f"mnist-lr{lr}", "ip") for lr in ("0.01", "0.012")]),
                 *(claim("nb-ip", f"mnist lr {lr}: notebook IP's α further from 1 (layer 3)")[0]
                   for lr in ("0.01", "0.012")),
                 *(f(np.concatenate([alpha_final("nb-ip", "mnist-lr0.003", r)[1:] for r in ("ip", "ip_notebook")]))
                   for f in (np.min, np.max)),
                 *(alpha_final("nb-ip", "mnist-lr0.003", r)[2] for r in ("ip_notebook", "ip"))),
        "nb-ip: final α per layer"),
    Row(R, "third layer |α − 2E[xy]| ≈ {}–{} for the notebooks' rule, ≈ {}–{} for `ip`)",
        lambda: tuple(healthy_mean("nb-ip", f"mnist-lr{lr}", r, "alpha_distance", 2)
                      for r in ("ip_notebook", "ip") for lr in ("0.01", "0.012")),
        "nb-ip lr 0.01, 0.012: third layer's |α − 2E[xy]|"),
    Row(R, "epochs** to fit the shared CPU (no GPU was lent; {}–{} minutes a part)",
        lambda: tuple(f(minutes("nb-ip", f"cifar10-lr{lr}") for lr in ("0.0006", "0.001", "0.0013")) for f in (min, max)),
        "nb-ip's CIFAR-10 records' seconds"),
    Row(R, "the notebooks' rule ends below the standard net at every rate: {} [{}, {}],\n{} [{}, {}] and {} [{}, {}] at "
           "lr 0.0006, 0.001 and 0.0013, and below `ip` by {}, \n{} and {} (test accuracy {} / {} / {} % against `ip`'s "
           "{} / {} / {} % and the standard net's \n{} / {} / {} %). `ip` is below the standard net by {} [{}, {}] at lr "
           "0.0006 and by {} and \n{} at the larger rates",
        lambda: (*(v for lr in ("0.0006", "0.001", "0.0013")
                   for v in claim("nb-ip", f"cifar10 lr {lr}: notebook IP below standard")),
                 *(claim("nb-ip", f"cifar10 lr {lr}: notebook IP below text IP")[0] for lr in ("0.0006", "0.001", "0.0013")),
                 *(percent("nb-ip", f"cifar10-lr{lr}", r) for r in ("ip_notebook", "ip", "none")
                   for lr in ("0.0006", "0.001", "0.0013")),
                 *claim("nb-ip", "cifar10 lr 0.0006: text IP below standard"),
                 *(claim("nb-ip", f"cifar10 lr {lr}: text IP below standard")[0] for lr in ("0.001", "0.0013"))),
        "nb-ip CIFAR-10: final loss differences and test accuracy"),
    Row(R, "Its α moves in the first layer\nonly (to {}, {} and {}, where `ip`'s reaches {}); in the deeper layers both "
           "rules' α stay within {}–{}\nafter 2 500 steps",
        lambda: (*(alpha_final("nb-ip", f"cifar10-lr{lr}", "ip_notebook")[0] for lr in ("0.0006", "0.001", "0.0013")),
                 max(alpha_final("nb-ip", f"cifar10-lr{lr}", "ip")[0] for lr in ("0.0006", "0.001", "0.0013")),
                 *(f(np.concatenate([alpha_final("nb-ip", f"cifar10-lr{lr}", r)[1:] for r in ("ip", "ip_notebook")
                                     for lr in ("0.0006", "0.001", "0.0013")])) for f in (np.min, np.max))),
        "nb-ip CIFAR-10: final α per layer"),
    Row(R, "the text rule's lead at epoch 10 is a fraction\nof its lead at epoch 40 ({} against {} at lr 0.0006, {} "
           "against {} at 0.0013)",
        lambda: tuple(paired_epoch_gap("fig3.6", f"lr{lr}", epoch) for lr in ("0.0006", "0.0013") for epoch in (10, 40)),
        "fig3.6: ip − none at epochs 10 and 40, healthy seeds"),
    Row(R, "(`ip` − standard {} here\nagainst {} in fig3.6's GPU records at lr 0.0006)",
        lambda: (paired_epoch_gap("nb-ip", "cifar10-lr0.0006", 10), paired_epoch_gap("fig3.6", "lr0.0006", 10)),
        "nb-ip and fig3.6 at lr 0.0006: ip − none at epoch 10"),
    Row(R, "training amplifies it ({} % vs {} %)",
        lambda: (percent("fig3.7", "mnist", "none"), percent("fig4.4", "mnist", "none")),
        "fig3.7, fig4.4: the standard net's test accuracy"),
    # the report's preamble
    Row(R, "In these records {} members of the thesis-figure entries collapse",
        lambda: (len(collapsed_members()),), "every thesis-figure record's collapsed members"),
    Row(R, "All of these collapse at epoch 1 except fig4.3's seed 7 (epoch {}); none recovers",
        lambda: (max(c[4] for c in collapsed_members()),), "the latest first collapsed epoch among them"),
    Row(R, "(recomputed to record ∂y/∂x beside ∂y/∂u, about {} and {} minutes on one shared core) and fw-stability (its "
           "absolute η grid, 100 epochs and 10 seeds per part, {}–{} minutes a part on one core)",
        lambda: (minutes("fig3.7"), minutes("fig4.4"), *minutes_range("fw-stability")), "the records' seconds"),
    Row(R, "(about {}–{} minutes a part on one\ncore depending", lambda: minutes_range("fw-stability"),
        "fw-stability's seconds per part"),
    Row(R, "rate of Fig. 3.5 —, η 1e-4, 1e-3, 1e-2 for ip and bn_inc; {} minutes of one core in all.)",
        lambda: (minutes("fw-eta"),), "fw-eta's seconds, summed"),
    Row(R, "recomputed in full on the 2-core CPU ({} minutes, 10 seeds) after the GPU session's limit stopped it at "
           "epoch {}; at epoch {} the two runs agree (ip_hard {} vs 1.781, batchnorm {} vs 0.455)",
        lambda: (minutes("fw-hard", "cifar10"), 36, 36, *(epoch_loss("fw-hard", "cifar10", r, 36) for r in ("ip_hard", "batchnorm"))),
        "fw-hard cifar10: the CPU record (the GPU run's 1.781, 0.455 are not committed)"),
    # docs/science.md, docs/gallery.md: fw-eta
    Row("docs/science.md", "third layer's |α − 2E[xy]| grows from {} to {} during training",
        lambda: tuple(layer_rows("fw-eta", "eta0.0001", "alpha_distance", "ip")[[0, -1], :, 2].mean(1)),
        "fw-eta η 1e-4: ip's third-layer |α − 2E[xy]|"),
    Row("docs/science.md", "(the gap grows to {} in fw-eta's third layer)",
        lambda: (layer_rows("fw-eta", "eta0.0001", "alpha_distance", "ip")[-1, :, 2].mean(),),
        "fw-eta η 1e-4: ip's third-layer |α − 2E[xy]|"),
    Row("docs/science.md", "IP's own α on N(5, 2²) ({} vs {})",
        lambda: (neuron_ip("fig5.2", "alpha"), numbers("fig5.2")["bound"]["alpha"]), "fig5.2: IP's α and the best α"),
    Row("docs/science.md", "peaks at {} nats, which our 100-bin histogram estimator reads as {}, at α ≈ {}σ",
        lambda: (numbers("fig5.2")["bound"]["entropy"], numbers("fig5.2")["bound"]["entropy_hist"],
                 numbers("fig5.2")["bound"]["alpha_over_sigma"]),
        "the tanh entropy bound on a Gaussian (fig5.2's)"),
    Row("docs/gallery.md", "`gallery-<id>-<part>`, {} MiB for the {} entries)",
        lambda: (sum(f.stat().st_size for f in CACHED.glob("gallery-*/*") if f.is_file()) / 2**20,
                 len(gallery.ENTRIES)),
        "the size of cached_runs/gallery-*"),
    Row("docs/gallery.md", "({} minutes of one core); its card and REPRODUCTION.md", lambda: (minutes("fw-eta"),),
        "fw-eta's seconds, summed"),
    Row("docs/science.md", "5 seeds and 6 epochs ({} minutes of one core)", lambda: (minutes("fw-eta"),),
        "fw-eta's seconds, summed"),
    Row("docs/gallery.md", "computed on the shared 2-core CPU, {}–{} minutes of wall time a part",
        lambda: tuple(f(minutes("nb-ip", p) for p in records("nb-ip")) for f in (min, max)),
        "nb-ip's records' seconds"),
    Row("docs/gallery.md", "share the GPU well; {} of them are still the committed records",
        lambda: (sum(r.summary.get("device") == "cuda" for e in gallery.ENTRIES for r in records(e.id).values()),),
        "the records computed on the GPU"),
    Row("docs/gallery.md", "recomputed in full on the CPU ({} minutes; the two agree at epoch 36)",
        lambda: (minutes("fw-hard", "cifar10"),), "fw-hard cifar10's seconds"),
    # the entries' notes, on their cards
    Row("entry:fig3.5", "its α leaves 1 for {}–{} in the deeper layers where `ip`'s reaches {}), but no improvement at "
                        "lr 0.003 (Δ {} [{}, {}] against the standard net, where `ip` gives {})",
        lambda: (min(alpha_final("nb-ip", f"mnist-lr{lr}", "ip_notebook")[1:].min() for lr in ("0.01", "0.012")),
                 max(alpha_final("nb-ip", f"mnist-lr{lr}", "ip_notebook")[1:].max() for lr in ("0.01", "0.012")),
                 np.mean([alpha_final("nb-ip", f"mnist-lr{lr}", "ip") for lr in ("0.01", "0.012")]),
                 *claim("nb-ip", "mnist lr 0.003: notebook IP below standard"),
                 claim("nb-ip", "mnist lr 0.003: text IP below standard")[0]),
        "nb-ip: final α per layer at lr 0.01 and 0.012; lr 0.003's paired differences"),
    Row("entry:nb-ip", "40 epochs ({}–{} minutes of wall time each",
        lambda: tuple(f(minutes("nb-ip", f"cifar10-lr{lr}") for lr in ("0.0006", "0.001", "0.0013")) for f in (min, max)),
        "nb-ip's CIFAR-10 records' seconds"),
    Row("entry:fig3.6", "lr 0.0006 included (Δ {} [{}, {}])",
        lambda: claim("nb-ip", "cifar10 lr 0.0006: notebook IP below standard"),
        "nb-ip cifar10 lr 0.0006: ip_notebook − none"),
    Row("entry:lemma5.1", "'At the median' means mean |β − median| below {} σ", lambda: (assessment.MEDIAN_TOLERANCE,),
        "assessment.MEDIAN_TOLERANCE (the threshold the verdict uses)"),
    Row("docs/gallery.md", "the {} single-neuron parts",
        lambda: (sum(len(records(e)) for e in ("fig5.1", "fig5.2", "lemma5.1")),), "the single-neuron entries' parts"),
]  # fmt: skip


def _number(text: str) -> float:
    return float(text.replace("−", "-").replace(" ", ""))


def _decimals(text: str) -> int:
    """The precision a number is printed with: its decimals, less its exponent (``1.6e-05``: 6)."""
    mantissa, _, exponent = text.replace("−", "-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return decimals - int(exponent or 0)


def _printed(value: float, decimals: int) -> str:
    return f"{value:.{max(decimals, 0)}f}" if decimals >= 0 else f"{round(value, decimals):.0f}"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@functools.cache
def _doc(name: str) -> str:
    """A doc's text, or with "entry:<id>" a gallery entry's notes (shown on its card)."""
    if name.startswith("entry:"):
        return _flat(gallery.get_entry(name.removeprefix("entry:")).notes)
    return _flat((ROOT / name).read_text())


def check(row: Row, values: tuple[float, ...]) -> list[str]:
    """What is wrong with one row: its text missing from the doc, or a printed number that is not its value."""
    template = _flat(row.text)
    pattern = "(" + NUMBER + ")"
    regex = re.escape(template).replace(re.escape(HOLE), pattern)
    match = re.search(regex, _doc(row.doc))
    if match is None:
        return [f"{row.doc}: text not found: {template!r} (record: {row.source}; values {list(values)})"]
    printed = match.groups()
    if len(printed) != len(values):
        return [f"{row.doc}: {template!r} has {len(printed)} numbers, {row.source} gives {len(values)}"]
    wrong = []
    for text, value in zip(printed, values, strict=True):
        decimals = _decimals(text)
        if abs(_number(text) - float(value)) > 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12:
            wrong.append(f"{text} (record: {_printed(float(value), decimals)}, {float(value):.6g})")
    if wrong:
        return [f"{row.doc}: {match.group(0)!r} — {row.source}: " + "; ".join(wrong)]
    return []


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.doc}:{r.text[:40]}" for r in ROWS])
def test_a_quoted_number_is_its_record(row):
    problems = check(row, tuple(float(v) for v in row.values()))
    assert not problems, "\n".join(problems)


# --- REPRODUCTION.md's list of the verdicts issue 31 changed ------------------------------------------------

CHANGES_START, CHANGES_END = "**Verdicts changed by issue 31**", "**Verdicts changed in the previous revision**"
HEALTHY = re.compile(
    rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\], t p ({NUMBER})(?:,| →) Holm ({NUMBER})"
)  # "0.76 [0.584, 0.989], t p 0.18, Holm 0.36"
ALL_SEEDS = re.compile(rf"all seeds \w+ \((\d+) of (\d+), Wilcoxon p ({NUMBER}), Holm ({NUMBER})\)")


def changed_verdicts_problems() -> tuple[int, list[str]]:
    """Each line of the list: an entry's verdict, and each sub-claim's verdict, estimate, interval, p and Holm p
    (and its all-seeds analysis where quoted), against the entry's assessment. Returns (numbers checked, problems)."""
    text = (ROOT / R).read_text()
    section = text.split(CHANGES_START, 1)[1].split(CHANGES_END, 1)[0]
    ids = {e.id for e in gallery.ENTRIES}
    entry, checked, problems = None, 0, []
    for line in section.splitlines():
        head = re.match(r"- \*\*(.+?)\*\*: .* → \*\*(.+?)\*\*", line)
        if head:
            entry = head.group(1) if head.group(1) in ids else None
            if entry:
                verdict = gallery.assess(gallery.get_entry(entry), list(records(entry).values()))["verdict"]
                if verdict != head.group(2):
                    problems.append(f"{R}: {line.strip()!r} — {entry}'s verdict is {verdict}")
            continue
        if entry is None or not line.startswith("  - "):
            continue
        labels = [label for label in numbers(entry) if line.startswith(f"  - {label}: ")]
        if not labels:
            problems.append(f"{R}: {line.strip()[:80]!r} — no sub-claim of {entry} has this label")
            continue
        result = numbers(entry)[max(labels, key=len)]
        rest = line[len(max(labels, key=len)) + 6 :]
        new = rest.split(" → ", 1)[1] if " → " in rest else ""
        if "verdict" in result and not new.startswith(result["verdict"]):
            problems.append(f"{R}: {line.strip()[:100]!r} — its verdict is {result['verdict']}")
        pairs = []
        found = HEALTHY.search(rest)
        if found:
            quoted = claim(entry, max(labels, key=len), ("mean", "low", "high", "p", "p_holm"))
            pairs += zip(found.groups(), quoted, strict=True)
        found = ALL_SEEDS.search(rest)
        if found:
            seeds = result["all_seeds"]
            pairs += zip(found.groups(), (seeds["inside"], seeds["n"], seeds["p"], result["all_p_holm"]), strict=True)
        for printed, value in pairs:
            checked += 1
            decimals = _decimals(printed)
            if abs(_number(printed) - float(value)) > 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12:
                problems.append(
                    f"{R}: {line.strip()[:100]!r} prints {printed}, the record gives {_printed(float(value), decimals)}"
                )
    return checked, problems


def test_the_changed_verdicts_list_is_the_assessment():
    checked, problems = changed_verdicts_problems()
    assert not problems, "\n".join(problems)
    assert checked >= 150  # the list quotes this many numbers: a line the parser stops reading fails here


# --- the single neuron: README.md and docs/science.md -------------------------------------------------------

GAUSSIAN_RULES = (
    "ip,wd,infomax,bn_inc,bn_wd,ip_cov,wd_cov,ip_hard,batchnorm,triesch,none,ip_printed,bn_inc_printed,ip_notebook"
)


@pytest.fixture(scope="module")
def neuron() -> dict[str, Any]:
    """The neuron lab's runs the docs quote (default N = 10 000, 10 000 iterations, seed 0): every rule on N(5, 2²);
    ``ip``, ``ip_printed``, ``ip_notebook`` on the uniform input on [−1, 3]; ``ip_notebook`` with c = 1 on both;
    IP's fixed point on each sample and the tanh entropy bound on a Gaussian."""
    from scipy import stats

    from ipcore.config import NeuronConfig
    from ipcore.results.statistics import tanh_entropy_bound
    from ipcore.training.neuron import draw_sample, ip_fixed_point_of_sample, simulate

    configs = {
        "gaussian": NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=GAUSSIAN_RULES.split(",")),
        "uniform": NeuronConfig(dist="uniform", center=1.0, width=4.0, rules=["ip", "ip_printed", "ip_notebook"]),
        "gaussian c=1": NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=["ip_notebook"], notebook_beta_factor=1),
        "uniform c=1": NeuronConfig(
            dist="uniform", center=1.0, width=4.0, rules=["ip_notebook"], notebook_beta_factor=1
        ),
    }
    out: dict[str, Any] = {}
    for name, config in configs.items():
        result = simulate(config)
        out[name] = {entry["rule"]: entry for entry in result.summary["rules"]}
        out[name]["sample"] = result.summary["sample"]
        out[name]["fixed point"] = ip_fixed_point_of_sample(draw_sample(config))
    out["bound"] = tanh_entropy_bound(stats.norm(5.0, 2.0))
    return out


def _rule_row(name: str, rule: str, bold: bool = False) -> tuple[str, Callable]:
    cell = "**{}**" if bold else "{}"
    return (
        f"| {{}} | {{}} | {{}} | {cell} |",
        lambda n: tuple(n[name][rule][k] for k in ("alpha", "beta", "mean_y", "entropy")),
    )


S = "docs/science.md"
NEURON_ROWS: list[tuple[str, str, Callable[[dict], tuple[float, ...]]]] = [
    ("README.md", "IP ends with β ≈ {} — the median — and an output entropy of {} nats, near the {} that a tanh can "
                  "reach on a Gaussian; Infomax reaches {}, `bn_inc` {}, and WD, whose β stays at E[y] ≈ {},",
     lambda n: (n["gaussian"]["ip"]["beta"], n["gaussian"]["ip"]["entropy"], n["bound"]["entropy_hist"],
                n["gaussian"]["infomax"]["entropy"], n["gaussian"]["bn_inc"]["entropy"], n["gaussian"]["wd"]["mean_y"])),
    (S, "(on N(5, 2²): printed IP ends at α {} and {} nats, corrected at α {} and {})",
     lambda n: (n["gaussian"]["ip_printed"]["alpha"], n["gaussian"]["ip_printed"]["entropy"],
                n["gaussian"]["ip"]["alpha"], n["gaussian"]["ip"]["entropy"])),
    (S, "sample median {}, mean {};",
     lambda n: (n["gaussian"]["sample"]["median"], n["gaussian"]["sample"]["mean"])),
    *((S, f"| `{rule}`{label} " + _rule_row("gaussian", rule, bold)[0], _rule_row("gaussian", rule, bold)[1])
      for rule, label, bold in (("ip", "", True), ("ip_cov", "", False), ("ip_hard", "", False),
                                ("infomax", " (u = αx + β)", True), ("bn_inc", "", True), ("bn_wd", "", False),
                                ("batchnorm", "", False), ("wd", "", True), ("wd_cov", "", False),
                                ("triesch", " (target N(0, 0.2²), entropy −0.19)", False), ("none", "", False))),
    (S, "IP's β ({}) is {} from the sample median and {} from the sample mean",
     lambda n: (n["gaussian"]["ip"]["beta"], abs(n["gaussian"]["ip"]["beta"] - n["gaussian"]["sample"]["median"]),
                abs(n["gaussian"]["ip"]["beta"] - n["gaussian"]["sample"]["mean"]))),
    (S, "and its entropy {} below log 2", lambda n: (math.log(2) - n["gaussian"]["ip"]["entropy"],)),
    (S, "the most one can reach is {} nats ({} as the 100-bin estimator reads it) at α ≈ {}σ = {}",
     lambda n: (n["bound"]["entropy"], n["bound"]["entropy_hist"], n["bound"]["alpha_over_sigma"],
                n["bound"]["alpha_over_sigma"] * 2)),
    (S, "Infomax is within {} of IP; incremental BN is {} below IP",
     lambda n: (abs(n["gaussian"]["ip"]["entropy"] - n["gaussian"]["infomax"]["entropy"]),
                n["gaussian"]["ip"]["entropy"] - n["gaussian"]["bn_inc"]["entropy"])),
    (S, "| `ip` | {} (= 2E[xy]) | {} | {} |",
     lambda n: tuple(n["gaussian"]["ip"][k] for k in ("alpha", "beta", "entropy"))),
    (S, "| `ip_printed` | {}, still growing | {} | {} |",
     lambda n: tuple(n["gaussian"]["ip_printed"][k] for k in ("alpha", "beta", "entropy"))),
    (S, "| `bn_inc` | {} (= σ) | {} | {} |",
     lambda n: tuple(n["gaussian"]["bn_inc"][k] for k in ("alpha", "beta", "entropy"))),
    (S, "| `bn_inc_printed` | {}, still growing | {} (mean {}) | {} |",
     lambda n: (n["gaussian"]["bn_inc_printed"]["alpha"], n["gaussian"]["bn_inc_printed"]["beta"],
                n["gaussian"]["sample"]["mean"], n["gaussian"]["bn_inc_printed"]["entropy"])),
    (S, "on N(5, 2²) (seed 0, 10 000 inputs) α* = {}, β* = {}; on the thesis's uniform input on [−1, 3] α* = {}, "
        "β* = {}.",
     lambda n: (*n["gaussian"]["fixed point"], *n["uniform"]["fixed point"])),
    (S, "| fixed point | {} | {} | 0 | – | {} | {} | – |",
     lambda n: (*n["gaussian"]["fixed point"], *n["uniform"]["fixed point"])),
    *((S, f"| {label} | {{}} | {{}} | {{}} | {{}} | {{}} | {{}} | {{}} |",
       lambda n, g=g, u=u, rule=rule: (*(n[g][rule][k] for k in ("alpha", "beta", "mean_y", "entropy")),
                                       *(n[u][rule][k] for k in ("alpha", "beta", "entropy"))))
      for label, rule, g, u in (("`ip`", "ip", "gaussian", "uniform"),
                                ("`ip_notebook` (c = 2)", "ip_notebook", "gaussian", "uniform"),
                                ("`ip_notebook` (c = 1)", "ip_notebook", "gaussian c=1", "uniform c=1"))),
    (S, "| `ip_printed` | {}, still growing | {} | {} | {} | {}, still growing | {} | {} |",
     lambda n: (*(n["gaussian"]["ip_printed"][k] for k in ("alpha", "beta", "mean_y", "entropy")),
                *(n["uniform"]["ip_printed"][k] for k in ("alpha", "beta", "entropy")))),
]  # fmt: skip


@pytest.mark.slow
def test_the_quoted_neuron_numbers_are_the_neuron_labs(neuron):
    """README.md's and docs/science.md's single-neuron numbers, from the neuron lab's deterministic runs."""
    problems = [
        p
        for doc, text, values in NEURON_ROWS
        for p in check(Row(doc, text, lambda: (), "the neuron lab"), tuple(float(v) for v in values(neuron)))
    ]
    assert not problems, "\n".join(problems)
    # science.md: "no rule had α ≤ 0"
    assert all(e["alpha_nonpositive"] == 0 for r, e in neuron["gaussian"].items() if r not in ("sample", "fixed point"))


def _health(entry_id: str, part: str) -> tuple[Any, np.ndarray, np.ndarray]:
    record = records(entry_id)[part]
    rules, seeds = np.asarray(record.metrics["members_rule"]), np.asarray(record.metrics["members_seed"])
    return assessment.reader_of(record).health, rules, seeds


def test_the_discussions_counts_in_words_are_the_records():
    """The counts REPRODUCTION.md's discussion writes in words: which seeds diverged, collapsed or lost their
    output units."""
    text = _doc(R)
    assert "no seed of any rule produced a NaN at these rates, but at lr 0.002 on CIFAR-10 three of its ten" in text
    for entry_id in ("fig3.5", "fig4.2", "fig4.3"):
        assert not any(_health(entry_id, part)[0].diverged.any() for part in records(entry_id)), entry_id
    health, rules, _ = _health("fig4.3", "lr0.002")
    assert (health.collapsed[rules == "none"].sum(), (rules == "none").sum()) == (3, 10)

    assert "seed 5 sat at chance for ip, bn_inc and none but not for Infomax" in text
    health, rules, seeds = _health("fig3.8", "cifar10")
    assert {str(r) for r in rules[(seeds == 5) & health.collapsed]} == {"ip", "bn_inc", "none"}

    assert "every seed collapses from 1e-2 on" in text
    assert "at 1.0, where α jumps to 2E[xy] every batch, all three" in text
    for part in ("eta0.01", "eta0.1"):
        health, rules, _ = _health("fw-stability", part)
        assert health.collapsed[rules == "infomax"].all(), part
    health, rules, _ = _health("fw-stability", "eta0.001")
    assert not health.collapsed[rules == "infomax"].any()  # broken by its accuracy there, not by collapse
    assert _health("fw-stability", "eta1")[0].collapsed.all()

    assert (
        "At η 1e-3 seed 4 collapsed for both ip and bn_inc with all ten ReLU output units dead, and the standard "
        "net's seed 4 has one dead output unit" in text
    )
    health, rules, seeds = _health("fw-eta", "eta0.001")
    four = {
        str(rules[m]): (bool(health.collapsed[m]), int(health.dead_output_units[m])) for m in np.flatnonzero(seeds == 4)
    }
    assert four == {"ip": (True, 10), "bn_inc": (True, 10), "none": (False, 1)}

    assert "but by a third and a quarter of what ∂y/∂u suggests" in text
    ip_share = claim("fig3.7", "IP's ∂y/∂x above standard's")[0] / claim("fig3.7", "IP's slope above standard")[0]
    wd_share = claim("fig4.4", "WD's ∂y/∂x above standard's")[0] / claim("fig4.4", "WD's slope above standard")[0]
    assert abs(ip_share - 1 / 3) < 0.05 and abs(wd_share - 1 / 4) < 0.05, (ip_share, wd_share)
