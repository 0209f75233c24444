"""The hidden units' output nonlinearity y = f(u): one small unit each, plus a registry.

Each unit gives the forward map for tensors that need gradients (``apply``), the same map for tensors that need
none (``value``), and the derivative written in terms of the output, ∂y/∂u = f'(u) as a function of y — what a
hand-written backward pass and the gradient-health records use without keeping u:

    tanh       y = tanh(u)            ∂y/∂u = 1 − y²        (the thesis's units, §3.2.1)
    logistic   y = σ(u) = 1/(1+e⁻ᵘ)    ∂y/∂u = y (1 − y)     (Triesch 2005's units; the thesis's §3.1 variant)
    relu       y = max(u, 0)          ∂y/∂u = 1 if y > 0 else 0

``low``/``high`` bound the output's range (the support of the maximum-entropy target the neuron lab draws).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from typing import ClassVar

import torch

from ipcore.errors import ConfigError
from ipcore.specs.activations import ACTIVATION_NAMES

TANH_KERNEL_ENV = "IPCORE_TANH"
"""How a CPU computes float32 tanh: ``auto`` (the default: the faster of the two on this machine, measured once
per process), ``torch`` (torch.tanh) or ``logistic`` (2σ(2u) − 1)."""
TANH_KERNELS = ("auto", "torch", "logistic")


def tanh_via_logistic(u: torch.Tensor) -> torch.Tensor:
    """tanh(u) = 2σ(2u) − 1 (σ the logistic function), for tensors that need no gradient; ``u`` is not changed.

    Equal to torch.tanh within 2e-7 in float32 (absolute: σ near ½ has a spacing of 6e-8, doubled); its relative
    error grows near u = 0, where tanh(u) ≈ u is smaller than that spacing, as the rounding of any sum that
    produced u would make it anyway."""
    return tanh_from_doubled(u * 2, in_place=True)


def tanh_from_doubled(doubled: torch.Tensor, in_place: bool = False) -> torch.Tensor:
    """tanh(u) = 2σ(v) − 1 from v = 2u (``tanh_via_logistic`` without its first multiplication, for a caller that
    gets 2u for free); ``in_place`` lets it overwrite v."""
    halves = doubled.sigmoid_() if in_place else torch.sigmoid(doubled)
    return halves.mul_(2).sub_(1)


def _measure_cpu_tanh(size: int = 65_536, rounds: int = 3, calls: int = 4) -> str:
    """ "logistic" when 2σ(2u) − 1 is at least 1.5× faster than torch.tanh on this CPU, else "torch".

    Which is faster depends on the CPU, not on the code: torch's float32 tanh goes through MKL's vector math on
    Intel CPUs (measured 3–6× faster than the logistic form there), and through a slow path on AMD EPYC (Zen 4:
    260 µs against 60 µs for 10⁵ values on one thread, torch 2.14), where torch's sigmoid is vectorised. The
    best of a few interleaved rounds (about 5 ms) decides; the 1.5× margin keeps the choice stable from one
    process to the next on the same machine."""
    u = torch.linspace(-4.0, 4.0, size)
    best = {"torch": float("inf"), "logistic": float("inf")}
    for _ in range(rounds):
        for name, kernel in (("torch", torch.tanh), ("logistic", tanh_via_logistic)):
            started = time.perf_counter()
            for _ in range(calls):
                kernel(u)
            best[name] = min(best[name], time.perf_counter() - started)
    return "logistic" if best["logistic"] * 1.5 < best["torch"] else "torch"


@functools.cache
def cpu_tanh_kernel() -> str:
    """The float32 tanh kernel of this process's CPU work: ``IPCORE_TANH`` (``torch`` or ``logistic``), or with
    ``auto`` (the default) the faster one on this machine (``_measure_cpu_tanh``). Decided once per process; a run's
    summary records it (``tanh_kernel``). ConfigError (field ``IPCORE_TANH``) for another value."""
    setting = os.environ.get(TANH_KERNEL_ENV, "auto").strip().lower() or "auto"
    if setting not in TANH_KERNELS:
        raise ConfigError(TANH_KERNEL_ENV, f"must be one of {', '.join(TANH_KERNELS)} (got {setting!r})")
    return _measure_cpu_tanh() if setting == "auto" else setting


@contextlib.contextmanager
def pinned_tanh_kernel(kernel: str) -> Iterator[None]:
    """Within the block, the float32 tanh kernel is ``kernel`` (``IPCORE_TANH``); afterwards the setting is what it
    was and the process decides again (for benchmarks and tests that compare the two)."""
    before = os.environ.get(TANH_KERNEL_ENV)
    os.environ[TANH_KERNEL_ENV] = kernel
    cpu_tanh_kernel.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(TANH_KERNEL_ENV, None)
        else:
            os.environ[TANH_KERNEL_ENV] = before
        cpu_tanh_kernel.cache_clear()


def uses_logistic_tanh(u: torch.Tensor) -> bool:
    """Whether ``tanh_value`` computes tanh(u) as 2σ(2u) − 1: float32 on a CPU whose kernel is ``logistic``
    (float64, where precision was asked for, and GPUs, whose tanh is one fast instruction, keep torch.tanh)."""
    return u.device.type == "cpu" and u.dtype == torch.float32 and cpu_tanh_kernel() == "logistic"


def tanh_value(u: torch.Tensor) -> torch.Tensor:
    """tanh(u) for tensors that need no gradient, by the faster kernel of this machine (``cpu_tanh_kernel``)."""
    return tanh_via_logistic(u) if uses_logistic_tanh(u) else torch.tanh(u)


class Activation:
    """One output nonlinearity. Subclasses set the class attributes and the three maps."""

    name: ClassVar[str]
    title: ClassVar[str]
    equation: ClassVar[str]  # LaTeX, shown by the app
    low: ClassVar[float]
    high: ClassVar[float]

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        """y = f(u), differentiable by autograd."""
        raise NotImplementedError

    def value(self, u: torch.Tensor) -> torch.Tensor:
        """y = f(u) for tensors that need no gradient (may use the fastest kernel)."""
        return self.apply(u)

    def derivative_from_output(self, y: torch.Tensor) -> torch.Tensor:
        """∂y/∂u as a function of y."""
        raise NotImplementedError

    def mean_derivative(self, y: torch.Tensor, dim: int) -> torch.Tensor:
        """E[∂y/∂u] along ``dim`` (the gradient-health record, thesis Fig. 3.7)."""
        return self.derivative_from_output(y).mean(dim)


class Tanh(Activation):
    name, title, low, high = "tanh", "tanh", -1.0, 1.0
    equation = r"y = \tanh(u)"

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        # the same kernel as ``value``, so that autograd's pass and the hand-written one agree to the last bit
        if uses_logistic_tanh(u):
            return 2 * torch.sigmoid(2 * u) - 1
        return torch.tanh(u)

    def value(self, u: torch.Tensor) -> torch.Tensor:
        return tanh_value(u)

    def derivative_from_output(self, y: torch.Tensor) -> torch.Tensor:
        return 1 - y * y

    def mean_derivative(self, y: torch.Tensor, dim: int) -> torch.Tensor:
        # E[1 − y²] as 1 − ‖y‖²/n: one pass over y, no squared copy of it (the records take it every other step)
        return 1 - torch.linalg.vector_norm(y, dim=dim).square_() / y.shape[dim]


class Logistic(Activation):
    name, title, low, high = "logistic", "logistic σ", 0.0, 1.0
    equation = r"y = \sigma(u) = 1/(1 + e^{-u})"

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(u)

    def derivative_from_output(self, y: torch.Tensor) -> torch.Tensor:
        return y * (1 - y)


class ReLU(Activation):
    name, title, low, high = "relu", "ReLU", 0.0, float("inf")
    equation = r"y = \max(u, 0)"

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        return torch.relu(u)

    def derivative_from_output(self, y: torch.Tensor) -> torch.Tensor:
        return (y > 0).to(y.dtype)


ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in (Tanh, Logistic, ReLU)}
if tuple(ACTIVATIONS) != ACTIVATION_NAMES:  # the configs validate against the torch-free list of names
    raise ImportError(
        f"ipcore.specs.activations.ACTIVATION_NAMES {ACTIVATION_NAMES} != the units here {tuple(ACTIVATIONS)}"
    )


def get_activation(name: str) -> Activation:
    """The activation called ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None
