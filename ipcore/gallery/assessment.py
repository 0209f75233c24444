"""How the gallery checks a thesis claim against the records: sub-claims, paired verdicts and the measured text.

Seeds share their initial weights across rules (and across the parts of an entry), so rules are compared per
seed: the paired difference a − b on the seeds healthy under both (read through ``ipcore.results.reader``, healthy as
``ipcore.results.health`` says; chapter 7's claims keep collapsed seeds, ``Claim.keep_collapsed``), its 95 % t-interval
and the paired t-test. A sub-claim's verdict follows from the
interval (``statistics.interval_verdict`` / ``equivalence_verdict``); an entry's verdict combines its sub-claims
(``combine_verdicts``): *reproduced*, *contradicted* or *inconclusive* when all its sub-claims are, *partly*
when they differ.

``assess(entry, records)`` picks the entry's assessor by ``entry.check`` (``ASSESSORS``): "paired" for network
entries (the ``Claim`` s in ``entry.extra["claims"]``), and one assessor per single-neuron figure and for the
stability entry. Entries (``ipcore.gallery.entries``) are read by duck typing, so this module does not import them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ipcore.results.reader import SEED_METRICS, RunReader, neuron_final
from ipcore.results.statistics import (
    ENTROPY_MAX,
    equivalence_verdict,
    interval_verdict,
    paired_difference,
    tanh_entropy_bound,
)

EQUIVALENCE_SHARE = 0.05  # "about as well", "comparable": within 5 % of the reference's mean
VERDICTS = ("reproduced", "partly", "inconclusive", "contradicted", "missing")

Assessor = Callable[[Any, dict[str, Any]], tuple[str, str, dict]]
"""(entry, {part: record}) → (measured text, verdict, numbers)."""


@dataclass(frozen=True)
class Claim:
    """One sub-claim of an entry: the paired difference a − b of ``metric`` in ``part`` (``part_b`` for b, when
    it comes from another record of the entry) lies on ``side`` ("<", ">") of ``threshold`` — or, with side
    "=", within ±``EQUIVALENCE_SHARE`` of b's mean; ``ratio`` compares a/b per seed with ``threshold``;
    ``relative`` makes the threshold a share of b's mean. ``metric`` is a name of ``reader.SEED_METRICS``,
    read at hidden ``layer`` (0-based, −1 the last; None: the mean over the layers, for the metrics that have
    layers). ``baseline``: each seed's value is instead the baseline rule's (in the same record) minus the rule's —
    with ``final_loss``, how far a rule brings the loss below the baseline's. ``keep_collapsed``: seeds collapsed
    to chance count too (only diverged ones are left out), for questions whose outcome is whether a network
    learns at all."""

    label: str
    part: str
    a: str
    b: str
    side: str
    metric: str = "final_loss"
    threshold: float = 0.0
    relative: bool = False
    ratio: bool = False
    layer: int | None = None
    part_b: str = ""
    baseline: str = ""
    keep_collapsed: bool = False

    @property
    def measured(self) -> str:
        """What the claim's interval is of, for its line in the measured text, e.g. "Δ final loss"."""
        if self.ratio:
            return "loss ratio"
        label = SEED_METRICS[self.metric].label
        if self.baseline:
            return f"Δ ({'standard' if self.baseline == 'none' else self.baseline}'s {label} − the rule's)"
        return f"Δ {label}"


def combine_verdicts(verdicts: list[str]) -> str:
    """All sub-claims reproduced → "reproduced"; all contradicted → "contradicted"; all inconclusive →
    "inconclusive"; a mixture → "partly" (the measurement lists each sub-claim's verdict)."""
    if not verdicts:
        return "missing"
    for verdict in ("reproduced", "contradicted", "inconclusive"):
        if all(v == verdict for v in verdicts):
            return verdict
    return "partly"


def reader_of(record: Any) -> RunReader:
    """The metrics reader of a network record (its dataset names the class count of older records)."""
    return RunReader(record.metrics, getattr(record.config, "dataset", None))


def seed_values(
    record: Any, rule: str, metric: str, layer: int | None = 0, keep_collapsed: bool = False
) -> dict[int, float]:
    """One number per *healthy* seed of ``rule`` in a network record (``reader.RunReader.seed_values``; with
    ``keep_collapsed`` per seed that did not diverge): ``final_loss`` (last epoch's training loss),
    ``epoch1_loss`` (the first epoch's), ``test_acc`` (last epoch), ``slope`` (mean ∂y/∂u of hidden ``layer``
    over all recorded steps), ``alpha_nonpositive`` (unit-updates with α ≤ 0, all layers) or any other name of
    ``reader.SEED_METRICS``."""
    return reader_of(record).seed_values(rule, metric, layer, keep_collapsed)


def rule_summary(record: Any, rule: str, metric: str = "final_loss", digits: int = 4, layer: int = 0) -> str:
    """A rule's mean ± standard deviation over its healthy seeds and on how many seeds it stands, e.g.
    "ip 0.1197 ± 0.0128 (test acc 95.6 %; 9 of 10 seeds; 1 collapsed)"."""
    reader = reader_of(record)
    note = reader.rule(rule).note
    values = np.array(list(reader.seed_values(rule, metric, layer).values()))
    if values.size == 0:
        return f"{rule} – (no healthy seed; {note})"
    acc = np.array(list(reader.seed_values(rule, "test_acc").values()))
    acc_text = f"test acc {100 * acc.mean():.1f} %; " if metric == "final_loss" and acc.size else ""
    return f"{rule} {values.mean():.{digits}f} ± {values.std():.{digits}f} ({acc_text}{note})"


def claim_seed_values(claim: Claim, by_part: Mapping[str, Any], rule: str, part: str) -> dict[int, float]:
    """{seed: value} of ``rule`` in ``part`` as ``claim`` measures it (its metric, layer, seeds and baseline)."""
    record = by_part[part]
    values = seed_values(record, rule, claim.metric, claim.layer, claim.keep_collapsed)
    if not claim.baseline:
        return values
    base = seed_values(record, claim.baseline, claim.metric, claim.layer, claim.keep_collapsed)
    return {seed: base[seed] - values[seed] for seed in sorted(set(base) & set(values))}


def evaluate_claim(claim: Claim, by_part: Mapping[str, Any]) -> dict[str, Any]:
    """The paired interval and verdict of one sub-claim (``statistics.paired_difference``), with the seeds it stands
    on and the threshold it was held against; verdict "missing" when a record is absent."""
    if claim.part not in by_part or (claim.part_b or claim.part) not in by_part:
        return {"label": claim.label, "verdict": "missing"}
    a = claim_seed_values(claim, by_part, claim.a, claim.part)
    b = claim_seed_values(claim, by_part, claim.b, claim.part_b or claim.part)
    seeds = sorted(set(a) & set(b))
    va, vb = np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])
    if claim.ratio:
        result = paired_difference(va / np.where(vb == 0, np.nan, vb), np.zeros(len(seeds)))
    else:
        result = paired_difference(va, vb)
    reference = float(vb.mean()) if len(vb) else math.nan
    threshold = claim.threshold * reference if claim.relative else claim.threshold
    if claim.side == "=":
        margin = EQUIVALENCE_SHARE * abs(reference)
        verdict = equivalence_verdict(result["low"], result["high"], margin)
        threshold = margin
    else:
        verdict = interval_verdict(result["low"], result["high"], claim.side, threshold)
    if result["n"] < 2:
        verdict = "inconclusive"
    return {"label": claim.label, "verdict": verdict, "seeds": seeds, "threshold": threshold, **result}


def _dead_text(record: Any, rules: list[str]) -> str:
    """Dead ReLU output units per seed and rule, or that the record predates their recording."""
    reader = reader_of(record)
    if not reader.health.dead_recorded:
        return "dead output units: not recorded"
    dead = {r: reader.health.dead_output_units[reader.rule(r).members] for r in rules}
    if not any(d.any() for d in dead.values()):
        return "no dead output unit"
    return "dead output units per seed: " + "; ".join(f"{r} {' '.join(map(str, d.tolist()))}" for r, d in dead.items())


def claim_text(result: dict[str, Any], what: str, keep_collapsed: bool = False) -> str:
    """A sub-claim's line in the measured text: its label, ``what`` differs (e.g. "Δ final loss") with the 95 %
    interval, the paired t-test's p, on how many seeds (healthy, or with ``keep_collapsed`` not diverged), and the
    verdict ("no record" when missing)."""
    if result["verdict"] == "missing":
        return f"{result['label']}: no record"
    p = "–" if not math.isfinite(result["p"]) else f"{result['p']:.2g}"
    interval = f"{result['mean']:+.4g} [95 % CI {result['low']:+.4g}, {result['high']:+.4g}]"
    seeds = "seeds with a value under both (collapsed kept)" if keep_collapsed else "seeds healthy under both"
    return f"{result['label']}: {what} {interval}, paired t-test p = {p}, {result['n']} {seeds} → {result['verdict']}"


def claims_text(claims: Iterable[Claim], by_part: Mapping[str, Any]) -> tuple[list[str], dict, list[str]]:
    """Every sub-claim evaluated: its line of the measured text, its numbers by label, and the verdicts of those
    that have their records (for ``combine_verdicts``)."""
    texts, numbers, verdicts = [], {}, []
    for claim in claims:
        result = evaluate_claim(claim, by_part)
        texts.append(claim_text(result, claim.measured, claim.keep_collapsed))
        numbers[claim.label] = {k: v for k, v in result.items() if k != "seeds"}
        if result["verdict"] != "missing":
            verdicts.append(result["verdict"])
    return texts, numbers, verdicts


def assess_paired(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """Network entries: per part the rules' means over their healthy seeds, then every sub-claim's paired
    interval and verdict."""
    texts = []
    metric = "slope" if entry.plot == "grad_y_u" else "final_loss"
    digits = 3 if metric == "slope" else 4
    what_of = {"final_loss": "final train loss", "slope": f"mean ∂y/∂u (hidden layer {(entry.layer or 0) + 1})"}
    for part in sorted(by_part, key=lambda p: list(entry.parts).index(p) if p in entry.parts else 99):
        record = by_part[part]
        present = reader_of(record).rules()
        rules = [r for r in entry.rules if r in present]
        summaries = [rule_summary(record, r, metric, digits, entry.layer or 0) for r in rules]
        label = f"lr {record.config.lr:g}" if part.startswith("lr") else part
        texts.append(f"{label}: {what_of[metric]} " + ", ".join(summaries) + f" [{_dead_text(record, rules)}]")
    claim_lines, numbers, verdicts = claims_text(entry.extra["claims"], by_part)
    return "; ".join(texts + claim_lines), combine_verdicts(verdicts), numbers


# --- single-neuron entries ----------------------------------------------------------------------------


def _seeded(parts: list[Any], rule: str, key: str = "entropy") -> dict[int, float]:
    return {int(rec.config.seed): neuron_final(rec.metrics, key)[rule] for rec in parts}


def entropy_bound(dist: str, a: float, b: float) -> dict[str, float]:
    """``statistics.tanh_entropy_bound`` of a gaussian (a = μ, b = σ) or uniform (a = centre, b = width) input. The
    entropies do not depend on the location and scale (the best α moves with the scale), so the bound is found
    once per family — about a second of integration — and rescaled."""
    bound = dict(_standard_entropy_bound(dist))
    bound["alpha"] *= b
    bound["beta"] = a  # the median of either input
    return bound


@functools.cache
def _standard_entropy_bound(dist: str) -> dict[str, float]:
    from scipy import stats as sstats

    return tanh_entropy_bound(sstats.norm(0.0, 1.0) if dist == "gaussian" else sstats.uniform(-0.5, 1.0))


def input_entropy_bound(config: Any) -> dict[str, float]:
    """The best output entropy a tanh can reach on a gaussian or uniform single-neuron input (cached)."""
    if config.dist == "gaussian":
        return entropy_bound("gaussian", float(config.mu), float(config.sigma))
    return entropy_bound("uniform", float(config.center), float(config.width))


def _bound_text(bound: dict[str, float]) -> str:
    return (
        f"the best a tanh can reach on this input: {bound['entropy_hist']:.4f} nats as our 100-bin estimator "
        f"reads it ({bound['entropy']:.4f} true differential entropy) at α ≈ {bound['alpha_over_sigma']:.2f}σ, "
        f"beside log 2 = {ENTROPY_MAX:.4f}"
    )


ENTROPY_CHECKS = (
    ("IP ≈ Infomax (±0.02 nats)", "ip", "infomax", "=", 0.02),
    ("IP above incremental BN", "ip", "bn_inc", ">", 0.0),
    ("WD below IP", "wd", "ip", "<", 0.0),
)
"""Fig. 5.1's sub-claims per input: (label, a, b, side, threshold in nats) on the paired entropies a − b."""


def assess_entropy_order(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.2, Fig. 5.1, per input (the entry's ``group_labels``: part prefix → label): H(ip) ≈ H(infomax) (within
    0.02 nats), H(ip) > H(bn_inc), H(wd) < H(ip)."""
    texts, numbers, verdicts = [], {}, []
    for dist, label in entry.extra["group_labels"].items():
        parts = [r for p, r in by_part.items() if p.startswith(dist)]
        if not parts:
            continue
        ent = {r: _seeded(parts, r) for r in entry.rules}
        seeds = sorted(set.intersection(*(set(v) for v in ent.values())))
        arr = {r: np.array([ent[r][s] for s in seeds]) for r in entry.rules}
        bound = input_entropy_bound(parts[0].config)
        means = ", ".join(f"{r} {arr[r].mean():.4f} ± {arr[r].std():.4f} nats" for r in entry.rules)
        texts.append(f"{label} ({len(seeds)} seeds): {means}; {_bound_text(bound)}")
        numbers[dist] = {"mean": {r: float(v.mean()) for r, v in arr.items()}, "bound": bound}
        for text, a, b, side, thr in ENTROPY_CHECKS:
            result = paired_difference(arr[a], arr[b])
            if side == "=":
                verdict = equivalence_verdict(result["low"], result["high"], thr)
            else:
                verdict = interval_verdict(result["low"], result["high"], side, thr)
            result = {"label": f"{label}: {text}", "verdict": verdict, **result}
            verdicts.append(verdict)
            numbers[result["label"]] = result
            texts.append(claim_text(result, "Δ entropy"))
    return "; ".join(texts), combine_verdicts(verdicts), numbers


UNIFORM_GAP = 0.02  # nats: "approximately uniform" = within 0.02 of the best a tanh can reach


def assess_uniform_output(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.2, Fig. 5.2: IP's output entropy ends within 0.02 nats of the best a tanh can reach on N(5, 2²) (the
    bound, as the estimator reads it), not of log 2, which no tanh of a Gaussian reaches."""
    ent = np.array([neuron_final(rec.metrics, "entropy")["ip"] for rec in by_part.values()])
    alpha = np.array([neuron_final(rec.metrics, "alpha")["ip"] for rec in by_part.values()])
    bound = input_entropy_bound(next(iter(by_part.values())).config)
    gap = bound["entropy_hist"] - ent
    result = paired_difference(gap, np.zeros_like(gap))
    verdict = interval_verdict(result["low"], result["high"], "<", UNIFORM_GAP)
    claim = claim_text({"label": "gap to the tanh bound below 0.02 nats", "verdict": verdict, **result}, "gap")
    text = (
        f"IP output entropy {ent.mean():.4f} ± {ent.std():.4f} nats over {len(ent)} seeds, α {alpha.mean():.3f} "
        f"(gap to log 2 {ENTROPY_MAX - ent.mean():.4f}); {_bound_text(bound)} (α {bound['alpha']:.3f}); {claim}"
    )
    numbers = {
        "entropy": float(ent.mean()),
        "gap": float(ENTROPY_MAX - ent.mean()),
        "bound": bound,
        "gap_to_bound": result,
        "verdict": verdict,
    }
    return text, verdict, numbers


MEDIAN_TOLERANCE = 0.1  # |β − median| below this counts as "at the median" (the thesis's Fig. 5.2 scale)


def assess_beta_median(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.1, Lemma 1: β converges to the median. Per input (the entry's ``datasets``, each the prefix of its
    parts): the mean |β − median| over seeds, its interval, and where β lies relative to median and mean (the
    fixed point is E[tanh((x − β)/α)] = 0)."""
    texts, numbers, verdicts = [], {}, []
    for name in entry.datasets:
        parts = [r for p, r in by_part.items() if p.startswith(name + "-")]
        if not parts:
            continue
        beta = np.array([neuron_final(rec.metrics, "beta")["ip"] for rec in parts])
        median = np.array([float(rec.metrics["sample_median"]) for rec in parts])
        mean = np.array([float(rec.metrics["sample_mean"]) for rec in parts])
        to_median, to_mean = np.abs(beta - median), np.abs(beta - mean)
        result = paired_difference(to_median, np.zeros_like(to_median))
        verdict = interval_verdict(result["low"], result["high"], "<", MEDIAN_TOLERANCE)
        verdicts.append(verdict)
        lo, hi = np.minimum(median, mean), np.maximum(median, mean)
        between = int(((beta >= lo) & (beta <= hi)).sum()) if np.abs(median - mean).mean() > 0.05 else None
        where = f", β between median and mean in {between} of {len(beta)} seeds" if between is not None else ""
        numbers[name] = {
            "abs_beta_minus_median": float(to_median.mean()),
            "abs_beta_minus_mean": float(to_mean.mean()),
            "between": between,
            "verdict": verdict,
            **result,
        }
        texts.append(
            f"{name}: mean |β − median| {to_median.mean():.3f} [95 % CI {result['low']:.3f}, {result['high']:.3f}], "
            f"mean |β − mean| {to_mean.mean():.3f}{where} → {verdict}"
        )
    return "; ".join(texts), combine_verdicts(verdicts), numbers


# --- stability ----------------------------------------------------------------------------------------

FAILURE_ACC_DROP = 0.05  # a rule "breaks" at an η scale when its test accuracy falls 5 points below its ×1 level


def eta_scale(part: str) -> int:
    """The η scale of a stability part: "eta-x10" → 10."""
    return int(part.split("x")[-1])


def stability_rows(by_part: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per η scale (ascending) and rule of the stability entry's records: ``part``, ``scale``, ``rule``,
    ``seeds``, ``diverged``, ``collapsed``, ``failed_seeds`` (diverged or collapsed: not healthy), ``test_acc``
    (mean over the healthy seeds, 0 when none is), ``alpha_nonpositive`` (unit-updates with α ≤ 0 per seed, mean
    over all its seeds) and ``broken``: at least half its seeds failed, or its test accuracy is more than 5
    points below its own at the smallest scale."""
    rows, base_acc = [], {}
    for part, record in sorted(by_part.items(), key=lambda kv: eta_scale(kv[0])):
        reader = reader_of(record)
        alpha = reader.values("alpha_nonpositive")
        if alpha is None:
            alpha = reader.values("latest_alpha_nonpositive")
        for rule, seeds in reader.rules().items():
            failed = int((~seeds.healthy).sum())
            acc = np.array(list(reader.seed_values(rule, "test_acc").values()))
            mean_acc = float(acc.mean()) if acc.size else 0.0
            base_acc.setdefault(rule, mean_acc)
            broken = failed * 2 >= len(seeds.members) or mean_acc < base_acc[rule] - FAILURE_ACC_DROP
            nonpositive = float(alpha[seeds.members].mean()) if alpha is not None and len(seeds.members) else 0.0
            rows.append(
                {
                    "part": part,
                    "scale": eta_scale(part),
                    "rule": rule,
                    "seeds": len(seeds.members),
                    "diverged": seeds.diverged,
                    "collapsed": seeds.collapsed,
                    "failed_seeds": failed,
                    "test_acc": mean_acc,
                    "alpha_nonpositive": nonpositive,
                    "broken": bool(broken),
                }
            )
    return rows


def assess_stability(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§4.3 and §6.2: Infomax tended to diverge at a high η while WD took much larger η, and the thesis suspects
    IP does too. A rule *breaks* at the smallest η scale where at least half its seeds diverged or collapsed,
    or its healthy seeds' mean test accuracy is more than 5 points below its own at ×1 (``stability_rows``);
    sub-claims: IP and WD each break at a larger scale than Infomax (never breaking counts as larger)."""
    texts, numbers, breaks = [], {}, {}
    rows = stability_rows(by_part)
    for part in dict.fromkeys(row["part"] for row in rows):
        mine = [row for row in rows if row["part"] == part]
        for row in mine:
            if row["broken"]:
                breaks.setdefault(row["rule"], row["scale"])
        numbers[part] = {
            row["rule"]: {k: row[k] for k in ("failed_seeds", "test_acc", "broken", "alpha_nonpositive")}
            for row in mine
        }
        record = by_part[part]
        texts.append(
            f"η ×{mine[0]['scale']}: "
            + ", ".join(
                f"{rule_summary(record, row['rule'])}, α ≤ 0 in {row['alpha_nonpositive']:.0f} unit-updates per seed"
                + (" — broken" if row["broken"] else "")
                for row in mine
            )
        )
    verdicts = []
    for rule in ("ip", "wd"):
        mine, theirs = breaks.get(rule, math.inf), breaks.get("infomax", math.inf)
        verdict = "reproduced" if mine > theirs else "contradicted" if mine < theirs else "inconclusive"
        verdicts.append(verdict)
        numbers[f"{rule} vs infomax"] = {"breaks_at": mine, "infomax_breaks_at": theirs, "verdict": verdict}
        scale_text = "never" if mine == math.inf else f"at ×{mine}"
        other = "never" if theirs == math.inf else f"at ×{theirs}"
        texts.append(f"{rule} breaks {scale_text}, Infomax {other} → {verdict}")
    return "; ".join(texts), combine_verdicts(verdicts), numbers


ASSESSORS: dict[str, Assessor] = {
    "paired": assess_paired,
    "entropy_order": assess_entropy_order,
    "uniform_output": assess_uniform_output,
    "beta_median": assess_beta_median,
    "stability": assess_stability,
}
"""``GalleryEntry.check`` → its assessor. A new kind of check is one function here and one line in this dict."""


def assess(entry: Any, records: list[Any]) -> dict[str, Any]:
    """The card's measurement and verdict from the entry's records (``RunRecord``: ``config``, ``metrics``,
    ``summary``, and the part in ``meta``). Verdicts: ``VERDICTS``."""
    by_part = {}
    for record in records:
        part = record.meta.get("part")
        if part in entry.parts:
            by_part[part] = record
    if not by_part:
        return {"measured": "no record yet", "verdict": "missing", "numbers": {}, "parts": 0}
    measured, verdict, numbers = ASSESSORS[entry.check](entry, by_part)
    if len(by_part) < len(entry.parts) and verdict != "missing":
        measured += f" (only {len(by_part)} of {len(entry.parts)} parts computed)"
    return {"measured": measured, "verdict": verdict, "numbers": numbers, "parts": len(by_part)}
