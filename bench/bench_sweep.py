"""Benchmark: a learning-rate grid as one lockstep model against one job per learning rate, in one run.

The thesis's deep MNIST setting (depth 7, width 50, batch 200, 1 epoch) over a grid of 3 learning rates
(0.003, 0.01, 0.03) × 2 rules (ip, none) × 3 seeds = 18 networks, trained

(a) as one model (``ipcore.training.grid.train_points``: every grid point's rule groups in one ``LockstepMLP``, Adam with
    a per-member learning rate), and
(b) as one job per learning rate (``ipcore.training.loop.train`` of each point's plain config, one after the other, as
    the sweep page did before: each job already batches its rules × seeds),

alternately (a, b, a, b, …), the fastest of each counted, on the same data in memory. Throughput is training
samples summed over the networks. Both compute the same thing; the largest difference of the final training loss
is printed per learning rate: over a whole epoch (300 steps) a deep tanh net amplifies last-ulp differences (here
from Adam's rounding) to ~0.02 nats at lr 0.003 and ~0.2 at 0.03 — as it does between today's lockstep engine and a
single-seed run of the same seed; tests/test_sweep.py checks the equality on short runs.

    python bench/bench_sweep.py                   # CPU, the full 60 000 samples (a few minutes on 2 cores)
    python bench/bench_sweep.py --quick           # the first 12 000 samples, one repeat
    python bench/bench_sweep.py --device cuda --data-root /path/to/datasets
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipcore.config import SweepConfig  # noqa: E402
from ipcore.data import load_dataset  # noqa: E402
from ipcore.training.grid import train_points  # noqa: E402
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.resources import resolve_device, training_threads  # noqa: E402

LRS, RULES, SEEDS = [0.003, 0.01, 0.03], ["ip", "none"], 3


def timed(device: torch.device, work) -> tuple[float, float, object]:
    """Wall-clock and CPU seconds of ``work()`` (CPU time of this process: on a machine that other jobs keep busy
    it measures the work itself, where wall time also counts the waits for a core)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started, cpu = time.perf_counter(), time.process_time()
    out = work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started, time.process_time() - cpu, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--subset", type=int, default=0, help="first N training samples (0 = all 60 000)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="the first 12 000 samples, one repeat")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if args.quick:
        args.subset, args.repeats = args.subset or 12_000, 1
    device = resolve_device(args.device)
    sweep = SweepConfig(
        dataset="mnist",
        rules=RULES,
        lr=LRS,
        depth=7,
        width=50,
        epochs=1,
        seeds=SEEDS,
        batch_size=200,
        subset=args.subset,
        device=str(device),
    )
    data = load_dataset("mnist", args.data_root, args.subset, device)
    points = sweep.points()
    networks = len(points) * len(RULES) * SEEDS
    samples = len(data.train_y) * networks
    load = os.getloadavg()[0]
    print(
        f"device {device}, torch {torch.__version__}, threads {training_threads()} (engine), "
        f"load average {load:.1f}; MNIST {len(data.train_y)} samples, depth 7, width 50, batch 200, 1 epoch; "
        f"grid {len(LRS)} lr × {len(RULES)} rules × {SEEDS} seeds = {networks} networks",
        flush=True,
    )
    train(sweep.point_config(*points[0]).replace(subset=400), data=data)  # warm-up (allocator, kernels)

    best_grid = best_jobs = cpu_grid = cpu_jobs = float("inf")
    grid_losses = jobs_losses = None
    for _ in range(args.repeats):
        seconds, cpu, results = timed(device, lambda: train_points(sweep, points, data=data))
        best_grid, cpu_grid = min(best_grid, seconds), min(cpu_grid, cpu)
        grid_losses = np.array([r.metrics["epoch/train_loss"][-1] for r in results])
        seconds, cpu, results = timed(device, lambda: [train(sweep.point_config(*p), data=data) for p in points])
        best_jobs, cpu_jobs = min(best_jobs, seconds), min(cpu_jobs, cpu)
        jobs_losses = np.array([r.metrics["epoch/train_loss"][-1] for r in results])
    differences = {
        lr: float(np.abs(g - j).max()) for (lr, _), g, j in zip(points, grid_losses, jobs_losses, strict=True)
    }
    ratio = best_jobs / best_grid
    cpu_ratio = cpu_jobs / cpu_grid
    print(f"one model for the grid: {best_grid:7.2f} s  {samples / best_grid:10,.0f} samples/s  (CPU {cpu_grid:.2f} s)")
    print(f"one job per lr:         {best_jobs:7.2f} s  {samples / best_jobs:10,.0f} samples/s  (CPU {cpu_jobs:.2f} s)")
    print(f"grid / jobs: {ratio:.2f}× in wall time, {cpu_ratio:.2f}× in CPU time (target ≥ 1.3× on a CPU)")
    print("largest final-loss difference per lr: " + ", ".join(f"{lr:g}: {d:.1e}" for lr, d in differences.items()))
    out = {
        "device": str(device),
        "samples": samples,
        "grid_seconds": best_grid,
        "jobs_seconds": best_jobs,
        "ratio": ratio,
        "grid_cpu_seconds": cpu_grid,
        "jobs_cpu_seconds": cpu_jobs,
        "cpu_ratio": cpu_ratio,
        "max_final_loss_difference": differences,
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
    }
    print(f"load average at the end {out['load_average_end']:.1f}", flush=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
