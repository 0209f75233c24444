"""ipcore: intrinsic plasticity in single neurons and deep tanh networks — the engine (no UI imports).

The public API (docs/python.md) is exported here, loaded on first use so that ``import ipcore`` stays cheap:
``run_neuron``, ``run_networks``, ``run_sweep``, ``load``, ``runs``, ``gallery_entries``, ``gallery_runs``,
``list_rules`` (``ipcore.api``); ``Run``, ``Sweep``; the configs ``NeuronConfig``, ``TrainConfig``, ``SweepConfig`` and their
``ConfigError``; and rules of your own: ``Rule``, ``register_rule``, ``unregister_rule``, ``load_rule_module``,
``RuleError`` (``ipcore.engine.custom_rules``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "run_neuron": "ipcore.api",
    "run_networks": "ipcore.api",
    "run_sweep": "ipcore.api",
    "load": "ipcore.api",
    "runs": "ipcore.api",
    "gallery_entries": "ipcore.api",
    "gallery_runs": "ipcore.api",
    "list_rules": "ipcore.api",
    "Run": "ipcore.api",
    "Sweep": "ipcore.api",
    "NeuronConfig": "ipcore.config",
    "TrainConfig": "ipcore.config",
    "SweepConfig": "ipcore.config",
    "ConfigError": "ipcore.errors",
    "Rule": "ipcore.engine.rules",
    "register_rule": "ipcore.engine.custom_rules",
    "unregister_rule": "ipcore.engine.custom_rules",
    "load_rule_module": "ipcore.engine.custom_rules",
    "RuleError": "ipcore.engine.custom_rules",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ipcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
