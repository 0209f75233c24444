"""Run any experiment config: the one entry point that jobs, the CLI and the gallery share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ipcore.config import Config, ConfigError
from ipcore.results.metrics_log import MetricsLog


def run_config(
    config: Config,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: MetricsLog | None = None,
) -> Any:
    """Run ``config`` to the end (or until ``should_stop()``); returns the kind's result object, which has
    ``config``, ``metrics`` (dict of numpy arrays), ``summary`` (JSON-ready dict) and ``state``."""
    if config.kind == "neuron":
        from ipcore.training.neuron import simulate

        return simulate(config, progress=progress, should_stop=should_stop, log=log)
    if config.kind == "train":
        from ipcore.training.loop import train

        return train(config, progress=progress, should_stop=should_stop, log=log)
    raise ConfigError("kind", f"no runner for kind {config.kind!r}")
