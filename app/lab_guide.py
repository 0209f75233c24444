"""The network lab's guidance: one-click demos that show a thesis claim within a minute on a 2-core CPU, a
notice when a setup is too short for an intrinsic rule to act, and how to get a missing dataset (written for
the app: an environment variable and a folder, not command-line flags).

No streamlit here: the page draws what these functions return.

Whether a setup is long enough for a rule to act is the engine's rule (``ipcore.specs.reach``: η × steps, or the
share of the way a weighted decay closes), which the command line warns with too; this module re-exports it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipcore.config import TrainConfig
from ipcore.data import DATASETS
from ipcore.specs.reach import rule_reach, too_short, train_steps  # noqa: F401  (the engine's rule, the CLI's too)
from ipcore.specs.rules import RULE_SPECS, default_eta


@dataclass(frozen=True)
class Demo:
    """A one-click setup that shows one claim; ``look_for`` is the one line that says what to see."""

    key: str
    title: str
    look_for: str
    rules: tuple[str, ...]
    eta: Mapping[str, float] = field(default_factory=dict)
    lr: float = 0.01
    epochs: int = 1
    seeds: int = 2
    depth: int = 7
    width: int = 50


# Times: measured by bench/bench_demos.py (the app's job, unwatched) into DEMO_TIMES_FILE; see docs/lab-demos.md.
DEMOS = (
    Demo("wd-slopes", "WD keeps the slopes large (thesis Fig. 4.4)",
         "the ∂y/∂u lines: wd stays near 0.65 in every layer while none falls (on MNIST the table's mean ∂y/∂u "
         "ends ≈ 0.63 against ≈ 0.2)",
         ("wd", "none")),
    Demo("ip-eta", "IP acts at a larger η (η = 0.01)",
         "the ∂y/∂u lines and α over training: ip's α grows and its slopes rise above none's within the epoch "
         "(on MNIST the table's mean ∂y/∂u ends ≈ 0.6 against ≈ 0.2, and ip's loss is lower)",
         ("ip", "none"), eta={"ip": 0.01}),
    Demo("large-lr", "A large learning rate: WD trains, the plain net stalls (thesis Fig. 4.2)",
         "the loss and the accuracy at lr 0.03: on MNIST wd ends near 0.9 nats and ≈ 89 %, none near 1.7–1.8 nats "
         "and 33–42 %",
         ("wd", "none"), lr=0.03),
)  # fmt: skip
DEMO_DATASETS = ("mnist", "fashion-mnist", "clusters")  # the first one present is used
DEMO_TIMES_FILE = Path(__file__).with_name("demo_times.json")
"""Each demo's measured job time per dataset, with the config measured (written by bench/bench_demos.py)."""


def demo_dataset(available: Mapping[str, Mapping[str, Any]]) -> str:
    """The dataset the demos use here: MNIST when present, else Fashion-MNIST, else the synthetic clusters."""
    for name in DEMO_DATASETS:
        info = available.get(name)
        if info is not None and info.get("available"):
            return name
    return "clusters"


DEMO_STEPS = 300  # the demos' length in optimizer steps: one MNIST epoch at batch 200


def demo_epochs(demo: Demo, dataset: str) -> int:
    """The demo's epochs on ``dataset``: as many as give ``DEMO_STEPS`` steps (a small synthetic set needs more)."""
    steps = train_steps(dataset, 0, 200, 1) or DEMO_STEPS
    return max(demo.epochs, math.ceil(demo.epochs * DEMO_STEPS / steps))


def demo_config(demo: Demo, dataset: str) -> TrainConfig:
    """The TrainConfig the lab builds from ``demo_values`` (every other field at its default)."""
    values = {k.split(".", 1)[1]: v for k, v in demo_values(demo, dataset).items() if ".eta." not in k}
    eta = {r: float(demo.eta[r]) for r in demo.rules if r in demo.eta}
    return TrainConfig.from_dict({**values, "eta": eta})


def demo_signature(config: TrainConfig) -> dict[str, Any]:
    """What a demo's measured time depends on: the fields its config sets away from their defaults, without where
    it ran (data folder, device) — so a field added later at its default keeps the measurement."""
    defaults = TrainConfig().to_dict()
    return {k: v for k, v in config.to_dict().items() if k not in ("data_root", "device") and v != defaults.get(k)}


@functools.cache
def demo_times() -> dict[str, Any]:
    """The measurements of DEMO_TIMES_FILE (empty when it is missing or unreadable: the lab then states none)."""
    try:
        return json.loads(DEMO_TIMES_FILE.read_text())
    except (OSError, ValueError):
        return {}


def demo_seconds(demo: Demo, dataset: str) -> float | None:
    """The demo's measured job time on ``dataset``, or None when it was not measured for this very setup."""
    entry = (demo_times().get("demos") or {}).get(demo.key, {}).get(dataset)
    if not entry or entry.get("config") != demo_signature(demo_config(demo, dataset)):
        return None
    return float(entry["seconds"])


def demo_values(demo: Demo, dataset: str, prefix: str = "net") -> dict[str, Any]:
    """The lab's widget values for ``demo`` on ``dataset`` (every η slider back to its default except the demo's)."""
    defaults = {k: v for k, v in dataclasses.asdict(TrainConfig()).items() if not isinstance(v, (list, dict))}
    values: dict[str, Any] = {f"{prefix}.{k}": v for k, v in defaults.items()}  # every other field at its default
    values.update({
        f"{prefix}.dataset": dataset, f"{prefix}.rules": list(demo.rules), f"{prefix}.depth": demo.depth,
        f"{prefix}.width": demo.width, f"{prefix}.lr": demo.lr, f"{prefix}.epochs": demo_epochs(demo, dataset),
        f"{prefix}.seeds": demo.seeds, f"{prefix}.subset": 0, f"{prefix}.batch_size": 200,
    })  # fmt: skip
    for rule in RULE_SPECS:
        eta = default_eta(rule, "network")
        if eta is not None:
            values[f"{prefix}.eta.{rule}"] = float(demo.eta.get(rule, eta))
    return values


def demo_matches(demo: Demo, config: Any) -> bool:
    """Whether ``config`` (a TrainConfig) is still the demo's setup, so its "what to look for" line applies."""
    etas = {r: float(config.eta.get(r, default_eta(r, "network") or 0.0)) for r in config.rules}
    wanted = {r: float(demo.eta.get(r, default_eta(r, "network") or 0.0)) for r in demo.rules}
    return (
        tuple(config.rules) == demo.rules and etas == wanted and config.lr == demo.lr
        and config.epochs == demo_epochs(demo, config.dataset) and config.depth == demo.depth and config.width == demo.width and config.subset == 0
    )  # fmt: skip


def how_to_get(name: str) -> str:
    """How to make ``name`` available to the app (the dataset's own ``how``, with ``<data>`` for the data root),
    and the ``IPCORE_DATA`` variable that names that root."""
    spec = DATASETS.get(name)
    where = spec.how_to_get("<data>") if spec is not None else "put it in a folder `<data>/`"
    return (
        f"To use it, {where}, then start the app with the environment variable `IPCORE_DATA` set to that `<data>` "
        f"folder (`IPCORE_DATA=/path/to/data streamlit run app/main.py`). This app reads "
        + (
            "the data folder that `IPCORE_DATA` named when it started."
            if os.environ.get("IPCORE_DATA")
            else "the default data folder, `~/.cache/ipcore` in the server's home, since `IPCORE_DATA` was not set."
        )
    )  # the folder is named, never printed: its path is the server's business
