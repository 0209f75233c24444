"""Fair share of a served lab: what a job costs, what the operator allows, and who may queue how much.

A job's cost is estimated from its config alone, before anything runs (as ``train.estimated_memory`` estimates
its memory), in floating-point operations (FLOPs):

- a network training (``TrainConfig``): members × 6 × parameters × samples seen — the forward pass costs about
  2 FLOPs per weight and sample, the backward pass twice that (Kaplan et al. 2020, "Scaling laws", §2.1) — plus
  ``STEP_CHARGE_FLOPS`` per layer and optimizer step for the fixed cost of each launched operation, which a
  batch of 1 pays as often as a batch of 200 (members = rules × seeds, trained together);
- a sweep (``SweepConfig``): the same with members = grid points × rules × seeds;
- a single-neuron run (``NeuronConfig``): n × iters × rules element updates at ``NEURON_UPDATE_FLOPS`` each
  (an update reads the sample several times: transform, tanh, the rule's statistics; measured about 2.4 s per
  10⁸ updates on the project's CPU, as slow as ~2·10¹⁰ FLOP/s of matrix products).

The operator's limits (``Limits.from_environment``; docs/serving.md):

- ``IPCORE_JOB_MAX_FLOPS``: a job above it is refused at admission, with its estimate and what to lower;
- ``IPCORE_QUICK_JOB_FLOPS``: jobs at most this costly are *quick* (the demos, small explorations): a slot of
  their own (``IPCORE_QUICK_SLOTS``) lets them start beside long jobs, which run at a lower CPU priority
  (``IPCORE_LONG_JOB_NICE``), so a visitor trying a demo never waits behind another's hours-long training;
- ``IPCORE_JOB_MAX_SECONDS``: a job still running after this long is stopped (it keeps what it recorded);
- ``IPCORE_JOBS_PER_VISITOR``: running + queued jobs (sweeps included) one browser session may hold.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from ipcore.errors import ConfigError

STEP_CHARGE_FLOPS = 2e5
"""FLOP-equivalent of the fixed cost of one layer's operations in one optimizer step (~10 µs at 2·10¹⁰ FLOP/s)."""
NEURON_UPDATE_FLOPS = 500.0
"""FLOP-equivalent of one single-neuron element update (one sample, one rule, one iteration)."""

DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (60_000, 784, 10),
    "fashion-mnist": (60_000, 784, 10),
    "cifar10": (50_000, 3072, 10),
    "spirals": (4_000, 2, 2),
}
"""(training samples, inputs, classes) of the built-in datasets; ``clusters[:D]`` is (8000, D, 10)."""
FOLDER_SHAPE = (50_000, 3072, 10)
"""What an image folder is estimated as before it is read (CIFAR-10's size): its real size is known only once
loaded, and admission must not read a folder of images for every page draw."""


def dataset_shape(dataset: str) -> tuple[int, int, int]:
    """(training samples, inputs, classes) of ``dataset`` without loading it."""
    base, _, argument = dataset.partition(":")
    if base == "clusters":
        from ipcore.data import CLUSTERS_DEFAULT_DIM

        return 8_000, int(argument) if argument.isdigit() else CLUSTERS_DEFAULT_DIM, 10
    return DATASET_SHAPES.get(base, FOLDER_SHAPE)


def network_flops(
    dataset: str, depth: int, width: int, epochs: int, batch_size: int, subset: int, members: int
) -> float:
    """FLOPs of training ``members`` MLPs of ``depth`` × ``width`` on ``dataset`` (see the module docstring)."""
    samples, inputs, classes = dataset_shape(dataset)
    if subset:
        samples = min(samples, subset)
    sizes = [inputs] + [width] * depth + [classes]
    parameters = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    steps = epochs * math.ceil(samples / max(1, batch_size))
    return 6.0 * parameters * samples * epochs * members + STEP_CHARGE_FLOPS * (depth + 1) * steps


def estimated_flops(config: Any) -> float:
    """The estimated cost of running ``config`` (a Neuron-, Train- or SweepConfig), in FLOPs."""
    kind = getattr(config, "kind", "")
    if kind == "neuron":
        return NEURON_UPDATE_FLOPS * config.n * config.iters * len(config.rules)
    if kind == "train":
        members = len(config.rules) * config.seeds
    elif kind == "sweep":
        members = len(config.points()) * len(config.rules) * config.seeds
    else:
        raise TypeError(f"no cost estimate for a {type(config).__name__}")
    return network_flops(
        config.dataset, config.depth, config.width, config.epochs, config.batch_size, config.subset, members
    )


def _env_number(name: str, default: float, low: float, whole: bool = False) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value >= low and math.isfinite(value)) or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(name, f"must be {kind} ≥ {low:g} (got {text!r})")
    return int(value) if whole else value


@dataclass(frozen=True)
class Limits:
    """What one job and one visitor may take (see the module docstring). ``None`` fields: no limit
    (``long_job_nice`` None: long jobs keep ``IPCORE_JOB_NICE`` like the others)."""

    max_flops: float | None = 1e15
    quick_flops: float = 2e12
    quick_slots: int = 1
    max_seconds: float | None = 6 * 3600.0
    per_visitor: int | None = 3
    long_job_nice: int | None = 19

    @classmethod
    def from_environment(cls) -> Limits:
        """The operator's limits from ``IPCORE_*`` variables (0 for a maximum: no limit); ConfigError naming the
        variable for a bad value."""
        default = cls()
        max_flops = _env_number("IPCORE_JOB_MAX_FLOPS", default.max_flops or 0, 0)
        max_seconds = _env_number("IPCORE_JOB_MAX_SECONDS", default.max_seconds or 0, 0)
        per_visitor = _env_number("IPCORE_JOBS_PER_VISITOR", default.per_visitor or 0, 0, whole=True)
        nice = _env_number("IPCORE_LONG_JOB_NICE", 19, 0, whole=True)
        if nice > 19:
            raise ConfigError("IPCORE_LONG_JOB_NICE", f"must be a whole number from 0 to 19 (got {nice})")
        return cls(
            max_flops=max_flops or None,
            quick_flops=_env_number("IPCORE_QUICK_JOB_FLOPS", default.quick_flops, 0),
            quick_slots=int(_env_number("IPCORE_QUICK_SLOTS", default.quick_slots, 0, whole=True)),
            max_seconds=max_seconds or None,
            per_visitor=int(per_visitor) or None,
            long_job_nice=int(nice),
        )

    def check_cost(self, config: Any) -> float:
        """The config's estimated FLOPs, or a ConfigError saying it is above the budget and what to lower."""
        flops = estimated_flops(config)
        if self.max_flops is not None and flops > self.max_flops:
            lever = "iters" if config.kind == "neuron" else "epochs"
            what = (
                "the sample size n, the iterations or the rules"
                if config.kind == "neuron"
                else "the epochs, width, depth, seeds, rules"
                + (" or grid points" if config.kind == "sweep" else "")
                + " (or raise a batch size of a few samples)"
            )
            raise ConfigError(
                lever,
                f"this job would cost about {flops:.1e} floating-point operations; this server runs at most "
                f"{self.max_flops:.1e} per job ({flops / self.max_flops:.2g}× that): lower {what}",
            )
        return flops

    def is_quick(self, flops: float) -> bool:
        return flops <= self.quick_flops
