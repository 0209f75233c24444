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
from ipcore.results.statistics import ENTROPY_MAX, holm, location_verdict, rank_location, t_location, tanh_entropy_bound

EQUIVALENCE_SHARE = 0.05  # "about as well", "comparable": within 5 % of the reference's mean
VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "contradicted", "missing")
SMALL_SHARE = 0.10
""""small", "slight(ly)": a difference of at most 10 % of the reference's loss (ratio of geometric means within
(0.9, 1) for an improvement, (1, 1.1) for a loss)."""
FAR_SHARE = 0.20
""""far more quickly at first", "extremely fast at first": the first epoch's loss at least 20 % below the
reference's (ratio of geometric means < 0.8)."""
ALMOST_ALL_EXCEPTIONS = 1
""""in almost all the tests" (§4.2): a group of sub-claims holds with at most one exception."""
WORSE = {"final_loss": 1.0, "epoch1_loss": 1.0, "test_loss": 1.0, "latest_loss": 1.0, "test_acc": -1.0,
         "train_acc": -1.0}  # fmt: skip
"""The direction in which a metric gets worse: a collapsed or diverged member counts as +inf (losses) or −inf
(accuracies) in the all-seeds analysis. Metrics not named here have no worst value: there a collapsed member keeps
its measured value and a diverged one is left out (no number is invented for a dead seed)."""

Assessor = Callable[[Any, dict[str, Any]], tuple[str, str, dict]]
"""(entry, {part: record}) → (measured text, verdict, numbers)."""


@dataclass(frozen=True)
class Claim:
    """One sub-claim of an entry: the paired difference a − b of ``metric`` in ``part`` (``part_b`` for b, when
    it comes from another record of the entry) lies on ``side`` ("<", ">") of ``threshold`` — or, with side
    "=", within ±``EQUIVALENCE_SHARE`` of b's mean, or with side "band" inside ``band`` = (lo, hi); ``ratio``
    compares a/b instead: per seed log(a/b), so the claim is about the ratio of geometric means (thresholds and
    band in ratio units); ``relative`` makes the threshold a share of b's mean. ``metric`` is a name of
    ``reader.SEED_METRICS``, read at hidden ``layer`` (0-based, −1 the last; None: the mean over the layers, for
    the metrics that have layers). ``baseline``: each seed's value is instead the baseline rule's (in the same
    record) minus the rule's — with ``final_loss``, how far a rule brings the loss below the baseline's.
    ``keep_collapsed``: seeds collapsed to chance count in the main analysis too (only diverged ones are left
    out), for questions whose outcome is whether a network learns at all. ``word``: the thesis's magnitude word
    and where it stands, e.g. '"around a quarter" (§4.1)', written in the row beside the tested band.
    ``group``: claims sharing a group count as one sub-verdict "in almost all" of them (``ALMOST_ALL_EXCEPTIONS``).
    ``counts``: False for a claim shown beside the verdict but not part of it (a quantity the thesis did not
    measure)."""

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
    band: tuple[float, float] = (-math.inf, math.inf)
    word: str = ""
    group: str = ""
    counts: bool = True

    @property
    def measured(self) -> str:
        """What the claim's interval is of, for its line in the measured text, e.g. "Δ final loss"."""
        label = SEED_METRICS[self.metric].label
        if self.ratio:
            return f"{label} ratio (geometric means)"
        if self.baseline:
            return f"Δ ({'standard' if self.baseline == 'none' else self.baseline}'s {label} − the rule's)"
        return f"Δ {label}"


def combine_verdicts(verdicts: list[str]) -> str:
    """An entry's verdict from its sub-verdicts, one rule: all reproduced → "reproduced"; all contradicted →
    "contradicted"; all inconclusive → "inconclusive"; none reproduced and at least one contradicted → "not
    reproduced"; at least one reproduced and at least one not → "partly". No sub-verdict → "missing"."""
    if not verdicts:
        return "missing"
    for verdict in ("reproduced", "contradicted", "inconclusive"):
        if all(v == verdict for v in verdicts):
            return verdict
    if "reproduced" not in verdicts:
        return "not reproduced"
    return "partly"


def almost_all_verdict(verdicts: list[str], exceptions: int = ALMOST_ALL_EXCEPTIONS) -> str:
    """A claim "in almost all" of a group of tests: reproduced when at most ``exceptions`` of them are not
    reproduced, contradicted when more than ``exceptions`` are contradicted, else inconclusive."""
    reproduced = sum(v == "reproduced" for v in verdicts)
    if reproduced >= len(verdicts) - exceptions:
        return "reproduced"
    if sum(v == "contradicted" for v in verdicts) > exceptions:
        return "contradicted"
    return "inconclusive"


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
    """A rule's mean ± sample standard deviation (n − 1) over its healthy seeds and on how many seeds it stands,
    e.g. "ip 0.1197 ± 0.0128 (test acc 95.6 %; 9 of 10 seeds; 1 collapsed)"."""
    reader = reader_of(record)
    note = reader.rule(rule).note
    values = np.array(list(reader.seed_values(rule, metric, layer).values()))
    if values.size == 0:
        return f"{rule} – (no healthy seed; {note})"
    acc = np.array(list(reader.seed_values(rule, "test_acc").values()))
    acc_text = f"test acc {100 * acc.mean():.1f} %; " if metric == "final_loss" and acc.size else ""
    sd = values.std(ddof=1) if values.size > 1 else math.nan
    return f"{rule} {values.mean():.{digits}f} ± {sd:.{digits}f} ({acc_text}{note})"


SD_NOTE = "± is the sample standard deviation over seeds (n − 1)"


def member_outcomes(record: Any, rule: str, metric: str, layer: int | None) -> dict[int, tuple[float, str]]:
    """{seed: (value, status)} of every seed of ``rule``: status "healthy", "collapsed" or "diverged"
    (``ipcore.results.health``), the value as recorded (NaN where it is not finite)."""
    reader = reader_of(record)
    values = reader.values(metric, layer)
    seeds = reader.rule(rule)
    out = {}
    for m, seed in zip(seeds.members, seeds.seeds, strict=True):
        status = "diverged" if reader.health.diverged[m] else "collapsed" if reader.health.collapsed[m] else "healthy"
        value = math.nan if values is None or not np.isfinite(values[m]) else float(values[m])
        out[int(seed)] = (value, status)
    return out


def claim_seed_values(claim: Claim, by_part: Mapping[str, Any], rule: str, part: str) -> dict[int, float]:
    """{seed: value} of ``rule`` in ``part`` as ``claim`` measures it (its metric, layer, seeds and baseline)."""
    record = by_part[part]
    values = seed_values(record, rule, claim.metric, claim.layer, claim.keep_collapsed)
    if not claim.baseline:
        return values
    base = seed_values(record, claim.baseline, claim.metric, claim.layer, claim.keep_collapsed)
    return {seed: base[seed] - values[seed] for seed in sorted(set(base) & set(values))}


def _outcomes(claim: Claim, by_part: Mapping[str, Any], rule: str, part: str) -> dict[int, tuple[float, float, list]]:
    """{seed: (main value, all-seeds value, [(who, status) of its dead members])}: the main value is NaN where a
    member is not counted (not healthy; with ``keep_collapsed`` diverged); the all-seeds value puts a dead member
    at the metric's worst (``WORSE``), or keeps a collapsed member's value where the metric has no worst."""
    record = by_part[part]
    rules = [rule] + ([claim.baseline] if claim.baseline else [])
    per_rule = {r: member_outcomes(record, r, claim.metric, claim.layer) for r in rules}
    worse = WORSE.get(claim.metric)
    where = f" ({part})" if claim.part_b and claim.part_b != claim.part else ""
    out = {}
    for seed in sorted(set.intersection(*(set(v) for v in per_rule.values()))):
        main, every, dead = {}, {}, []
        for r, outcomes in per_rule.items():
            value, status = outcomes[seed]
            counted = status == "healthy" or (claim.keep_collapsed and status == "collapsed")
            main[r] = value if counted else math.nan
            if status != "healthy":
                dead.append((f"{r}{where}", status))
                if worse is not None:
                    value = worse * math.inf
                elif status == "diverged":
                    value = math.nan
            every[r] = value
        if claim.baseline:
            with np.errstate(invalid="ignore"):
                out[seed] = (main[claim.baseline] - main[rule], every[claim.baseline] - every[rule], dead)
        else:
            out[seed] = (main[rule], every[rule], dead)
    return out


def claim_bounds(claim: Claim, reference: float) -> tuple[float, float]:
    """The band (lo, hi) the claim puts the paired quantity in, in its units (log for ratio claims; a relative
    threshold scaled by the reference's mean ``reference``)."""
    if claim.side == "band":
        lo, hi = claim.band
    elif claim.side == "=":
        margin = EQUIVALENCE_SHARE * abs(reference)
        lo, hi = -margin, margin
    elif claim.side in ("<", ">"):
        threshold = claim.threshold * reference if claim.relative else claim.threshold
        lo, hi = (-math.inf, threshold) if claim.side == "<" else (threshold, math.inf)
    else:
        raise ValueError(f"side must be '<', '>', '=' or 'band' (got {claim.side!r})")
    if claim.ratio:
        with np.errstate(divide="ignore"):
            return float(np.log(lo)) if lo > 0 else -math.inf, float(np.log(hi)) if hi > 0 else -math.inf
    return lo, hi


def _paired(a: float, b: float, ratio: bool) -> float:
    """a − b, or log(a/b) for a ratio claim, with ±inf for a dead member ranked worst (NaN: no outcome)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.log(a) - np.log(b)) if ratio else float(np.subtract(a, b))


def evaluate_claim(claim: Claim, by_part: Mapping[str, Any]) -> dict[str, Any]:
    """One sub-claim's two analyses, before Holm's correction (``evaluate_claims`` applies it):

    - *healthy*: the seeds where both members count (healthy; ``keep_collapsed``: not diverged), the mean paired
      difference (ratio claims: of log a/b, shown as the ratio of geometric means), its 95 % t-interval, the
      t-test's p against the bound that decides (``statistics.t_location``), and its rank evidence on the same seeds
      (``statistics.rank_location``: how many seeds lie on the claimed side, sign test and Wilcoxon p);
    - *all seeds*: every seed, a collapsed or diverged member ranked worst (``WORSE``), rank tests only.

    ``excluded``: {seed: "ip collapsed, none diverged"}, the seeds the healthy analysis left out and why.
    Verdicts as ``decide`` gives them for this claim alone. Verdict "missing" when a record is absent."""
    if claim.part not in by_part or (claim.part_b or claim.part) not in by_part:
        return {"label": claim.label, "verdict": "missing"}
    if any(reader_of(by_part[p]).values(claim.metric, claim.layer) is None for p in {claim.part, claim.part_b} if p):
        return {"label": claim.label, "verdict": "missing", "why": f"{claim.metric} not recorded"}
    a = _outcomes(claim, by_part, claim.a, claim.part)
    b = _outcomes(claim, by_part, claim.b, claim.part_b or claim.part)
    seeds = sorted(set(a) & set(b))
    main = {s: (a[s][0], b[s][0]) for s in seeds if np.isfinite(a[s][0]) and np.isfinite(b[s][0])}
    kept = sorted(main)
    reference = float(np.mean([vb for _, vb in main.values()])) if main else math.nan
    lo, hi = claim_bounds(claim, reference)
    healthy_x = np.array([_paired(*main[s], claim.ratio) for s in kept])
    all_x = np.array([_paired(a[s][1], b[s][1], claim.ratio) for s in seeds])
    excluded = {s: ", ".join(f"{who} {status}" for who, status in a[s][2] + b[s][2]) for s in seeds if s not in main}
    excluded = {s: why or "no finite value" for s, why in excluded.items()}
    healthy = t_location(healthy_x, lo, hi)
    result = {
        "label": claim.label,
        "ratio": claim.ratio,
        "seeds": kept,
        "bounds": (lo, hi),
        "reference": reference,
        "threshold": hi if math.isfinite(hi) else lo,
        "excluded": excluded,
        "healthy": healthy,
        "rank": rank_location(healthy_x, lo, hi),
        "all_seeds": rank_location(all_x, lo, hi),
        "n_all": len(seeds),
        "counts": claim.counts,
        "word": claim.word,
        **{k: healthy[k] for k in ("n", "mean", "low", "high", "p")},
    }
    return decide([result])[0]  # alone it is its own family; ``evaluate_claims`` decides again within the entry


def evaluate_claims(claims: Iterable[Claim], by_part: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every sub-claim of an entry evaluated (``evaluate_claim``), with Holm's correction within the entry (its
    sub-claims are the family) applied to the healthy analysis's t-test p and, separately, to the all-seeds
    analysis's Wilcoxon p; verdicts at the adjusted level (``stats.ALPHA``):

    - ``healthy_verdict`` (t-test), ``rank_verdict`` (Wilcoxon on the same seeds, shown beside it) and
      ``all_seeds_verdict`` (Wilcoxon, a dead member ranked worst);
    - ``verdict``: the healthy analysis's, unless seeds were left out and the all-seeds analysis disagrees — then
      "inconclusive" with ``depends_on_exclusion``: a verdict that rests on which seeds were dropped is never
      reproduced (or contradicted) outright."""
    claims = list(claims)
    return decide([evaluate_claim(claim, by_part) for claim in claims])


def judge(
    label: str, x: np.ndarray, bounds: tuple[float, float], word: str = "", ratio: bool = False
) -> dict[str, Any]:
    """A sub-claim on per-seed values ``x`` that no seed is left out of (single-neuron entries): the healthy and
    the all-seeds analyses are the same seeds. ``decide`` gives its verdict."""
    lo, hi = bounds
    healthy = t_location(np.asarray(x, dtype=float), lo, hi)
    rank = rank_location(np.asarray(x, dtype=float), lo, hi)
    return {"label": label, "ratio": ratio, "seeds": [], "bounds": bounds, "threshold": hi if math.isfinite(hi) else lo,
            "excluded": {}, "healthy": healthy, "rank": rank, "all_seeds": rank, "n_all": healthy["n"],
            "counts": True, "word": word, **{k: healthy[k] for k in ("n", "mean", "low", "high", "p")}}  # fmt: skip


def decide(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm's correction over an entry's sub-claims (the family), then each sub-claim's verdicts (see
    ``evaluate_claims``); missing ones are left as they are."""
    present = [r for r in results if "healthy" in r]
    for adjusted_key, p_of in (
        ("p_holm", lambda r: r["p"]),
        ("rank_p_holm", lambda r: r["rank"]["p"]),
        ("all_p_holm", lambda r: r["all_seeds"]["p"]),
    ):
        for r, adjusted in zip(present, holm([p_of(r) for r in present]), strict=True):
            r[adjusted_key] = adjusted
    for r in present:
        lo, hi = r["bounds"]
        r["healthy_verdict"] = location_verdict(r["mean"], r["p_holm"], lo, hi) if r["n"] >= 2 else "inconclusive"
        r["rank_verdict"] = location_verdict(r["rank"]["median"], r["rank_p_holm"], lo, hi)
        r["all_seeds_verdict"] = location_verdict(r["all_seeds"]["median"], r["all_p_holm"], lo, hi)
        r["depends_on_exclusion"] = bool(r["excluded"]) and r["all_seeds_verdict"] != r["healthy_verdict"]
        r["verdict"] = "inconclusive" if r["depends_on_exclusion"] else r["healthy_verdict"]
    return results


def _p(p: float) -> str:
    return "–" if not math.isfinite(p) else f"{p:.2g}"


def _number(value: float, ratio: bool, signed: bool = True) -> str:
    if ratio:
        return f"{math.exp(value):.3g}" if math.isfinite(value) or value == -math.inf else "∞"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def band_text(bounds: tuple[float, float], ratio: bool) -> str:
    """The claimed band in words: "< 0", "> 1.05", "in (0.9, 1)" (ratio claims in ratio units)."""
    lo, hi = bounds
    if math.isfinite(lo) and math.isfinite(hi):
        return f"in ({_number(lo, ratio, False)}, {_number(hi, ratio, False)})"
    return f"< {_number(hi, ratio, False)}" if math.isfinite(hi) else f"> {_number(lo, ratio, False)}"


def side_text(claim: Claim | None, rank: Mapping[str, Any]) -> str:
    """How many seeds lie on the claimed side: "ip lower in 9 of 10 seeds" for a plain comparison, else "inside
    the claimed band in 7 of 10 seeds"."""
    plain = claim is not None and not claim.baseline and claim.side in ("<", ">") and claim.threshold == 0
    plain = plain and not claim.ratio
    if plain:
        word = "lower" if claim.side == "<" else "higher"
        return f"{claim.a} {word} than {claim.b} in {rank['inside']} of {rank['n']} seeds"
    return f"inside the claimed band in {rank['inside']} of {rank['n']} seeds"


def claim_text(result: dict[str, Any], what: str, keep_collapsed: bool = False, claim: Claim | None = None) -> str:
    """A sub-claim's line in the measured text: label; the healthy analysis (mean, 95 % t-interval, raw and
    Holm-adjusted t-test p, on how many seeds, which seeds were left out and why); its rank evidence (seeds on the
    claimed side, sign-test and Wilcoxon p); the all-seeds analysis (dead members ranked worst); the verdict, and
    whether it depends on the exclusion. "no record" when missing."""
    if result["verdict"] == "missing":
        return f"{result['label']}: {result.get('why', 'no record')}"
    ratio = bool(result.get("ratio"))
    lo, hi = result["bounds"]
    interval = (
        f"{_number(result['mean'], ratio)} [95 % CI {_number(result['low'], ratio)}, {_number(result['high'], ratio)}]"
    )
    seeds = "seeds with a value under both (collapsed kept)" if keep_collapsed else "seeds healthy under both"
    left = ""
    if result["excluded"]:
        left = " (left out: " + "; ".join(f"seed {s} — {why}" for s, why in result["excluded"].items()) + ")"
    word = f" {result['word']}, tested as" if result.get("word") else " claimed"
    rank, every = result["rank"], result["all_seeds"]
    text = (
        f"{result['label']}: {what}{word} {band_text((lo, hi), ratio)}: {interval}, t-test p {_p(result['p'])} "
        f"(Holm {_p(result['p_holm'])}), {result['n']} {seeds}{left} → {result['healthy_verdict']}; "
        f"{side_text(claim, rank)}, sign test p {_p(rank['sign_p'])}, Wilcoxon p {_p(rank['p'])} "
        f"(Holm {_p(result['rank_p_holm'])})"
    )
    if result["excluded"]:
        text += (
            f"; all {every['n']} seeds, a dead member ranked worst: {side_text(claim, every)}, sign test p "
            f"{_p(every['sign_p'])}, Wilcoxon p {_p(every['p'])} (Holm {_p(result['all_p_holm'])}) → "
            f"{result['all_seeds_verdict']}"
        )
    if result["depends_on_exclusion"]:
        text += (
            f" ⇒ {result['verdict']}: depends on the exclusion (healthy seeds {result['healthy_verdict']}, all seeds "
            f"{result['all_seeds_verdict']})"
        )
    else:
        text += f" ⇒ {result['verdict']}"
    if not result["counts"]:
        text += " (shown beside the verdict, not part of it)"
    return text


def claims_text(claims: Iterable[Claim], by_part: Mapping[str, Any]) -> tuple[list[str], dict, list[str]]:
    """Every sub-claim evaluated with Holm's correction within the entry (``evaluate_claims``): its line of the
    measured text, its numbers by label, and the sub-verdicts that make the entry's (``combine_verdicts``) —
    those of claims that count and have records, a ``group`` of claims counting once ("in almost all" of them,
    ``almost_all_verdict``, its line added after its members)."""
    claims = list(claims)
    texts, numbers, verdicts = [], {}, []
    groups: dict[str, list[str]] = {}
    for claim, result in zip(claims, evaluate_claims(claims, by_part), strict=True):
        texts.append(claim_text(result, claim.measured, claim.keep_collapsed, claim))
        numbers[claim.label] = {k: v for k, v in result.items() if k != "seeds"}
        if result["verdict"] == "missing" or not claim.counts:
            continue
        if claim.group:
            groups.setdefault(claim.group, []).append(result["verdict"])
        else:
            verdicts.append(result["verdict"])
    for group, members in groups.items():
        verdict = almost_all_verdict(members)
        reproduced = sum(v == "reproduced" for v in members)
        texts.append(
            f"{group}: reproduced in {reproduced} of {len(members)} tests (at most {ALMOST_ALL_EXCEPTIONS} exception "
            f"allowed) → {verdict}"
        )
        numbers[group] = {"verdict": verdict, "members": members, "reproduced": reproduced}
        verdicts.append(verdict)
    return texts, numbers, verdicts


def _dead_text(record: Any, rules: list[str]) -> str:
    """Dead ReLU output units per seed and rule, or that the record predates their recording."""
    reader = reader_of(record)
    if not reader.health.dead_recorded:
        return "dead output units: not recorded"
    dead = {r: reader.health.dead_output_units[reader.rule(r).members] for r in rules}
    if not any(d.any() for d in dead.values()):
        return "no dead output unit"
    return "dead output units per seed: " + "; ".join(f"{r} {' '.join(map(str, d.tolist()))}" for r, d in dead.items())


GRADIENT_NOTE = (
    "∂y/∂u = 1 − y² is the thesis's measure; the factor backprop applies on its way through the unit is "
    "∂y/∂x = ∂y/∂u · du/dx ((1 − y²)/α for u = (x − β)/α, (1 − y²)·α for Infomax's u = αx + β, 1 − y² without a "
    "rule), and it is ∂y/∂x that tells whether gradients pass"
)


def assess_paired(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """Network entries: per part the rules' means over their healthy seeds (± the sample SD), then every
    sub-claim's two analyses, Holm-corrected within the entry. ∂y/∂u entries also show ∂y/∂x beside it."""
    texts = []
    gradient = entry.plot == "grad_y_u"
    metrics = ("slope", "slope_x") if gradient else ("final_loss",)
    digits = 3 if gradient else 4
    layer_name = f"hidden layer {(entry.layer or 0) + 1}"
    what_of = {"final_loss": "final train loss", "slope": f"mean ∂y/∂u ({layer_name})",
               "slope_x": f"mean ∂y/∂x = ∂y/∂u · du/dx ({layer_name})"}  # fmt: skip
    for part in sorted(by_part, key=lambda p: list(entry.parts).index(p) if p in entry.parts else 99):
        record = by_part[part]
        reader = reader_of(record)
        present = reader.rules()
        rules = [r for r in entry.rules if r in present]
        label = f"lr {record.config.lr:g}" if part.startswith("lr") else part
        for metric in metrics:
            if reader.values(metric, entry.layer or 0) is None:
                texts.append(f"{label}: {what_of[metric]} not recorded (a record older than it)")
                continue
            summaries = [rule_summary(record, r, metric, digits, entry.layer or 0) for r in rules]
            texts.append(f"{label}: {what_of[metric]} " + ", ".join(summaries))
        texts[-1] += f" [{_dead_text(record, rules)}]"
    if gradient:
        texts.append(GRADIENT_NOTE)
    claim_lines, numbers, verdicts = claims_text(entry.extra["claims"], by_part)
    return "; ".join(texts + claim_lines + [SD_NOTE]), combine_verdicts(verdicts), numbers


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
    ("IP ≈ Infomax (±0.02 nats)", "ip", "infomax", (-0.02, 0.02)),
    ("IP above incremental BN", "ip", "bn_inc", (0.0, math.inf)),
    ("WD below IP", "wd", "ip", (-math.inf, 0.0)),
)
"""Fig. 5.1's sub-claims per input: (label, a, b, band in nats) on the paired entropies a − b."""
CONVERGED_NATS = 0.01  # "converged": the entropy stays within 0.01 nats of its final value from then on
FAR_FASTER = 2 / 3  # "far faster" (§5.2): Infomax at least 1.5 times as fast: at most ⅔ of IP's iterations


def iterations_to_converge(metrics: Any, rule: str, tolerance: float = CONVERGED_NATS) -> float:
    """The first recorded iteration from which ``rule``'s output entropy stays within ``tolerance`` nats of its
    final value (the single-neuron trace; its resolution is the record's stride, 100 iterations)."""
    rules = [str(r) for r in np.asarray(metrics["rules"])]
    entropy = np.asarray(metrics["trace/entropy"], dtype=float)[:, rules.index(rule)]
    iters = np.asarray(metrics["trace/iter"], dtype=float)
    far = np.flatnonzero(np.abs(entropy - entropy[-1]) > tolerance)
    return float(iters[far[-1] + 1]) if far.size else float(iters[0])


def _neuron_lines(results: list[dict[str, Any]], what: str) -> list[str]:
    return [claim_text(r, what) for r in results]


def assess_entropy_order(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.2, Fig. 5.1, per input (the entry's ``group_labels``: part prefix → label): H(ip) ≈ H(infomax) (within
    0.02 nats), H(ip) > H(bn_inc), H(wd) < H(ip); and "Infomax converges to these levels far faster": the ratio of
    geometric means of the iterations to converge (``iterations_to_converge``) Infomax / IP below ½. Holm's
    correction over all of them."""
    texts, numbers, results, whats = [], {}, [], []
    for dist, label in entry.extra["group_labels"].items():
        parts = [r for p, r in by_part.items() if p.startswith(dist)]
        if not parts:
            continue
        ent = {r: _seeded(parts, r) for r in entry.rules}
        seeds = sorted(set.intersection(*(set(v) for v in ent.values())))
        arr = {r: np.array([ent[r][s] for s in seeds]) for r in entry.rules}
        bound = input_entropy_bound(parts[0].config)
        means = ", ".join(f"{r} {arr[r].mean():.4f} ± {arr[r].std(ddof=1):.4f} nats" for r in entry.rules)
        converge = {r: np.array([iterations_to_converge(rec.metrics, r) for rec in parts]) for r in ("ip", "infomax")}
        speed = ", ".join(f"{r} {converge[r].mean():.0f} ± {converge[r].std(ddof=1):.0f}" for r in converge)
        texts.append(
            f"{label} ({len(seeds)} seeds): {means}; iterations until the entropy stays within {CONVERGED_NATS} "
            f"nats of its final value: {speed}; {_bound_text(bound)}"
        )
        numbers[dist] = {"mean": {r: float(v.mean()) for r, v in arr.items()}, "bound": bound,
                         "iterations": {r: v.tolist() for r, v in converge.items()}}  # fmt: skip
        for text, a, b, band in ENTROPY_CHECKS:
            results.append(judge(f"{label}: {text}", arr[a] - arr[b], band))
            whats.append("Δ entropy")
        ratio = np.log(converge["infomax"]) - np.log(converge["ip"])
        results.append(
            judge(
                f"{label}: Infomax converges far faster than IP",
                ratio,
                (-math.inf, math.log(FAR_FASTER)),
                '"Infomax converges to these levels far faster" (§5.2)',
                ratio=True,
            )
        )
        whats.append("iterations ratio Infomax / IP (geometric means)")
    decide(results)
    for result, what in zip(results, whats, strict=True):
        numbers[result["label"]] = {k: v for k, v in result.items() if k != "seeds"}
        texts.append(claim_text(result, what))
    verdicts = [r["verdict"] for r in results]
    return "; ".join(texts + [SD_NOTE]), combine_verdicts(verdicts), numbers


UNIFORM_GAP = 0.02  # nats: "approximately uniform" = within 0.02 of the best a tanh can reach


def assess_uniform_output(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.2, Fig. 5.2: IP's output entropy ends within 0.02 nats of the best a tanh can reach on N(5, 2²) (the
    bound, as the estimator reads it), not of log 2, which no tanh of a Gaussian reaches; the t-test is against
    0.02 nats, not 0."""
    ent = np.array([neuron_final(rec.metrics, "entropy")["ip"] for rec in by_part.values()])
    alpha = np.array([neuron_final(rec.metrics, "alpha")["ip"] for rec in by_part.values()])
    bound = input_entropy_bound(next(iter(by_part.values())).config)
    gap = bound["entropy_hist"] - ent
    (result,) = decide([judge("gap to the tanh bound below 0.02 nats", gap, (-math.inf, UNIFORM_GAP))])
    verdict = result["verdict"]
    claim = claim_text(result, "gap")
    text = (
        f"IP output entropy {ent.mean():.4f} ± {ent.std(ddof=1):.4f} nats over {len(ent)} seeds, α "
        f"{alpha.mean():.3f} (gap to log 2 {ENTROPY_MAX - ent.mean():.4f}); {_bound_text(bound)} (α "
        f"{bound['alpha']:.3f}); {claim}; {SD_NOTE}"
    )
    numbers = {
        "entropy": float(ent.mean()),
        "gap": float(ENTROPY_MAX - ent.mean()),
        "bound": bound,
        "gap_to_bound": {k: v for k, v in result.items() if k != "seeds"},
        "verdict": verdict,
    }
    return text, verdict, numbers


MEDIAN_TOLERANCE = 0.05
"""|β − median| below 0.05 standard deviations of the input counts as "at the median" (Lemma 1 gives no
tolerance; in units of σ the test does not depend on the input's scale)."""


def assess_beta_median(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§5.1, Lemma 1: β converges to the median. Per input (the entry's ``datasets``, each the prefix of its
    parts): |β − median| in units of the sample's standard deviation σ over seeds, its interval (claimed below
    ``MEDIAN_TOLERANCE``), and for skewed inputs the fraction of the way from the median to the mean where β
    lies (0: at the median, 1: at the mean; the fixed point is E[tanh((x − β)/α)] = 0)."""
    texts, numbers, results = [], {}, []
    rows = []
    for name in entry.datasets:
        parts = [r for p, r in by_part.items() if p.startswith(name + "-")]
        if not parts:
            continue
        beta = np.array([neuron_final(rec.metrics, "beta")["ip"] for rec in parts])
        median = np.array([float(rec.metrics["sample_median"]) for rec in parts])
        mean = np.array([float(rec.metrics["sample_mean"]) for rec in parts])
        sigma = np.array([float(rec.metrics["sample_std"]) for rec in parts])
        to_median, to_mean = np.abs(beta - median), np.abs(beta - mean)
        result = judge(name, to_median / sigma, (-math.inf, MEDIAN_TOLERANCE))
        results.append(result)
        lo, hi = np.minimum(median, mean), np.maximum(median, mean)
        skewed = np.abs(median - mean).mean() > 0.05 * sigma.mean()
        between = int(((beta >= lo) & (beta <= hi)).sum()) if skewed else None
        fraction = float(np.mean((beta - median) / (mean - median))) if skewed else None
        rows.append((name, result, to_median, to_mean, sigma, between, fraction))
    decide(results)
    for name, result, to_median, to_mean, sigma, between, fraction in rows:
        where = ""
        if between is not None:
            where = (
                f", β between median and mean in {between} of {len(to_median)} seeds, on average {fraction:.2f} of "
                "the way from the median to the mean"
            )
        numbers[name] = {
            "abs_beta_minus_median": float(to_median.mean()),
            "abs_beta_minus_median_sigma": float((to_median / sigma).mean()),
            "abs_beta_minus_mean": float(to_mean.mean()),
            "between": between,
            "fraction_to_mean": fraction,
            **{k: v for k, v in result.items() if k != "seeds"},
        }
        texts.append(
            f"{name}: mean |β − median| {to_median.mean():.3f} = {(to_median / sigma).mean():.3f} σ [95 % CI "
            f"{result['low']:.3f}, {result['high']:.3f}] σ, claimed below {MEDIAN_TOLERANCE} σ: t-test p "
            f"{_p(result['p'])} (Holm {_p(result['p_holm'])}), Wilcoxon p {_p(result['rank']['p'])}; mean |β − mean| "
            f"{to_mean.mean():.3f}{where} → {result['verdict']}"
        )
    return "; ".join(texts), combine_verdicts([r["verdict"] for r in results]), numbers


# --- stability ----------------------------------------------------------------------------------------

FAILURE_ACC_DROP = 0.05  # a rule "breaks" at an η when its test accuracy falls 5 points below its best on the grid


def part_eta(part: str) -> float:
    """The η of a stability part: "eta0.001" → 0.001."""
    return float(part.removeprefix("eta"))


def stability_rows(by_part: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per η (ascending) and rule of the stability entry's records: ``part``, ``eta``, ``rule``,
    ``seeds``, ``diverged``, ``collapsed``, ``failed_seeds`` (diverged or collapsed: not healthy), ``test_acc``
    (mean over the healthy seeds, 0 when none is), ``median_acc`` (their median), ``alpha_nonpositive``
    (unit-updates with α ≤ 0 per seed, mean over all its seeds) and ``broken``: at least half its seeds failed, or
    its median test accuracy is more than 5 points below its own best median on the grid (a median, so that one
    seed's dead output units do not break a rule)."""
    rows = []
    for part, record in sorted(by_part.items(), key=lambda kv: part_eta(kv[0])):
        reader = reader_of(record)
        alpha = reader.values("alpha_nonpositive")
        if alpha is None:
            alpha = reader.values("latest_alpha_nonpositive")
        for rule, seeds in reader.rules().items():
            failed = int((~seeds.healthy).sum())
            acc = np.array(list(reader.seed_values(rule, "test_acc").values()))
            nonpositive = float(alpha[seeds.members].mean()) if alpha is not None and len(seeds.members) else 0.0
            rows.append(
                {
                    "part": part,
                    "eta": part_eta(part),
                    "rule": rule,
                    "seeds": len(seeds.members),
                    "diverged": seeds.diverged,
                    "collapsed": seeds.collapsed,
                    "failed_seeds": failed,
                    "test_acc": float(acc.mean()) if acc.size else 0.0,
                    "median_acc": float(np.median(acc)) if acc.size else 0.0,
                    "alpha_nonpositive": nonpositive,
                }
            )
    best = {}
    for row in rows:
        best[row["rule"]] = max(best.get(row["rule"], 0.0), row["median_acc"])
    for row in rows:
        failed = row["failed_seeds"] * 2 >= row["seeds"]
        row["broken"] = bool(failed or row["median_acc"] < best[row["rule"]] - FAILURE_ACC_DROP)
    return rows


def assess_stability(entry: Any, by_part: Mapping[str, Any]) -> tuple[str, str, dict]:
    """§4.3 and §6.2: Infomax tended to diverge at a high η while WD worked for much larger η, and the thesis
    suspects IP is more stable than Infomax. On one absolute η grid for every rule, a rule *breaks* at the smallest
    η where at least half its seeds diverged or collapsed, or its healthy seeds' mean test accuracy is more than 5
    points below its own best (``stability_rows``); sub-claims: IP and WD each break at a larger η than Infomax.
    Where a rule has not broken on the computed parts and a larger η is still missing, its η is not known and
    the comparison is inconclusive unless the other rule broke earlier."""
    texts, numbers, breaks = [], {}, {}
    rows = stability_rows(by_part)
    grid = sorted(part_eta(p) for p in entry.parts)
    done = sorted(part_eta(p) for p in by_part)
    for part in dict.fromkeys(row["part"] for row in rows):
        mine = [row for row in rows if row["part"] == part]
        for row in mine:
            if row["broken"]:
                breaks.setdefault(row["rule"], row["eta"])
        numbers[part] = {
            row["rule"]: {k: row[k] for k in ("failed_seeds", "test_acc", "broken", "alpha_nonpositive")}
            for row in mine
        }
        record = by_part[part]
        texts.append(
            f"η {mine[0]['eta']:g}: "
            + ", ".join(
                f"{rule_summary(record, row['rule'])}, α ≤ 0 in {row['alpha_nonpositive']:.0f} unit-updates per seed"
                + (" — broken" if row["broken"] else "")
                for row in mine
            )
        )
    missing = [eta for eta in grid if eta not in done]

    def known_up_to(eta: float) -> bool:
        """Whether every η of the grid up to ``eta`` has its record."""
        return all(e in done for e in grid if e <= eta)

    for rule in STABILITY_ORDER:
        eta = breaks.get(rule, math.inf)
        text = "on none of the computed η" if eta == math.inf else f"at η {eta:g}"
        texts.append(f"{rule} breaks {text}" + ("" if known_up_to(eta) else " (η still missing: not final)"))
    verdicts = []
    for rule in ("ip", "wd"):
        mine, theirs = breaks.get(rule, math.inf), breaks.get("infomax", math.inf)
        if theirs < mine and known_up_to(theirs):
            verdict = "reproduced"
        elif mine < theirs and known_up_to(mine):
            verdict = "contradicted"
        else:
            verdict = "inconclusive"
        verdicts.append(verdict)
        numbers[f"{rule} vs infomax"] = {"breaks_at": mine, "infomax_breaks_at": theirs, "verdict": verdict}
        texts.append(f"{rule} breaks at a larger η than Infomax → {verdict}")
    if missing:
        texts.append("missing η: " + ", ".join(f"{eta:g}" for eta in missing))
    return "; ".join(texts), combine_verdicts(verdicts), numbers


STABILITY_ORDER = ("infomax", "ip", "wd")


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
