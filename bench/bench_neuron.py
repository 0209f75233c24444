"""How long does a single-neuron comparison take on a CPU? (issue: "a few seconds at most" for all rules.)

Times ``simulate`` on the thesis's setup — N = 10 000 samples of N(5, 2²), 10 000 full-batch iterations — for
the 4-rule comparison (ip, wd, infomax, bn_inc) together, then each rule alone (per-rule seconds and µs per
iteration). Best of ``--repeats`` runs, so another process's burst does not count.

``--ablations`` also reruns the comparison without two of the simulator's speed choices, as ratios measured
in this same run: each float32 tanh kernel pinned (``IPCORE_TANH``: torch's own ``tanh`` and 2σ(2u) − 1, against
the machine's choice, which the report names), and torch's default thread count instead of one thread.

    python bench/bench_neuron.py                      # ~30 s on 2 CPU cores
    python bench/bench_neuron.py --ablations --json   # + the ablations (~1 min), one JSON object on stdout
    python bench/bench_neuron.py --rules ip,wd,infomax,bn_inc,bn_wd,ip_cov,wd_cov,ip_hard,batchnorm,triesch,none
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ipcore.training.neuron as neuron  # noqa: E402
from ipcore.config import NeuronConfig  # noqa: E402
from ipcore.engine.activations import cpu_tanh_kernel, pinned_tanh_kernel  # noqa: E402


def best_seconds(config: NeuronConfig, repeats: int) -> float:
    """The fastest of ``repeats`` complete simulations (drawing the sample and recording included)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        neuron.simulate(config)
        times.append(time.perf_counter() - started)
    return min(times)


@contextlib.contextmanager
def patched(name: str, value: Callable) -> contextlib.AbstractContextManager:
    """Temporarily replace ``ipcore.training.neuron.<name>`` (for the ablations)."""
    original = getattr(neuron, name)
    setattr(neuron, name, value)
    try:
        yield
    finally:
        setattr(neuron, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="ip,wd,infomax,bn_inc", help="the comparison (default the thesis's 4)")
    parser.add_argument("--n", type=int, default=10_000, help="sample size (default 10 000)")
    parser.add_argument("--iters", type=int, default=10_000, help="iterations per rule (default 10 000)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement; the fastest counts")
    parser.add_argument("--ablations", action="store_true", help="also time without the speed choices")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    base = NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, n=args.n, iters=args.iters, rules=rules)
    neuron.simulate(base.replace(iters=10, n=100))  # warm-up: first-call costs are not the simulator's

    together = best_seconds(base, args.repeats)
    per_rule = {rule: best_seconds(base.replace(rules=[rule]), args.repeats) for rule in rules}
    report = {
        "setup": f"gaussian(5, 2), n={args.n}, iters={args.iters}, best of {args.repeats}",
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads available",
        "rules": rules,
        "seconds": round(together, 3),
        "per_rule_seconds": {rule: round(s, 3) for rule, s in per_rule.items()},
        "per_rule_us_per_iteration": {rule: round(s / args.iters * 1e6, 1) for rule, s in per_rule.items()},
    }
    report["tanh_kernel"] = cpu_tanh_kernel()
    if args.ablations:
        kernel_seconds = {}
        for kernel in ("torch", "logistic"):
            with pinned_tanh_kernel(kernel):
                kernel_seconds[kernel] = best_seconds(base, args.repeats)
        with patched("one_torch_thread", contextlib.nullcontext):
            default_threads = best_seconds(base, args.repeats)
        report["ablations_slowdown"] = {
            "torch.tanh (IPCORE_TANH=torch)": round(kernel_seconds["torch"] / together, 2),
            "2σ(2u)−1 (IPCORE_TANH=logistic)": round(kernel_seconds["logistic"] / together, 2),
            f"{torch.get_num_threads()} torch threads instead of 1": round(default_threads / together, 2),
        }

    if args.json:
        print(json.dumps(report))
        return
    print(f"single neuron, {report['setup']}; {report['machine']}; float32 tanh kernel {report['tanh_kernel']}")
    print(f"{len(rules)} rules together ({', '.join(rules)}): {together:.2f} s")
    for rule in rules:
        us = report["per_rule_us_per_iteration"][rule]
        print(f"  {rule:10s} alone {per_rule[rule]:6.2f} s  ({us:.0f} µs per iteration)")
    for what, ratio in report.get("ablations_slowdown", {}).items():
        print(f"  with {what}: {ratio:.2f}× the time")


if __name__ == "__main__":
    main()
