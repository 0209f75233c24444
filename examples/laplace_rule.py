"""A rule of your own, as a plug-in: intrinsic plasticity toward a Laplace-shaped output density.

Load it with ``ipcore.load_rule_module("examples/laplace_rule.py")`` in Python, ``--rules-module
examples/laplace_rule.py`` on the command line, or ``IPCORE_RULE_MODULES=examples/laplace_rule.py`` for the app;
then ``ip_laplace`` trains beside ``ip`` everywhere (networks, the single neuron, sweeps, both labs).

The rule. u = a·x + b, y = tanh(u). It lowers the Kullback–Leibler divergence of the output density p(y) from a
Laplace target t(y) ∝ exp(−|y − μ|/λ) on (−1, 1), by the stochastic gradient Triesch (2005) used for the logistic
unit's exponential target and Schrauwen et al. (2008) for tanh's Gaussian one. With p(y) = p(x)/(a(1 − y²)),

    KL(p ‖ t) = −log a − E[log(1 − y²)] + E[|y − μ|]/λ + const,

and its derivatives give, with g(y) = 2y + (1 − y²)·sign(y − μ)/λ (the derivative in b of the sample's terms),

    Δb = −η·E[g(y)],    Δa = η/a − η·E[x·g(y)].

λ small makes a sparse, peaked output; λ → ∞ leaves only the entropy terms (Infomax's fixed point, uniform y).
At the fixed point E[g(y)] = 0 and 1/a = E[x·g(y)]: ``fixed_point_distance`` reports |a − 1/E[x·g(y)]| (NaN
while E[x·g] ≤ 0, as for Infomax) and |E[g(y)]|, the quantities the lab's distance-to-fixed-point chart draws.
"""

from __future__ import annotations

import math

import torch

import ipcore
from ipcore.engine.rules import batch_mean, safe_alpha


class LaplaceIP(ipcore.Rule):
    """IP with a Laplace target for tanh units: Δb = −η·E[g(y)], Δa = η/a − η·E[x·g(y)],
    g(y) = 2y + (1 − y²)·sign(y − μ)/λ (derived in this file's docstring)."""

    name = "ip_laplace"
    title = "IP, Laplace target (example plug-in)"
    form = "affine"  # u = αx + β: α is a gain (1/x's units), β a shift of u
    equation = r"\Delta b=-\eta E[g(y)],\ \Delta a=\tfrac{\eta}{a}-\eta E[x\,g(y)],\ g=2y+(1-y^2)\tfrac{\mathrm{sign}(y-\mu)}{\lambda}"
    source = "examples/laplace_rule.py (Triesch 2005's derivation with a Laplace target)"
    default_eta_network = 1e-4
    default_eta_neuron = 1e-3
    activations = ("tanh",)  # the target lives on tanh's (−1, 1)

    target_mean = 0.0  # μ
    target_scale = 0.3  # λ

    def _g(self, y: torch.Tensor) -> torch.Tensor:
        return 2 * y + (1 - y * y) * torch.sign(y - self.target_mean) / self.target_scale

    def step(self, state, x, y, eta):
        """New (a, b) ``[M, U]`` from x, y ``[M, B, U]``."""
        g = self._g(y)
        alpha = state["alpha"] + eta / safe_alpha(state["alpha"]) - eta * batch_mean(x * g)
        beta = state["beta"] - eta * batch_mean(g)
        return alpha, beta

    def fixed_point_distance(self, state, x, y):
        """|a − 1/E[x·g(y)]| (NaN while E[x·g] ≤ 0) and |E[g(y)]|."""
        g = self._g(y)
        xg = batch_mean(x * g)
        target = torch.where(xg > 0, 1 / xg.clamp(min=1e-12), torch.full_like(xg, math.nan))
        return (state["alpha"] - target).abs(), batch_mean(g).abs()


ipcore.register_rule(LaplaceIP)
