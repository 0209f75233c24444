"""Records as tidy pandas tables: one row per observation, so ``groupby``, seaborn and plotly express work directly.

``metric_table`` turns any recorded metric into long form: the time column (``step`` for the batch, layer and
histogram tables, with ``epoch`` beside a batch's step; ``epoch`` for the epoch table; ``iter`` for the single
neuron), then ``rule`` and ``seed``, then ``layer`` (1 = the first hidden layer) and ``unit`` or ``bin`` where the
metric has them, and ``value``. ``seed_table`` gives the per-seed final numbers of a network run (one row per
rule × seed, with its health: ``ipcore.results.health``), ``neuron_table`` the final values of each rule of a single
neuron, ``paired`` the paired comparison of two rules on the seeds healthy under both (``ipcore.results.statistics``).

Metric names: the record's own (``batch/loss``, ``layer/grad_y_u``, ``trace/entropy`` …, listed by
``metric_names``) or the part after the slash where that is unambiguous (``loss``, ``grad_y_u``, ``entropy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ipcore.results.reader import SEED_METRICS, RunReader, centre_and_gain
from ipcore.results.statistics import paired_difference

Metrics = Mapping[str, np.ndarray]

TIME_COLUMNS = {"batch": "step", "layer": "step", "hist": "step", "epoch": "epoch", "trace": "iter"}
"""Each recorded table's time axis (its ``<table>/<name>`` array)."""


def metric_names(metrics: Metrics) -> list[str]:
    """The time-series metrics of a record (``<table>/<name>``, the time axes themselves left out)."""
    return [
        key
        for key in metrics
        if "/" in key
        and key.split("/", 1)[0] in TIME_COLUMNS
        and key.split("/", 1)[1] != TIME_COLUMNS[key.split("/", 1)[0]]
        and not (key.startswith("batch/") and key.endswith("/epoch"))
    ]


def resolve_metric(metrics: Metrics, name: str) -> str:
    """The record's key for ``name`` (a full ``table/name`` or its unambiguous last part); a clear ``KeyError``
    listing the metrics the record has otherwise."""
    if name in metrics and "/" in name:
        return name
    names = metric_names(metrics)
    matches = [key for key in names if key.split("/", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise KeyError(f"metric {name!r} is in several tables: {', '.join(matches)}; name one of them")
    static = [k for k in metrics if "/" not in k]
    raise KeyError(
        f"no metric {name!r} in this record; recorded over time: {', '.join(names)}"
        + (f"; per run: {', '.join(static)}" if static else "")
    )


def _members(metrics: Metrics, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(rule, seed) of each member: a network run's ``members_rule``/``members_seed``, a neuron's rules."""
    if "members_rule" in metrics:
        rules = np.asarray(metrics["members_rule"]).astype(str)
        seeds = np.asarray(metrics.get("members_seed", np.zeros(len(rules), dtype=int))).astype(int)
        return rules, seeds
    rules = np.asarray(metrics["rules"]).astype(str)
    return rules, np.full(len(rules), 0 if seed is None else int(seed))


def metric_table(metrics: Metrics, name: str, seed: int | None = None) -> pd.DataFrame:
    """``name`` in long form: time column(s), ``rule``, ``seed``, ``layer``/``unit``/``bin`` where the metric
    has them, ``value`` (float; NaN where a seed diverged). A metric recorded once per run (``diverged_step``,
    ``alpha_nonpositive_final``) has no time column. ``seed``: the single neuron's seed (its record has one)."""
    if name in metrics and "/" not in name:
        return _static_table(metrics, name, seed)
    key = resolve_metric(metrics, name)
    table = key.split("/", 1)[0]
    time_name = TIME_COLUMNS[table]
    values = np.asarray(metrics[key], dtype=float)
    times = np.asarray(metrics[f"{table}/{time_name}"])[: values.shape[0]]
    rules, seeds = _members(metrics, seed)
    shape = values.shape
    if len(shape) < 2 or shape[1] != len(rules):
        raise KeyError(f"metric {key!r} (shape {list(shape)}) is not recorded per rule and seed")
    index = np.indices(shape).reshape(len(shape), -1)
    data: dict[str, Any] = {time_name: times[index[0]]}
    if table == "batch" and "batch/epoch" in metrics:
        data["epoch"] = np.asarray(metrics["batch/epoch"], dtype=float)[index[0]]
    data["rule"] = rules[index[1]]
    data["seed"] = seeds[index[1]]
    extra = ["layer", "bin" if key.endswith("hist") else "unit"] if table != "trace" else ["bin"]
    for axis, column in zip(range(2, len(shape)), extra, strict=False):
        data[column] = index[axis] + (1 if column == "layer" else 0)
    data["value"] = values.reshape(-1)
    return pd.DataFrame(data)


def _static_table(metrics: Metrics, name: str, seed: int | None) -> pd.DataFrame:
    values = np.asarray(metrics[name], dtype=float)
    rules, seeds = _members(metrics, seed)
    if values.ndim == 0 or values.shape[0] != len(rules):
        return pd.DataFrame({"value": values.reshape(-1)})
    index = np.indices(values.shape).reshape(values.ndim, -1)
    data: dict[str, Any] = {"rule": rules[index[0]], "seed": seeds[index[0]]}
    if values.ndim > 1:
        data["layer"] = index[1] + 1
    data["value"] = values.reshape(-1)
    return pd.DataFrame(data)


def seed_table(metrics: Metrics, dataset: str | None = None, layer: int | None = None) -> pd.DataFrame:
    """A network run's per-seed final numbers: one row per rule × seed with ``healthy``/``diverged``/``collapsed``
    (``ipcore.results.health``) and every ``analysis.SEED_METRICS`` number the run recorded (``final_loss``, ``test_acc``,
    ``slope`` …; ``layer``: the hidden layer of the per-layer ones, 0-based, None = their mean over the layers)."""
    reader = RunReader(metrics, dataset)
    rows = []
    columns = {}
    for metric in SEED_METRICS:
        if metric.startswith("latest_"):
            continue
        values = reader.values(metric, layer)
        if values is not None:
            columns[metric] = np.asarray(values, dtype=float)
    for rule, seeds in reader.rules().items():
        for member, seed, healthy in zip(seeds.members, seeds.seeds, seeds.healthy, strict=True):
            row = {
                "rule": rule,
                "seed": int(seed),
                "healthy": bool(healthy),
                "diverged": bool(reader.health.diverged[member]),
                "collapsed": bool(reader.health.collapsed[member]),
            }
            row.update({metric: float(values[member]) for metric, values in columns.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def neuron_table(metrics: Metrics) -> pd.DataFrame:
    """A single-neuron run's final values, one row per rule: α, β, the centre c and gain a of u = (x − c)/a
    (affine rules converted), mean output, entropy, and the sample's median and mean for comparison."""
    rules = [str(r) for r in np.asarray(metrics["rules"])]
    rows = []
    for index, rule in enumerate(rules):
        final = {
            key.split("/", 1)[1]: float(np.asarray(metrics[key], dtype=float)[-1, index])
            for key in metric_names(metrics)
            if key.startswith("trace/") and np.asarray(metrics[key]).ndim == 2
        }
        gain, centre = centre_and_gain(
            rule, np.asarray(final.get("alpha", np.nan)), np.asarray(final.get("beta", np.nan))
        )
        rows.append({"rule": rule, **final, "centre": float(centre), "gain": float(gain)})
    frame = pd.DataFrame(rows)
    for key in ("sample_median", "sample_mean", "sample_std"):
        if key in metrics:
            frame[key] = float(np.asarray(metrics[key]))
    return frame


def paired(
    metrics: Metrics, a: str, b: str, metric: str = "final_loss", layer: int | None = 0, dataset: str | None = None
) -> dict[str, Any]:
    """The paired difference a − b of ``metric`` (a name of ``analysis.SEED_METRICS``) over the seeds healthy
    under both rules — the same initial weights per seed, so the difference is the rule's effect: ``n``,
    ``mean``, the 95 % t-interval ``low``/``high``, the paired t-test's ``p`` and the ``seeds`` it stands on."""
    if metric not in SEED_METRICS:
        raise KeyError(f"unknown per-seed metric {metric!r}; known: {', '.join(SEED_METRICS)}")
    reader = RunReader(metrics, dataset)
    for rule in (a, b):
        if not len(reader.rule(rule).members):
            raise KeyError(f"rule {rule!r} is not in this run (it has {', '.join(reader.rules())})")
    values_a, values_b = reader.seed_values(a, metric, layer), reader.seed_values(b, metric, layer)
    seeds = sorted(set(values_a) & set(values_b))
    result = paired_difference(np.array([values_a[s] for s in seeds]), np.array([values_b[s] for s in seeds]))
    return {"a": a, "b": b, "metric": metric, **result, "seeds": seeds}
