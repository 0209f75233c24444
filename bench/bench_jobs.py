"""What does watching a job cost it? Snapshot cost on a running job, and the size of stored records.

For a training job and a single-neuron job, run the same config through a ``JobManager`` with no reader, with a
reader thread calling ``manager.snapshot()`` at 10 Hz and at 50 Hz (what the app uses: cached per log version,
stacking only new rows), and with a 50 Hz reader that re-stacks every row each time (the base
``MetricsLog.snapshot``: what a naive reader would cost). Reports the job's throughput relative to the
no-reader run (1.00 = no slowdown; median over ``--repeats`` interleaved repeats) and how long one snapshot
took in the reader.

Then: one snapshot of a log as large as a 20-epoch, 10-seed, depth-7 MNIST run keeps (2000 loss rows, 400 layer
rows, 40 histogram rows; random values), fully re-stacked and incrementally (``MetricsLog.snapshot``), and, with ``--record-size``, the stored size of a real
training run with exactly those row counts (MNIST from ``../shared/datasets`` if present, else the synthetic
clusters; 6000 steps, 20 members, depth 7 — the shape of the 20-epoch 10-seed MNIST run at a smaller batch).

    python bench/bench_jobs.py                   # ~2–4 minutes on 2 CPU cores
    python bench/bench_jobs.py --record-size     # + the record-size run (a few minutes more)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ipcore.config import Config, NeuronConfig, TrainConfig  # noqa: E402
from ipcore.jobs.manager import JobManager  # noqa: E402
from ipcore.results.metrics_log import MetricsLog  # noqa: E402
from ipcore.results.records import save_run  # noqa: E402
from ipcore.training.runner import run_config  # noqa: E402

DATA_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
MODES = {"none": (0.0, True), "10 Hz": (10.0, True), "50 Hz": (50.0, True), "50 Hz full re-stack": (50.0, False)}


def workloads(device: str) -> dict[str, Config]:
    return {
        "train (clusters, depth 7, width 50, 2 rules × 2 seeds, 1200 steps)": TrainConfig(
            dataset="clusters", depth=7, width=50, seeds=2, subset=2000, batch_size=100, epochs=60, device=device
        ),
        "neuron (n 2000, 4 rules, 4000 rows)": NeuronConfig(n=2000, iters=20_000, record_every=5),
    }


def run_once(config: Config, rate: float, cached: bool) -> dict[str, float]:
    """One job, optionally watched by a reader thread at ``rate`` Hz; job seconds and per-snapshot times."""
    manager = JobManager(max_concurrent=1)
    job = manager.submit(config)
    times: list[float] = []
    stop = threading.Event()

    def read() -> None:
        period = 1.0 / rate
        log = manager._get(job).log  # for the full re-stack: the base class's snapshot on the same log
        while not stop.is_set():
            t0 = time.perf_counter()
            if cached:
                manager.snapshot(job)
            else:
                restack(log)
            elapsed = time.perf_counter() - t0
            times.append(elapsed)
            stop.wait(max(0.0, period - elapsed))

    reader = threading.Thread(target=read) if rate > 0 else None
    if reader:
        reader.start()
    status = manager.wait(job)
    stop.set()
    if reader:
        reader.join()
    manager.shutdown()
    assert status["state"] == "done", status["error"]
    return {
        "job_s": status["elapsed_s"],
        "snapshots": len(times),
        "snapshot_ms_median": 1e3 * statistics.median(times) if times else 0.0,
        "snapshot_ms_max": 1e3 * max(times) if times else 0.0,
    }


def snapshot_cost(repeats: int, device: str) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for label, config in workloads(device).items():
        run_config(config)  # warm-up (imports, allocator, data generation)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(repeats):
            for mode, (rate, cached) in MODES.items():  # interleaved: load changes hit every mode alike
                runs[mode].append(run_once(config, rate, cached))
        base = [r["job_s"] for r in runs["none"]]
        results[label] = {}
        for mode, rs in runs.items():
            ratios = [b / r["job_s"] for b, r in zip(base, rs, strict=True)]
            results[label][mode] = {
                "job_s_median": statistics.median(r["job_s"] for r in rs),
                "job_s_min": min(r["job_s"] for r in rs),
                "job_s_max": max(r["job_s"] for r in rs),
                "throughput_ratio_median": statistics.median(ratios),  # of the interleaved pairs
                "throughput_ratio_of_fastest": min(base) / min(r["job_s"] for r in rs),  # least disturbed runs
                "snapshots_per_run": statistics.median(r["snapshots"] for r in rs),
                "snapshot_ms_median": statistics.median(r["snapshot_ms_median"] for r in rs),
                "snapshot_ms_max": max(r["snapshot_ms_max"] for r in rs),
            }
            stats = results[label][mode]  # share of the job's time the reader held the GIL taking snapshots
            busy = stats["snapshots_per_run"] * stats["snapshot_ms_median"] / 1e3 / stats["job_s_median"]
            stats["reader_busy_pct"] = round(100 * busy, 3)
            print(f"{label:66s} {mode:19s} {json.dumps(results[label][mode])}", file=sys.stderr)
    return results


def restack(log: MetricsLog) -> dict[str, np.ndarray]:
    """The naive snapshot the engine avoids: stack every row of every table on each read."""
    with log._lock:
        tables = {t: {c: list(v) for c, v in cols.items()} for t, cols in log._tables.items()}
    return {f"{t}/{c}": np.stack(v) for t, cols in tables.items() for c, v in cols.items() if v}


def big_log_snapshot_ms(members: int = 20, layers: int = 7, repeats: int = 20) -> dict[str, float]:
    """One snapshot of a log shaped like a 20-epoch 10-seed depth-7 MNIST run's (median ms): the base
    ``MetricsLog`` re-stacking every row, and ``MetricsLog.snapshot`` (incremental) after one new row per table."""
    rng = np.random.default_rng(0)

    def rows(log: MetricsLog, start: int, stop: int) -> None:
        for step in range(start, stop):
            log.append("batch", step=step, epoch=step / 300, loss=rng.random(members, dtype=np.float32))
            if step % 5 == 0:
                stats = ("grad_y_u", "alpha_mean", "alpha_std", "beta_mean", "beta_std", "entropy")
                row = {k: rng.random((members, layers), dtype=np.float32) for k in stats}
                log.append("layer", step=step, alpha_nonpositive=np.zeros((members, layers), np.int64), **row)
            if step % 50 == 0:
                log.append("hist", step=step, hist=rng.random((members, layers, 50), dtype=np.float32))
            if step % 100 == 0:
                cols = ("train_loss", "train_acc", "test_loss", "test_acc")
                log.append("epoch", epoch=step // 100, **{k: rng.random(members, dtype=np.float32) for k in cols})

    full, stacking = MetricsLog(), MetricsLog()
    rows(full, 0, 2000)
    rows(stacking, 0, 2000)
    stacking.snapshot()
    full_times, stacking_times = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        restack(full)
        full_times.append(time.perf_counter() - t0)
        rows(stacking, 2000 + 100 * i, 2001 + 100 * i)  # one new row in every table
        t0 = time.perf_counter()
        stacking.snapshot()
        stacking_times.append(time.perf_counter() - t0)
    return {
        "full_restack_ms": round(1e3 * statistics.median(full_times), 3),
        "stacking_log_ms": round(1e3 * statistics.median(stacking_times), 3),
    }


def record_size(device: str) -> dict[str, object]:
    """Store a real run with the row counts of the 20-epoch 10-seed depth-7 MNIST run; its size on disk."""
    mnist = (DATA_ROOT / "MNIST" / "raw").is_dir()
    config = TrainConfig(
        dataset="mnist" if mnist else "clusters",
        data_root=str(DATA_ROOT) if mnist else "",
        seeds=10,
        subset=6000,
        batch_size=20,  # 300 steps per epoch, 6000 steps: the full MNIST run's step count at batch 200
        epochs=20,
        device=device,
    )
    started = time.perf_counter()
    result = run_config(config)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        run_id = save_run(folder, result)
        files = {p.name: p.stat().st_size for p in (Path(folder) / run_id).iterdir()}
    shapes = {k: list(v.shape) for k, v in result.metrics.items() if k.startswith(("batch/loss", "layer/e", "hist/h"))}
    return {"dataset": config.dataset, "seconds": round(seconds, 1), "files": files, "shapes": shapes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--record-size", action="store_true", help="also measure the size of a full-shape record")
    args = parser.parse_args()
    report: dict[str, object] = {"snapshot_cost": snapshot_cost(args.repeats, args.device)}
    report["big_log_snapshot"] = big_log_snapshot_ms()
    if args.record_size:
        report["record_size"] = record_size(args.device)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
