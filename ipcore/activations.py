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

from typing import ClassVar

import torch

from ipcore.config import ACTIVATION_NAMES


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
        # torch's own tanh: measured with torch 2.14 on this project's CPU (AVX-512, and forced to AVX2 or no
        # vector extensions) 3–6× faster than 2σ(2u) − 1, which an earlier version used (bench/bench_train.py)
        return torch.tanh(u)

    def value(self, u: torch.Tensor) -> torch.Tensor:
        return torch.tanh(u)

    def derivative_from_output(self, y: torch.Tensor) -> torch.Tensor:
        return 1 - y * y

    def mean_derivative(self, y: torch.Tensor, dim: int) -> torch.Tensor:
        # E[1 − y²] as 1 − E[y²]: two passes over y instead of three (the records take it every other step)
        return 1 - (y * y).mean(dim)


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
    raise ImportError(f"ipcore.config.ACTIVATION_NAMES {ACTIVATION_NAMES} != the units here {tuple(ACTIVATIONS)}")


def get_activation(name: str) -> Activation:
    """The activation called ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}") from None
