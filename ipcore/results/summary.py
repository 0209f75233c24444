"""A finished training's summary, the CLI's JSON: per rule, means over the healthy seeds and which seeds failed.

Read through ``ipcore.results.reader`` (the same means the gallery and the app show), so the training loop itself
never reads its records back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ipcore.config import TrainConfig
from ipcore.results.reader import RunReader


def summarize(
    config: TrainConfig,
    metrics: dict[str, np.ndarray],
    seconds: float,
    device: object,
    data: Any,
    steps_done: int,
    epochs_done: int,
) -> dict[str, Any]:
    """The CLI's JSON of a training (``device`` and ``data.description`` as it ran): per rule, means over the *healthy* seeds (read through ``ipcore.results.reader``, healthy as
    ``ipcore.results.health`` says: neither diverged nor at chance level at the last epoch; null when none is), and which
    seeds diverged or collapsed."""
    S = config.seeds
    diverged = np.asarray(metrics["diverged_step"])
    reader = RunReader(metrics, config.dataset)
    health = reader.health
    seeds = [config.seed + i for i in range(S)]  # as ``training.loop.member_seeds``
    out_rules = []
    for r, name in enumerate(config.rules):
        members = np.arange(r * S, (r + 1) * S)
        steps = diverged[members]
        ok = members[health.healthy[members]]
        entry: dict[str, Any] = {"rule": name, "eta": float(metrics["etas"][r])}
        entry["final_train_loss"] = reader.mean(name, "final_loss")
        entry["train_accuracy"] = reader.mean(name, "train_acc")
        entry["test_loss"] = reader.mean(name, "test_loss")
        entry["test_accuracy"] = reader.mean(name, "test_acc")
        accuracies = list(reader.seed_values(name, "test_acc").values())
        entry["test_accuracy_std"] = float(np.std(accuracies)) if len(accuracies) > 1 else None
        entry["diverged"] = int((steps >= 0).sum())
        entry["diverged_steps"] = [int(s) for s in steps[steps >= 0]]
        entry["diverged_seeds"] = [seeds[i] for i in range(S) if steps[i] >= 0]
        collapsed = health.collapsed[members]
        entry["collapsed"] = int(collapsed.sum())
        entry["collapsed_seeds"] = [seeds[i] for i in range(S) if collapsed[i]]
        entry["collapse_epochs"] = {
            str(seeds[i]): int(health.collapse_epoch[m]) for i, m in enumerate(members) if health.collapse_epoch[m] >= 0
        }
        entry["recovered_epochs"] = {
            str(seeds[i]): int(health.recovered_epoch[m])
            for i, m in enumerate(members)
            if health.recovered_epoch[m] >= 0
        }
        dead = health.dead_output_units[members]
        entry["dead_output_units"] = [int(d) for d in dead] if (dead >= 0).all() else None
        entry["healthy_seeds"] = int(ok.size)
        entry["seeds_note"] = reader.rule(name).note
        recorded = reader.values("slope") is not None and ok.size
        entry["grad_y_u"] = [reader.mean(name, "slope", layer) for layer in range(config.depth)] if recorded else None
        entry["alpha_nonpositive"] = reader.mean(name, "alpha_nonpositive")
        entry["seconds"] = seconds
        out_rules.append(entry)
    return {
        "config": config.to_dict(),
        "rules": out_rules,
        "dataset": data.description,
        "device": str(device),
        "steps": steps_done,
        "epochs": epochs_done,
        "seconds": seconds,
    }
