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
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipcore.config import TrainConfig  # noqa: E402
from ipcore.data import load_dataset  # noqa: E402
from ipcore.rules import default_eta  # noqa: E402
from ipcore.train import resolve_device, train  # noqa: E402

DEPTH, WIDTH, BATCH, LR = 7, 50, 200, 0.01


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


def reference_loop(root: str, seeds: int, subset: int, device: torch.device, rule: str = "ip") -> float:
    """Seconds to train ``seeds`` networks one after the other, one epoch each."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    if subset:
        dataset = Subset(dataset, range(subset))
    eta = default_eta("ip")
    started = time.perf_counter()
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
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


# --- (a) the engine -----------------------------------------------------------------------------------


def engine_seconds(data, root: str, rule: str, seeds: int, subset: int, device: torch.device) -> float:
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
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = train(config, data=data)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    assert result.state == "done"
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--subset", type=int, default=0, help="first N training samples (0 = all 60 000)")
    parser.add_argument("--repeats", type=int, default=2, help="engine runs per rule; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="3 seeds, 12 000 samples, one engine run per rule")
    parser.add_argument("--skip-reference", action="store_true", help="engine figures only")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.subset, args.repeats = 3, args.subset or 12_000, 1
    device = resolve_device(args.device)

    started = time.perf_counter()
    data = load_dataset("mnist", args.data_root, args.subset, device)
    load_seconds = time.perf_counter() - started
    samples = len(data.train_y) * args.seeds
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; MNIST {len(data.train_y)} samples "
        f"loaded in {load_seconds:.1f} s; depth {DEPTH}, width {WIDTH}, batch {BATCH}, {args.seeds} seeds, 1 epoch",
        flush=True,
    )

    engine_seconds(data, args.data_root, "ip", min(args.seeds, 2), 2 * BATCH, device)  # warm-up
    figures: dict[str, float] = {}
    for _ in range(args.repeats):
        for rule in ("ip", "none"):
            seconds = engine_seconds(data, args.data_root, rule, args.seeds, args.subset, device)
            figures[f"engine_{rule}_s"] = min(seconds, figures.get(f"engine_{rule}_s", float("inf")))
    engine_ip = samples / figures["engine_ip_s"]
    engine_none = samples / figures["engine_none_s"]
    overhead = figures["engine_ip_s"] / figures["engine_none_s"] - 1
    print(f"engine, rule ip:   {figures['engine_ip_s']:7.2f} s  {engine_ip:10,.0f} samples/s", flush=True)
    print(f"engine, rule none: {figures['engine_none_s']:7.2f} s  {engine_none:10,.0f} samples/s", flush=True)
    print(f"IP overhead in the engine: {overhead * 100:+.1f} %  (target ≤ 20 %)", flush=True)
    out = {
        "device": str(device),
        "seeds": args.seeds,
        "samples": samples,
        "engine_ip_samples_per_s": engine_ip,
        "engine_none_samples_per_s": engine_none,
        "ip_overhead": overhead,
    }
    if not args.skip_reference:
        seconds = reference_loop(args.data_root, args.seeds, args.subset, device)
        reference = samples / seconds
        ratio = engine_ip / reference
        print(f"per-seed loop, ip: {seconds:7.2f} s  {reference:10,.0f} samples/s", flush=True)
        print(f"engine / per-seed loop: {ratio:.1f}×  (target ≥ 10×)", flush=True)
        out.update(reference_samples_per_s=reference, ratio=ratio)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
