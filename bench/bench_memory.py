"""Benchmark: the measured peak memory of a training run against ``ipcore.training.resources.estimated_memory``.

Each configuration runs in its own subprocess on the synthetic ``clusters:D`` data (no files needed): the data
is loaded onto the device first, then the peak is reset and ``train`` runs a few steps and the evaluation pass
(the peak is reached at the first step: weights, gradients, Adam moments, activations, the layer statistics).
The peak counted is what the run adds beyond its dataset, as the estimate counts it:

- CPU: peak resident memory (``VmHWM`` in ``/proc/self/status``, reset by writing 5 to ``/proc/self/clear_refs``)
  minus the resident memory just before the run;
- CUDA: ``torch.cuda.max_memory_reserved`` minus the memory reserved before the run (the caching allocator's
  blocks, which is what other processes cannot use).

    python bench/bench_memory.py                  # CPU, a few configurations (about a minute on 2 cores)
    python bench/bench_memory.py --device cuda

It prints one JSON line per configuration: the estimate, the peak and their ratio (peak / estimate must stay
below 1; ``estimated_memory``'s comment records the numbers measured here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, input dims D of clusters:D, rules, seeds, depth, width, batch size)
CONFIGS = [
    ("mnist-like deep", 784, 2, 10, 7, 50, 200),
    ("cifar-like wide", 3072, 2, 8, 4, 512, 200),
    ("very wide", 4096, 1, 4, 2, 2048, 200),
    ("deep narrow many", 256, 3, 16, 16, 128, 200),
    ("big batch", 1024, 2, 8, 3, 256, 2000),
    ("widest, deep, 8 networks", 4096, 2, 4, 7, 2048, 200),
    ("widest, one layer, 16 seeds", 4096, 1, 16, 1, 2048, 200),
    ("widest, one layer, 2 rules", 4096, 2, 8, 1, 2048, 200),
]


def measure_one(spec: list, device: str) -> dict:
    """In this (fresh) process: the estimate and the measured peak of one configuration."""
    import torch

    sys.path.insert(0, str(ROOT))
    from ipcore.config import TrainConfig
    from ipcore.data import load_dataset
    from ipcore.training.loop import train
    from ipcore.training.resources import estimated_memory

    label, dim, rules, seeds, depth, width, batch = spec
    names = ["ip", "none", "wd"][:rules]
    config = TrainConfig(
        dataset=f"clusters:{dim}", rules=names, seeds=seeds, depth=depth, width=width, batch_size=batch,
        subset=3 * batch, epochs=1, device=device,
    )  # fmt: skip
    data = load_dataset(config.dataset, subset=config.subset, device=device)
    estimate = estimated_memory(config, data)
    if device == "cpu":
        import gc

        gc.collect()

        def status(key: str) -> int:
            with open("/proc/self/status") as handle:
                return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(key))

        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak resident size (VmHWM) to the current one
        before = status("VmRSS:")
        train(config, data=data)
        peak = status("VmHWM:") - before
    else:
        torch.cuda.synchronize()
        before = torch.cuda.memory_reserved()
        torch.cuda.reset_peak_memory_stats()
        train(config, data=data)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_reserved() - before
    return {"config": label, "members": rules * seeds, "depth": depth, "width": width, "input_dim": dim,
            "batch": batch, "estimate_MiB": round(estimate / 2**20, 1), "peak_MiB": round(peak / 2**20, 1),
            "peak/estimate": round(peak / estimate, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # internal: measure one spec here
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(json.loads(args.one), args.device)))
        return
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    for spec in CONFIGS:
        command = [sys.executable, __file__, "--device", args.device, "--one", json.dumps(spec)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
        print(done.stdout.strip() or json.dumps({"config": spec[0], "error": done.stderr.strip()[-500:]}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
