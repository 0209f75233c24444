"""Benchmark: the lockstep engine's speed, in one run on one machine, as three ratios (issue 14).

The thesis's deep MNIST setting — depth 7, width 50, batch 200, Adam lr 0.01, rule ip, 10 seeds, 1 epoch on the
real MNIST (10 seeds × 60 000 = 600 000 training samples) — measured as

1. **efficiency**: the engine's useful arithmetic rate, FLOPs of the forward and backward pass per training sample
   (2·fan_in·fan_out per layer forward, the same again for the weight gradients, and again for the gradients of
   every layer's input except the first) × training samples per second of ``train`` with 1 torch thread
   (recording and the end-of-epoch evaluation included, their FLOPs not counted), over the float32 matmul peak
   of one thread measured by this script (a 1024² product, best of several, before and after the engine runs);
2. **IP overhead**: the engine's time with rule ``ip`` over its time with rule ``none`` − 1 (best of
   ``--repeats`` interleaved runs);
3. **whole process**: ``python -m ipcore train … --json`` as a process of its own (imports, loading MNIST, the
   first step, everything; the thread count its default) against a per-seed loop in the style of the thesis's
   published code, also as a process of its own with one torch thread (its fastest setting here;
   ``REFERENCE_THREADS`` in the environment changes it): torchvision MNIST with ``ToTensor``
   through a ``DataLoader`` with 2 workers, one ``nn.Module`` per seed, the IP update after each forward pass (α,
   β moved by their own Adam with lr η, as the thesis's IP does), seeds one after the other. The loop's own
   time (without its start-up) gives the steady-state ratio too.

It also prints **where the time goes**: one step of the setting with 1 thread, its batched products alone (the
step's shapes and calls) and the same step at batch 4 (what a step costs whatever its batch: operator dispatch,
Adam, the rules, the recorded rows), and the efficiency that products and that fixed part alone would allow;
and the **time split** of one run by part of the loop (pass, recorded rows, Adam, rule update, evaluation, the
rest), with one thread and with two: what the second core speeds up and what it does not.

Times are wall-clock; CPU-time figures (this process's threads and its children) are printed beside them,
because on a shared machine other processes' load slows every wall-clock figure.

    python bench/bench_train.py                      # CPU, the full setting (a few minutes on 2 cores)
    python bench/bench_train.py --quick              # 3 seeds, first 12 000 samples (under a minute)
    python bench/bench_train.py --device cuda --data-root /path/to/datasets
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

# OpenMP's wait policy is left as libgomp sets it (spinning briefly between parallel operations) for both the
# engine and the reference: the engine watches its own share of the CPU and drops threads that stop getting a
# core (ipcore.training.resources.ThreadShare). Set OMP_WAIT_POLICY yourself to measure another policy.
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipcore.config import TrainConfig  # noqa: E402
from ipcore.data import load_dataset  # noqa: E402
from ipcore.engine.activations import cpu_tanh_kernel  # noqa: E402
from ipcore.engine.cuda_graphs import CUDA_GRAPHS_ENV  # noqa: E402
from ipcore.specs.rules import default_eta  # noqa: E402
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.resources import resolve_device, usable_cpus  # noqa: E402

DEPTH, WIDTH, BATCH, LR = 7, 50, 200, 0.01


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children (the DataLoader workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Timed:
    """Wall-clock and CPU seconds of a block (CUDA work included: it synchronises at both ends)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self) -> Timed:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu


# --- (b) the per-seed reference loop ------------------------------------------------------------------


class IPTanh(nn.Module):
    """tanh with intrinsic plasticity: y = tanh((x − β)/α); after each training forward pass
    α ← α − η·Adam(α − 2E[xy]), β ← β + η·Adam(E[y]) (thesis §3.2.1), α and β outside backprop."""

    def __init__(self, units: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(units), requires_grad=False)
        self.beta = nn.Parameter(torch.zeros(units), requires_grad=False)
        self.saved: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh((x - self.beta) / self.alpha)
        if self.training:
            self.saved = (x.detach(), y.detach())
        return y

    def set_ip_gradients(self) -> None:
        """Adam minimises, so 'gradients' α − 2E[xy] and −E[y] give exactly the IP steps above."""
        x, y = self.saved
        self.alpha.grad = self.alpha - 2 * (x * y).mean(0)
        self.beta.grad = -y.mean(0)


class ReferenceNet(nn.Module):
    def __init__(self, rule: str):
        super().__init__()
        sizes = [784] + [WIDTH] * DEPTH
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.activations = nn.ModuleList(IPTanh(WIDTH) if rule == "ip" else nn.Tanh() for _ in range(DEPTH))
        self.out = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear, activation in zip(self.hidden, self.activations, strict=True):
            x = activation(linear(x))
        return F.relu(self.out(x))


def reference_loop(root: str, seeds: int, subset: int, device: torch.device, rule: str = "ip") -> Timed:
    """Train ``seeds`` networks one after the other, one epoch each; returns the timing."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    if subset:
        dataset = Subset(dataset, range(subset))
    eta = default_eta("ip")
    with Timed(device) as timed:
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = ReferenceNet(rule).to(device)
            weights = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=LR)
            ip_layers = [m for m in net.activations if isinstance(m, IPTanh)]
            ip_params = [p for m in ip_layers for p in (m.alpha, m.beta)]
            intrinsic = torch.optim.Adam(ip_params, lr=eta) if ip_params else None
            loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2)
            for images, labels in loader:
                images, labels = images.to(device).view(len(images), -1), labels.to(device)
                loss = F.cross_entropy(net(images), labels)
                weights.zero_grad()
                loss.backward()
                if intrinsic is not None:
                    for layer in ip_layers:
                        layer.set_ip_gradients()
                    intrinsic.step()
                weights.step()
    return timed


# --- (a) the engine -----------------------------------------------------------------------------------


def setting(root: str, seeds: int, device: torch.device, rule: str = "ip", **changes: Any) -> TrainConfig:
    """The benchmark's setting (deep MNIST, 1 epoch) with ``seeds`` seeds of ``rule``, and ``changes``."""
    fields = dict(dataset="mnist", data_root=root, rules=[rule], depth=DEPTH, width=WIDTH, lr=LR, epochs=1,
                  seeds=seeds, batch_size=BATCH, device=str(device))  # fmt: skip
    return TrainConfig(**{**fields, **changes})


def engine_run(data, root: str, rule: str, seeds: int, subset: int, device: torch.device) -> Timed:
    config = setting(root, seeds, device, rule, subset=subset)
    with Timed(device) as timed:
        result = train(config, data=data)
    assert result.state == "done"
    return timed


def step_seconds(data, root: str, seeds: int, batch: int, steps: int, device: torch.device) -> float:
    """Seconds per training step of rule ``ip`` (``seeds`` seeds, batch ``batch``), from the steps' own clock:
    the time from the 10th step to the last, over the steps between, so start-up and the end-of-epoch
    evaluation are left out while recording, the rules and Adam count at their usual rates."""
    # log_every, hist_every: the rows' rates in the full setting's epoch
    config = setting(root, seeds, device, batch_size=batch, subset=batch * steps, log_every=2, hist_every=10)
    clock: list[float] = []

    def tick(_: float) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        clock.append(time.perf_counter())

    train(config, data=data, progress=tick)
    steps_clock = clock[:steps]  # one tick per step; the last tick comes after the end-of-epoch evaluation
    return (steps_clock[-1] - steps_clock[9]) / (len(steps_clock) - 10)


PARTS = (
    ("pass", "ipcore.engine.cuda_graphs", "StepRunner", "__call__"),
    ("records", "ipcore.training.recorder", None, "layer_statistics"),
    ("records", "ipcore.engine.model", "LockstepMLP", "stack_layers"),
    ("Adam", "ipcore.engine.optim", "FusedAdam", "step"),
    ("rules", "ipcore.engine.model", "LockstepMLP", "update_rules_from_moments"),
    ("evaluation", "ipcore.training.loop", None, "evaluate"),
)
"""The parts of ``train``'s loop that ``time_split`` times: (part, module, class or None, function)."""
LAUNCH_PARTS = PARTS + (("update", "ipcore.engine.cuda_graphs", "UpdateRunner", "__call__"),)
"""The parts ``launches_per_step`` counts: the update after the pass holds the rules and Adam (a launch counts
for the innermost part it is in), and what is left of it is the freezing and the α ≤ 0 count."""


@contextlib.contextmanager
def wrapped_parts(
    around: Callable[[str, Callable[..., Any], tuple, dict], Any], parts: tuple = PARTS
) -> Iterator[None]:
    """Within the block, every function of ``parts`` runs as ``around(part, function, args, kwargs)``; the
    originals are put back on leaving."""
    restore = []
    for part, module_name, class_name, name in parts:
        owner = importlib.import_module(module_name)
        owner = getattr(owner, class_name) if class_name else owner
        raw = inspect.getattr_static(owner, name)
        function = raw.__func__ if isinstance(raw, staticmethod) else raw

        def wrapper(*args, _function=function, _part=part, **kwargs):
            return around(_part, _function, args, kwargs)

        setattr(owner, name, staticmethod(wrapper) if isinstance(raw, staticmethod) else wrapper)
        restore.append((owner, name, raw))
    try:
        yield
    finally:
        for owner, name, raw in reversed(restore):
            setattr(owner, name, raw)


@contextlib.contextmanager
def timed_parts(device: torch.device) -> Iterator[dict[str, float]]:
    """Within the block, the seconds spent in each part of ``PARTS`` (summed by part); on a GPU each call ends
    with a synchronisation, so that its kernels count where they were launched."""
    spent: dict[str, float] = {part: 0.0 for part, *_ in PARTS}

    def timed(part: str, function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        started = time.perf_counter()
        result = function(*args, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        spent[part] += time.perf_counter() - started
        return result

    with wrapped_parts(timed):
        yield spent


def launches_per_step(data, root: str, seeds: int, device: torch.device, steps: int = 20) -> dict[str, float]:
    """Kernel launches per training step of the setting on a GPU's code path, by part (``LAUNCH_PARTS``): every
    aten operation that is not a view, counted (a dispatch mode) over steps 6 to 15 of a run with both graphs off.
    On a CPU the run makes a GPU's choices (``train.freeze_every_step``, ``train.counts_with_bincount``). Where the
    pass and the update after it (the rules, Adam, the freezing and the α ≤ 0 count) are captured as CUDA graphs,
    each is one launch; the recorded rows and the rest stay one launch an operation."""
    from torch.utils._python_dispatch import TorchDispatchMode

    import ipcore.training.loop as train_module
    import ipcore.training.measure as measure_module

    counts: dict[str, int] = {part: 0 for part, *_ in LAUNCH_PARTS} | {"rest": 0}
    current: list[str] = []
    counting, counted = [False], [0]  # counting the step that comes next; steps counted

    class CountLaunches(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = func._schema
            view = not schema.is_mutable and any(r.alias_info is not None for r in schema.returns)
            if counting[0] and not view:
                counts[current[-1] if current else "rest"] += 1
            return func(*args, **(kwargs or {}))

    def attributed(part: str, function: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        current.append(part)
        try:
            return function(*args, **kwargs)
        finally:
            current.pop()

    def tick(_: float) -> None:
        ticks.append(None)
        counting[0] = 5 <= len(ticks) < 15
        counted[0] += counting[0]

    config = setting(root, seeds, device, subset=BATCH * steps, log_every=2, hist_every=10)
    ticks: list[None] = []
    with (
        mock.patch.object(train_module, "freeze_every_step", lambda _: True),  # a GPU's choices
        mock.patch.object(measure_module, "counts_with_bincount", lambda _: False),
        mock.patch.dict(os.environ, {CUDA_GRAPHS_ENV: "0"}),
        wrapped_parts(attributed, LAUNCH_PARTS),
        CountLaunches(),
    ):
        train(config, data=data, progress=tick)
    return {part: count / counted[0] for part, count in counts.items() if part != "evaluation"}


def time_split(data, root: str, seeds: int, subset: int, device: torch.device, threads: int) -> dict[str, float]:
    """Milliseconds per training step in each part of one engine run of the setting (rule ``ip``) with
    ``threads`` torch threads: the forward/backward pass, the recorded rows, Adam, the rule update, the
    end-of-epoch evaluation (spread over the steps) and the rest (gathering batches, bookkeeping, the loop)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    os.environ["IPCORE_THREADS"] = str(threads)
    try:
        with timed_parts(device) as spent:
            timed = engine_run(data, root, "ip", seeds, subset, device)
    finally:
        torch.set_num_threads(before)
        os.environ["IPCORE_THREADS"] = str(before)
    steps = math.ceil(min(subset or len(data.train_y), len(data.train_y)) / BATCH)
    split = {part: seconds / steps * 1e3 for part, seconds in spent.items()}
    split["rest"] = timed.wall / steps * 1e3 - sum(split.values())
    split["step"] = timed.wall / steps * 1e3
    return split


def products_seconds(seeds: int, device: torch.device, repeats: int = 20) -> float:
    """Seconds for the batched matrix products of one deep-MNIST step alone (the shapes and calls of
    ``ipcore.engine.backward``'s pass: forward, weight gradients, input gradients), best of ``repeats``."""
    S, B, D, H, C = seeds, BATCH, 784, WIDTH, 10
    # every batch tensor units × batch ([S, H, B]), as the pass holds them
    inputs, first = torch.randn(S, B, D, device=device), torch.randn(S, H, D, device=device)
    bias, y_t = torch.randn(S, H, 1, device=device), torch.randn(S, H, B, device=device)
    hidden, out = torch.randn(S, H, H, device=device), torch.randn(S, H, C, device=device)
    grad_out, out_bias = torch.randn(S, B, C, device=device), torch.randn(S, C, 1, device=device)

    def one_step() -> None:
        torch.baddbmm(bias, first, inputs.transpose(1, 2))  # x₁ᵀ = W₁Xᵀ + b₁
        for _ in range(DEPTH - 1):
            torch.baddbmm(bias, hidden.transpose(1, 2), y_t)  # vᵀ = W′ᵀyᵀ + b′
        torch.baddbmm(out_bias, out.transpose(1, 2), y_t)  # logits, class-major
        torch.bmm(y_t, grad_out)  # ∂W_out
        torch.bmm(out, grad_out.transpose(1, 2))  # (∂L/∂y)ᵀ of the last hidden layer
        for _ in range(DEPTH - 1):
            torch.bmm(y_t, y_t.transpose(1, 2))  # ∂W of a hidden layer
            torch.bmm(hidden, y_t)  # (∂L/∂y)ᵀ below it
        torch.bmm(y_t, inputs)  # ∂W₁ (stored [S, H, D])

    best = math.inf
    one_step()
    for _ in range(repeats):
        with Timed(device) as timed:
            one_step()
        best = min(best, timed.wall)
    return best


def flops_per_sample(input_dim: int = 784, classes: int = 10, depth: int = DEPTH, width: int = WIDTH) -> int:
    """FLOPs of one training sample's forward and backward pass through the products (see the module docstring)."""
    sizes = [input_dim] + [width] * depth + [classes]
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return 2 * sum(products) + 2 * sum(products) + 2 * sum(products[1:])


def matmul_peak(device: torch.device, seconds: float = 1.0) -> tuple[float, float]:
    """FLOP/s of a large float32 product on ``device`` with the current thread count, best of a few tries, per
    wall-clock second and (on a CPU) per CPU-second of this process."""
    n = 1024 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best_wall = best_cpu = 0.0
    a @ b
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with Timed(device) as timed:
            for _ in range(4):
                a @ b
        best_wall = max(best_wall, 4 * 2 * n**3 / timed.wall)
        best_cpu = max(best_cpu, 4 * 2 * n**3 / max(timed.cpu, 1e-9))
    return best_wall, best_cpu if device.type == "cpu" else best_wall


def whole_process(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of ``command`` run as a process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, done.stdout


REFERENCE_THREADS = 1
"""The reference loop's torch threads: its fastest setting on the 2-core machine this was measured on (49 s for
the full setting, against 64 s with two threads, which compete with its two DataLoader workers for the cores)."""


def reference_process(args: argparse.Namespace) -> int:
    """The per-seed loop as a process of its own (``--reference-process``): prints its loop's seconds as JSON."""
    torch.set_num_threads(int(os.environ.get("REFERENCE_THREADS", REFERENCE_THREADS)))
    device = resolve_device(args.device)
    timed = reference_loop(args.data_root, args.seeds, args.subset, device)
    print(json.dumps({"loop_seconds": timed.wall, "loop_cpu_seconds": timed.cpu, "threads": torch.get_num_threads()}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--subset", type=int, default=0, help="first N training samples (0 = all 60 000)")
    parser.add_argument("--repeats", type=int, default=2, help="engine runs per rule; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="3 seeds, the first 12 000 samples")
    parser.add_argument("--skip-reference", action="store_true", help="no whole-process comparison")
    parser.add_argument("--reference-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.subset = 3, args.subset or 12_000
    if args.reference_process:
        return reference_process(args)
    os.environ["IPCORE_THREADS"] = "1"  # the in-process figures: one thread, against one thread's peak
    torch.set_num_threads(1)
    device = resolve_device(args.device)

    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    data = load_dataset("mnist", args.data_root, args.subset, device)
    load_seconds = time.perf_counter() - started
    samples = len(data.train_y) * args.seeds
    flops = flops_per_sample(data.input_dim, data.num_classes)
    tanh_kernel = cpu_tanh_kernel() if device.type == "cpu" else "torch"  # a GPU always uses torch.tanh
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')}, float32 tanh kernel "
        f"{tanh_kernel}, load average "
        f"{load_start:.1f}; MNIST {len(data.train_y)} samples loaded in {load_seconds:.1f} s; depth {DEPTH}, width "
        f"{WIDTH}, batch {BATCH}, {args.seeds} seeds, 1 epoch; {flops / 1e3:.0f} kFLOP per training sample",
        flush=True,
    )

    peaks = [matmul_peak(device)]
    engine_run(data, args.data_root, "ip", min(args.seeds, 2), 2 * BATCH, device)  # warm-up
    best: dict[str, Timed] = {}
    for _ in range(args.repeats):
        for rule in ("ip", "none"):
            timed = engine_run(data, args.data_root, rule, args.seeds, args.subset, device)
            if rule not in best or timed.wall < best[rule].wall:
                best[rule] = timed
    peaks.append(matmul_peak(device))
    peak, peak_cpu = max(p[0] for p in peaks), max(p[1] for p in peaks)
    for rule in ("ip", "none"):
        print(
            f"engine, rule {rule + ':':5s}    {best[rule].wall:7.2f} s  {samples / best[rule].wall:10,.0f} samples/s"
            f"  ({samples / best[rule].cpu:9,.0f} samples per CPU-second)",
            flush=True,
        )
    rate = samples * flops / best["ip"].wall
    efficiency = rate / peak
    cpu_efficiency = samples * flops / best["ip"].cpu / peak_cpu if device.type == "cpu" else None
    overhead = best["ip"].wall / best["none"].wall - 1
    cpu_overhead = best["ip"].cpu / best["none"].cpu - 1
    where = "one thread" if device.type == "cpu" else "the GPU"
    print(
        f"matmul peak of {where}: {peak / 1e9:.1f} GFLOP/s, {peak_cpu / 1e9:.1f} per CPU-second "
        f"(tries: {', '.join(f'{p[0] / 1e9:.1f}' for p in peaks)})\n"
        f"EFFICIENCY: the engine (ip) at {rate / 1e9:.1f} GFLOP/s = {efficiency * 100:.0f} % of the peak"
        + (
            f"; per CPU-second {samples * flops / best['ip'].cpu / 1e9:.1f} GFLOP = {cpu_efficiency * 100:.0f} %"
            if cpu_efficiency is not None
            else ""
        )
        + "  (target ≥ 50 %)\n"
        f"IP OVERHEAD: {overhead * 100:+.1f} % in wall time, {cpu_overhead * 100:+.1f} % in CPU time  (target ≤ 10 %)",
        flush=True,
    )
    # Where the time goes: a step's products alone, and what a step costs whatever its batch (a step of batch 4
    # does the same operations on tiny tensors: operator dispatch, Adam over every weight, the rules, recording)
    step_s = step_seconds(data, args.data_root, args.seeds, BATCH, 60, device)
    fixed_s = step_seconds(data, args.data_root, args.seeds, 4, 60, device)
    products_s = products_seconds(args.seeds, device)
    step_flops = flops * args.seeds * BATCH
    bound = step_flops / (products_s + fixed_s) / peak
    print(
        f"WHERE THE TIME GOES (1 thread, one step of {args.seeds} seeds × {BATCH}): {step_s * 1e3:.1f} ms; its "
        f"products alone {products_s * 1e3:.1f} ms ({step_flops / products_s / peak * 100:.0f} % of the peak); a step "
        f"of batch 4 {fixed_s * 1e3:.1f} ms (what does not shrink with the batch). With nothing else, the products "
        f"and that fixed part would give {bound * 100:.0f} % of the peak",
        flush=True,
    )
    # Where the time goes, by part of the loop, with one thread and with the engine's default count on idle cores
    threads = [1] + ([min(2, usable_cpus())] if device.type == "cpu" and usable_cpus() > 1 else [])
    splits = {n: time_split(data, args.data_root, args.seeds, args.subset, device, n) for n in threads}
    print("TIME SPLIT, ms per step (" + " | ".join(f"{n} thread{'s' if n > 1 else ''}" for n in threads) + "): "
          + "; ".join(f"{part} " + " | ".join(f"{splits[n][part]:.2f}" for n in threads)
                      for part in splits[1]), flush=True)  # fmt: skip
    launches = launches_per_step(data, args.data_root, args.seeds, device)
    update = launches["update"] + launches["rules"] + launches["Adam"]
    print(f"LAUNCHES per step on a GPU's code path: the pass {launches['pass']:.0f} operations and the update after "
          f"it {update:.0f} (rules {launches['rules']:.1f}, Adam {launches['Adam']:.1f}, freezing and the α ≤ 0 count "
          f"{launches['update']:.1f}), each one launch as a CUDA graph; outside them {launches['records']:.1f} for "
          f"the recorded rows and {launches['rest']:.1f} for the rest", flush=True)  # fmt: skip
    out = {
        "launches_per_step": launches,
        "time_split_ms": {str(n): split for n, split in splits.items()},
        "step_s": step_s,
        "step_products_s": products_s,
        "step_fixed_s": fixed_s,
        "efficiency_bound": bound,
        "device": str(device),
        "seeds": args.seeds,
        "samples": samples,
        "flops_per_sample": flops,
        "matmul_peak_flops": peak,
        "matmul_peak_flops_per_cpu_s": peak_cpu,
        "engine_ip_samples_per_s": samples / best["ip"].wall,
        "engine_none_samples_per_s": samples / best["none"].wall,
        "engine_ip_samples_per_cpu_s": samples / best["ip"].cpu,
        "efficiency": efficiency,
        "cpu_efficiency": cpu_efficiency,
        "ip_overhead": overhead,
        "ip_overhead_cpu": cpu_overhead,
        "load_average_start": load_start,
        "tanh_kernel": tanh_kernel,
    }
    if not args.skip_reference:
        env = {k: v for k, v in os.environ.items() if k != "IPCORE_THREADS"}  # both pick their default count
        here = Path(__file__).resolve()
        engine_command = [sys.executable, "-m", "ipcore", "train", "--dataset", "mnist", "--data-root", args.data_root]
        engine_command += ["--rules", "ip", "--depth", str(DEPTH), "--width", str(WIDTH), "--lr", str(LR)]
        engine_command += ["--epochs", "1", "--seeds", str(args.seeds), "--batch-size", str(BATCH)]
        engine_command += ["--subset", str(args.subset), "--device", str(device), "--json", "--quiet"]
        reference_command = [sys.executable, str(here), "--reference-process", "--seeds", str(args.seeds)]
        reference_command += ["--subset", str(args.subset), "--data-root", args.data_root, "--device", str(device)]
        engine_wall, engine_cpu, engine_out = whole_process(engine_command, {**env, "PYTHONPATH": str(here.parents[1])})
        engine_threads = re.findall(r'"threads(?:_dropped_to)?": (\d+)', engine_out)
        reference_wall, reference_cpu, printed = whole_process(reference_command, env)
        loop = json.loads(printed.strip().splitlines()[-1])
        ratio = reference_wall / engine_wall
        print(
            f"whole process, engine (`python -m ipcore train … --json`, threads {' → '.join(engine_threads) or '?'}): "
            f"{engine_wall:6.2f} s ({engine_cpu:.1f} CPU-s)\n"
            f"whole process, per-seed loop ({loop['threads']} threads): {reference_wall:6.2f} s "
            f"({reference_cpu:.1f} CPU-s, its loop alone {loop['loop_seconds']:.1f} s)\n"
            f"WHOLE PROCESS: engine {ratio:.1f}× faster  (target ≥ 8×), {reference_cpu / engine_cpu:.1f}× in CPU time; "
            f"steady state (the loop alone against the in-process engine): "
            f"{loop['loop_seconds'] / best['ip'].wall:.1f}×",
            flush=True,
        )
        out.update(
            whole_process_engine_s=engine_wall,
            whole_process_engine_threads=[int(t) for t in engine_threads],
            whole_process_reference_s=reference_wall,
            whole_process_ratio=ratio,
            whole_process_cpu_ratio=reference_cpu / engine_cpu,
            reference_loop_s=loop["loop_seconds"],
            reference_threads=loop["threads"],
            steady_state_ratio=loop["loop_seconds"] / best["ip"].wall,
        )
    out["load_average_end"] = os.getloadavg()[0]
    print(f"load average at the end {out['load_average_end']:.1f}", flush=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
