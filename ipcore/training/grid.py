"""One lockstep model for many grid points of a sweep (lr × η): the trainer that the local and the Ray backends
of ``ipcore.training.sweep`` share.

Every grid point compares the same rules over the same seeds, so the points together are one ``LockstepMLP``:
the rules repeat once per point (rule group p·R + r runs rule r with point p's η) and each member steps with its
point's learning rate. ``split_point`` gives each point its share of the metrics, shaped like a plain run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ipcore.config import SweepConfig
from ipcore.data import Dataset
from ipcore.results.metrics_log import RunResult
from ipcore.results.summary import summarize
from ipcore.training.loop import MemberGroup, train

Point = tuple[float, dict[str, float]]
"""One grid point: (synaptic learning rate, η of each rule that has one)."""

GROUP_KEYS = ("rules", "etas")
"""Static arrays known to be indexed by rule group, ``[P·R]`` (any other static whose first axis has the group
count is taken as such too); per-member arrays have the member axis ``M = P·R·S``."""


def point_groups(rules: Sequence[str], points: Sequence[Point]) -> list[MemberGroup]:
    """The lockstep model's rule groups for ``points``: point p's rule r is group p·R + r."""
    return [MemberGroup(rule, float(eta.get(rule, 0.0)), float(lr)) for lr, eta in points for rule in rules]


def split_point(metrics: dict[str, np.ndarray], point: int, points: int, groups_per_point: int) -> dict[str, Any]:
    """Point ``point``'s share of a grid run's metrics, shaped like a plain run of that point.

    Table columns ``[rows, M, ...]`` keep their slice of the member axis (axis 1), static per-member arrays
    ``[M, ...]`` theirs of axis 0, and the per-group statics (``GROUP_KEYS``, or any static ``[P·R, ...]``) their
    slice of the groups; any other array (steps, epochs, sizes) is shared by every point.
    """
    groups = points * groups_per_point
    members = len(metrics["members_rule"])
    per_point = members // points
    group_slice = slice(point * groups_per_point, (point + 1) * groups_per_point)
    member_slice = slice(point * per_point, (point + 1) * per_point)
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        value = np.asarray(value)
        if "/" in key and value.ndim >= 2 and value.shape[1] == members:
            out[key] = value[:, member_slice].copy()
        elif "/" not in key and value.ndim >= 1 and value.shape[0] == members and key not in GROUP_KEYS:
            out[key] = value[member_slice].copy()
        elif "/" not in key and value.ndim >= 1 and value.shape[0] == groups:
            out[key] = value[group_slice].copy()
        else:
            out[key] = value.copy()
    return out


def train_points(
    sweep: SweepConfig,
    points: Sequence[Point],
    data: Dataset | None = None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Train ``points`` of ``sweep`` as one lockstep model; one ``RunResult`` per point, in order, each with the
    point's own ``TrainConfig`` and the summary a plain run of it would have (its ``seconds`` is the whole
    model's time)."""
    if not points:
        return []
    first = sweep.point_config(*points[0])
    groups = point_groups(sweep.rules, points)
    grid = train(first, progress=progress, should_stop=should_stop, data=data, groups=groups)
    totals = grid.summary
    if data is None:
        from ipcore.data import load_dataset

        data = load_dataset(first.dataset, None, first.subset)  # cached in memory by the run just done
    results = []
    for index, point in enumerate(points):
        config = sweep.point_config(*point)
        metrics = split_point(grid.metrics, index, len(points), len(sweep.rules))
        summary = summarize(
            config,
            metrics,
            totals["seconds"],
            totals["device"],
            data,
            steps_done=totals["steps"],
            epochs_done=totals["epochs"],
        )
        summary["state"] = grid.state
        summary["dataset"] = totals["dataset"]
        results.append(RunResult(config=config, metrics=metrics, summary=summary, state=grid.state))
    return results
