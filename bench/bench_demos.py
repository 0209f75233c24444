"""How long does each of the network lab's demos take? (the lab promises each shows its claim within a minute.)

Runs every demo of ``app/lab_guide.py`` as the lab would — the same config (``demo_command``: the demo's rules,
η, learning rate, epochs for that dataset, seeds, depth and width) — as a whole ``python -m ipcore train``
process, so process start and data loading count, and prints the measured wall time beside the time the lab
shows (``Demo.seconds``) and the ratio of the two. Exits 1 when a demo takes a minute or more.

    IPCORE_DATA=../shared/datasets python bench/bench_demos.py            # every demo on MNIST, ~1 min
    python bench/bench_demos.py --dataset clusters --json                 # no files needed
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import lab_guide  # noqa: E402

LIMIT_S = 60.0
"""What the lab promises: each demo shows its claim within a minute."""


def demo_command(demo: lab_guide.Demo, dataset: str) -> list[str]:
    """The CLI arguments that train ``demo`` on ``dataset`` exactly as the lab's one-click setup does."""
    args = ["train", "--dataset", dataset, "--rules", ",".join(demo.rules), "--lr", str(demo.lr),
            "--epochs", str(lab_guide.demo_epochs(demo, dataset)), "--seeds", str(demo.seeds),
            "--depth", str(demo.depth), "--width", str(demo.width), "--quiet", "--json"]  # fmt: skip
    if demo.eta:
        args += ["--eta", ",".join(f"{rule}={value}" for rule, value in demo.eta.items())]
    return args


def measure(demo: lab_guide.Demo, dataset: str) -> dict[str, object]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ipcore", *demo_command(demo, dataset)], cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{demo.key} on {dataset} failed: {done.stderr.strip()[-500:]}")
    stated = demo.seconds.get(dataset)
    return {
        "demo": demo.key,
        "dataset": dataset,
        "seconds": round(seconds, 1),
        "stated_seconds": stated,
        "measured_over_stated": round(seconds / stated, 2) if stated else None,
        "within_a_minute": seconds < LIMIT_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=lab_guide.DEMO_DATASETS)
    parser.add_argument("--only", default="", help="comma-separated demo keys (default: every demo)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    keys = set(filter(None, args.only.split(",")))
    rows = [measure(demo, args.dataset) for demo in lab_guide.DEMOS if not keys or demo.key in keys]
    if args.json:
        print(json.dumps({"dataset": args.dataset, "cpus": os.cpu_count(), "demos": rows}))
    else:
        for row in rows:
            print(f"{row['demo']:10s} {row['dataset']:14s} {row['seconds']:6.1f} s  (the lab says "
                  f"{row['stated_seconds']} s)  within a minute: {'yes' if row['within_a_minute'] else 'NO'}")  # fmt: skip
    return 0 if all(row["within_a_minute"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
