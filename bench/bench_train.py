"""Benchmark: the lockstep engine against a straightforward per-seed PyTorch loop, in one run on one machine.

The thesis's deep MNIST setting — depth 7, width 50, batch 200, Adam lr 0.01, rule ip, 10 seeds, 1 epoch on the
real MNIST — trained

(a) by the engine (``ipcore.train.train``: all seeds as one batched model, the data resident as one tensor),
(b) by a per-seed loop in the style of the thesis's published code: torchvision MNIST with ``ToTensor``
    through a ``DataLoader`` with 2 workers, one ``nn.Module`` per seed, the IP update after each forward
    pass (α, β moved by their own Adam with lr η, as the thesis's IP does), seeds one after the other,

and the engine with rule ``none`` against rule ``ip`` (the cost of the intrinsic rule). Throughput is training
samples per second summed over the seeds (10 seeds × 60 000 samples = 600 000 samples per epoch).

    python bench/bench_train.py                      # CPU, the full setting (a few minutes on 2 cores)
    python bench/bench_train.py --quick              # 3 seeds, first 12 000 samples (under a minute)
    python bench/bench_train.py --device cuda --data-root /path/to/datasets
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# OpenMP threads that spin while they wait make every parallel operation stall for a scheduler time slice
# whenever another process holds a core (measured here: 10–25× slower steps on a busy 2-core machine). Both
# the engine and the reference run under the same setting; set OMP_WAIT_POLICY yourself to override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipcore.config import TrainConfig  # noqa: E402
from ipcore.data import load_dataset  # noqa: E402
from ipcore.rules import default_eta  # noqa: E402
from ipcore.train import resolve_device, train  # noqa: E402

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


def engine_run(data, root: str, rule: str, seeds: int, subset: int, device: torch.device) -> Timed:
    config = TrainConfig(
        dataset="mnist",
        data_root=root,
        rules=[rule],
        depth=DEPTH,
        width=WIDTH,
        lr=LR,
        epochs=1,
        seeds=seeds,
        batch_size=BATCH,
        subset=subset,
        device=str(device),
    )
    with Timed(device) as timed:
        result = train(config, data=data)
    assert result.state == "done"
    return timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--subset", type=int, default=0, help="first N training samples (0 = all 60 000)")
    parser.add_argument("--repeats", type=int, default=2, help="engine runs per rule; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="3 seeds, the first 12 000 samples")
    parser.add_argument("--skip-reference", action="store_true", help="engine figures only")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for both (default 1, the engine's; 0 = torch's default)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    os.environ["IPCORE_THREADS"] = str(args.threads)  # the engine sets its own count from this
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds, args.subset = 3, args.subset or 12_000
    device = resolve_device(args.device)

    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    data = load_dataset("mnist", args.data_root, args.subset, device)
    load_seconds = time.perf_counter() - started
    samples = len(data.train_y) * args.seeds
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads (OMP_WAIT_POLICY "
        f"{os.environ.get('OMP_WAIT_POLICY')}), load average {load_start:.1f}; MNIST {len(data.train_y)} samples "
        f"loaded in {load_seconds:.1f} s; depth {DEPTH}, width {WIDTH}, batch {BATCH}, {args.seeds} seeds, 1 epoch",
        flush=True,
    )

    engine_run(data, args.data_root, "ip", min(args.seeds, 2), 2 * BATCH, device)  # warm-up
    best: dict[str, Timed] = {}
    for _ in range(args.repeats):
        for rule in ("ip", "none"):
            timed = engine_run(data, args.data_root, rule, args.seeds, args.subset, device)
            if rule not in best or timed.wall < best[rule].wall:
                best[rule] = timed
    for rule in ("ip", "none"):
        print(
            f"engine, rule {rule + ':':5s}    {best[rule].wall:7.2f} s  {samples / best[rule].wall:10,.0f} samples/s"
            f"  ({samples / best[rule].cpu:9,.0f} samples per CPU-second)",
            flush=True,
        )
    overhead = best["ip"].wall / best["none"].wall - 1
    print(f"IP overhead in the engine: {overhead * 100:+.1f} %  (target ≤ 20 %)", flush=True)
    out = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "seeds": args.seeds,
        "samples": samples,
        "engine_ip_samples_per_s": samples / best["ip"].wall,
        "engine_none_samples_per_s": samples / best["none"].wall,
        "engine_ip_samples_per_cpu_s": samples / best["ip"].cpu,
        "ip_overhead": overhead,
        "load_average_start": load_start,
    }
    if not args.skip_reference:
        reference = reference_loop(args.data_root, args.seeds, args.subset, device)
        print(
            f"per-seed loop, ip: {reference.wall:7.2f} s  {samples / reference.wall:10,.0f} samples/s"
            f"  ({samples / reference.cpu:9,.0f} samples per CPU-second, workers included)",
            flush=True,
        )
        ratio = reference.wall / best["ip"].wall
        cpu_ratio = reference.cpu / best["ip"].cpu
        print(
            f"engine / per-seed loop: {ratio:.1f}× in wall time (target ≥ 10×), {cpu_ratio:.1f}× in CPU time",
            flush=True,
        )
        out.update(
            reference_samples_per_s=samples / reference.wall,
            reference_samples_per_cpu_s=samples / reference.cpu,
            ratio=ratio,
            cpu_ratio=cpu_ratio,
        )
    out["load_average_end"] = os.getloadavg()[0]
    print(f"load average at the end {out['load_average_end']:.1f}", flush=True)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
