"""How long does each one-click demo take? Measures what the network lab states beside every demo.

Each demo of ``app.lab_guide.DEMOS`` on each of its datasets present here (MNIST, Fashion-MNIST, the synthetic
clusters) is submitted ``--repeats`` times to a ``JobManager`` as the app's Train button does (a job process of
its own: its start, importing the engine, loading the data and every step count), unwatched; the job's wall time
from start to end is taken. The medians are written to ``app/demo_times.json`` with each demo's config, the
machine's CPU count and load average, so the lab says "about N s" from a measurement and
``tests/test_lab_ux.py`` fails when a demo's setup changes without being measured again.

    python bench/bench_demos.py                 # about 1-2 minutes on 2 CPU cores
    python bench/bench_demos.py --repeats 3 --dry-run --data-root ../shared/datasets

The datasets' folder follows the engine's one rule (``ipcore.locations``), as the CLI's and the app's do:
``--data-root``, else ``$IPCORE_DATA``, else ``~/.cache/ipcore``; a dataset not found there is skipped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import lab_guide  # noqa: E402
from ipcore.data import available_datasets  # noqa: E402
from ipcore.errors import ConfigError  # noqa: E402
from ipcore.jobs.manager import JobManager  # noqa: E402
from ipcore.locations import DATA_ENV, data_root, data_root_source  # noqa: E402


def measure(repeats: int) -> dict[str, object]:
    present = {d["name"].split(":")[0]: d for d in available_datasets()}
    load_before = os.getloadavg()[0]
    times: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as folder:
        manager = JobManager(runs_dir=folder, isolation="process")
        try:
            for demo in lab_guide.DEMOS:
                times[demo.key] = {}
                for dataset in lab_guide.DEMO_DATASETS:
                    if not (present.get(dataset) or {}).get("available"):
                        continue
                    config = lab_guide.demo_config(demo, dataset)
                    seconds = []
                    for _ in range(repeats):
                        status = manager.wait(manager.submit(config), timeout=600)
                        if status["state"] != "done":
                            raise RuntimeError(f"{demo.key} on {dataset}: {status['state']} {status.get('error')}")
                        seconds.append(round(float(status["elapsed_s"]), 2))
                    times[demo.key][dataset] = {
                        "seconds": round(statistics.median(seconds), 1),
                        "runs": seconds,
                        "config": lab_guide.demo_signature(config),
                    }
                    print(f"{demo.key:10s} {dataset:14s} {seconds}", file=sys.stderr)
        finally:
            manager.shutdown()
    return {
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "how": "bench/bench_demos.py: the app's job (its process start, imports, data loading, every step), "
        "unwatched, median of the repeats",
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "demos": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs per demo and dataset (1-5)")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, do not write app/demo_times.json")
    parser.add_argument("--data-root", default=None, help="dataset folder (default $IPCORE_DATA, else ~/.cache/ipcore)")
    args = parser.parse_args()
    if not 1 <= args.repeats <= 5:
        parser.error("--repeats must be 1-5")
    try:
        root = data_root(args.data_root)
    except ConfigError as error:
        parser.error(str(error))
    os.environ[DATA_ENV] = str(root)  # the job processes read it: they get this process's environment
    print(f"datasets from {root} ({data_root_source(args.data_root)})", file=sys.stderr)
    result = measure(args.repeats)
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    print(text)
    if not args.dry_run:
        target = lab_guide.DEMO_TIMES_FILE
        scratch = target.with_suffix(".tmp")
        scratch.write_text(text)
        scratch.replace(target)  # atomic: the app never reads half a file


if __name__ == "__main__":
    main()
