"""The gallery's own summary charts: final β against the input's median and mean (Lemma 1), which rule
breaks first as η grows (the stability entry; its rows come from ``ipcore.gallery.assessment.stability_rows``), and the
table of an entry's sub-claims with both analyses and the rank evidence (``claim_rows``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from ipcore.charts.base import PALETTE, Plot, rule_color
from ipcore.jobs.serving import plot_text


def beta_median_scatter(points: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Final β against the input's median (●) and mean (◇), one point per run, grouped by input; on the
    diagonal means β equals that statistic. ``points``: dicts with label, median, mean, beta."""
    plot = Plot()
    labels = list(dict.fromkeys(p["label"] for p in points))
    values = [v for p in points for v in (p["median"], p["mean"], p["beta"]) if v is not None and math.isfinite(v)]
    for i, label in enumerate(labels):
        rows = [p for p in points if p["label"] == label]
        for stat, symbol in (("median", "circle"), ("mean", "diamond-open")):
            plot.add(
                {
                    "x": [p[stat] for p in rows],
                    "y": [p["beta"] for p in rows],
                    "mode": "markers",
                    "name": f"{plot_text(label)}: β vs {stat}",
                    "marker": {"symbol": symbol, "color": PALETTE[i % len(PALETTE)], "size": 9},
                }
            )
    if values:
        lo, hi = min(values), max(values)
        plot.add(
            {
                "x": [lo, hi],
                "y": [lo, hi],
                "mode": "lines",
                "name": "β = statistic",
                "line": {"dash": "dash", "color": "#555"},
            }
        )
    return plot.figure("Final β vs the input's median and mean", "input median / mean", "final β")


def _p(p: Any) -> str:
    return "–" if p is None or not math.isfinite(p) else f"{p:.2g}"


def _value(value: float, ratio: bool) -> str:
    if ratio:
        return f"{math.exp(value):.3g}" if value != math.inf else "∞"
    return f"{value:+.4g}"


def claim_rows(numbers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per sub-claim of an entry's assessment (``ipcore.gallery.assessment.evaluate_claims``' numbers): the
    healthy analysis (estimate, 95 % interval, raw and Holm-adjusted t-test p, seeds, those left out and why), the
    rank evidence on the same seeds (on the claimed side, sign test, Wilcoxon), the all-seeds analysis (a dead
    member ranked worst) and the verdict; groups ("in almost all the tests") as one row each. Ratio claims (their
    numbers are logs) are shown as ratios."""
    rows = []
    for label, result in numbers.items():
        if not isinstance(result, Mapping):
            continue
        if "healthy" not in result:
            if "members" in result:  # a group of claims that counts once
                rows.append({"sub-claim": label, "verdict": result["verdict"],
                             "healthy seeds (t-test)": f"reproduced in {result['reproduced']} of "
                                                       f"{len(result['members'])} tests"})  # fmt: skip
            elif result.get("verdict") == "missing":
                rows.append({"sub-claim": label, "verdict": "missing"})
            continue
        ratio = bool(result.get("ratio"))
        rank, every = result["rank"], result["all_seeds"]
        left = "; ".join(f"seed {s}: {why}" for s, why in result["excluded"].items()) or "none"
        rows.append(
            {
                "sub-claim": label,
                "tested as": result.get("word") or "",
                "healthy seeds (t-test)": f"{_value(result['mean'], ratio)} [{_value(result['low'], ratio)}, "
                f"{_value(result['high'], ratio)}] on {result['n']}, p {_p(result['p'])}, Holm "
                f"{_p(result.get('p_holm'))} → {result.get('healthy_verdict')}",
                "rank evidence": f"{rank['inside']} of {rank['n']} seeds on the claimed side, sign p "
                f"{_p(rank['sign_p'])}, Wilcoxon p {_p(rank['p'])}",
                "all seeds (dead = worst)": f"{every['inside']} of {every['n']}, Wilcoxon p {_p(every['p'])}, Holm "
                f"{_p(result.get('all_p_holm'))} → {result.get('all_seeds_verdict')}",
                "left out of the healthy analysis": left,
                "verdict": result["verdict"]
                + (" (depends on the exclusion)" if result.get("depends_on_exclusion") else "")
                + ("" if result.get("counts", True) else " (not in the verdict)"),
            }
        )
    return rows


def stability_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Failed seeds (diverged or collapsed to chance: not healthy, ``ipcore.results.health``) and α ≤ 0 events per seed,
    per rule at each η. ``rows``: ``ipcore.gallery.assessment.stability_rows`` (scale, rule, seeds, diverged,
    collapsed, failed_seeds, alpha_nonpositive), the same rows the entry's verdict is computed from."""
    plot = Plot(1, 2, titles=["seeds that diverged or collapsed", "α ≤ 0 events per seed"], hspace=0.12)
    for rule in dict.fromkeys(r["rule"] for r in rows):
        mine = [r for r in rows if r["rule"] == rule]
        scales = [f"η {r['eta']:g}" for r in mine]
        plot.add(
            {
                "type": "bar",
                "x": scales,
                "y": [r["failed_seeds"] for r in mine],
                "text": [f"{r['diverged']} diverged, {r['collapsed']} collapsed of {r['seeds']}" for r in mine],
                "hovertemplate": "%{x}: %{text}<extra>" + rule + "</extra>",
                "name": rule,
                "legendgroup": rule,
                "marker": {"color": rule_color(rule)},
            },
            col=1,
        )
        plot.add(
            {
                "type": "bar",
                "x": scales,
                "y": [r["alpha_nonpositive"] for r in mine],
                "name": f"{rule} α ≤ 0",
                "legendgroup": rule,
                "showlegend": False,
                "marker": {"color": rule_color(rule)},
            },
            col=2,
        )
    plot.yaxis(col=1, title={"text": "seeds"})
    plot.yaxis(col=2, title={"text": "unit-updates per seed"})
    empty = (
        (1, "failed_seeds", "no seed diverged or<br>collapsed at any η"),
        (2, "alpha_nonpositive", "no α ≤ 0 event"),
    )
    for col, key, text in empty:
        if rows and not any(r[key] for r in rows):
            # Bars of height 0 are invisible: say what the empty panel means, and show the seeds' scale.
            refs = plot.refs(col=col)
            plot.annotations.append(
                {
                    "text": text,
                    "showarrow": False,
                    "xref": f"{refs['xaxis']} domain",
                    "x": 0.5,
                    "yref": f"{refs['yaxis']} domain",
                    "y": 0.5,
                    "font": {"size": 13},
                }
            )
            top = max((int(r.get("seeds", 1)) for r in rows), default=1) if key == "failed_seeds" else 1
            plot.yaxis(col=col, range=[0, top])
    figure = plot.figure("Stability: which rule breaks first as η grows")
    figure.layout.barmode = "group"
    return figure
