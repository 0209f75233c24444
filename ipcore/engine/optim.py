"""Adam (and SGD, ``MemberSGD``) with a learning rate per lockstep member, so that members with different learning
rates train as one model.

``torch.optim.Adam`` takes one scalar learning rate per parameter group, but a lockstep model stacks every member's
weights into one tensor (``[M, fan_in, fan_out]``, or ``[S, R, H, D]`` for the first layer). Rescaling gradients
cannot stand in for a per-member rate (Adam's step m̂/(√v̂+ε) is nearly scale-invariant), so the step is written
out here with the learning rate as a tensor laid out like each parameter (``LockstepMLP.member_masks`` gives the
layout of any per-member value).

The update (Kingma & Ba 2015, Algorithm 1; the same as ``torch.optim.Adam`` without weight decay or AMSGrad), for
step t = 1, 2, … of each parameter p with gradient g and member learning rate lr:

    m ← β₁m + (1−β₁)g;   v ← β₂v + (1−β₂)g²;   p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)

with β₁ = 0.9, β₂ = 0.999, ε = 1e-8 (torch's defaults). The moments live in ``state[p]`` under torch's names
(``exp_avg``, ``exp_avg_sq``), so code that edits them (freezing diverged members) works with either optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ipcore.config import TrainConfig
    from ipcore.engine.model import LockstepMLP

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class _StepsParameters:
    """What the optimizers here share: the parameters they step, and clearing those parameters' gradients."""

    params: list[torch.Tensor]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.zero_()


class MemberAdam(_StepsParameters):
    """Adam over stacked lockstep parameters with one learning rate per member.

    ``params`` and ``learning_rates`` are parallel: ``learning_rates[i]`` broadcasts against ``params[i]`` and
    holds each member's rate in that tensor's member layout.

    How: torch's fused Adam kernel (one pass over each tensor) runs with learning rate 1 on zeroed buffers, which
    leaves in each buffer the unit step d = −m̂/(√v̂ + ε) (the kernel cannot take the rate of each element, and
    running it on a slice per rate would need contiguous slices, which the first layer's ``[S, R, H, D]`` layout
    does not have for a sweep's rates, which vary along R); then p ← p + lr·d with the per-member rate. That is the update above up to the rounding of
    one product (lr·(d) instead of (lr/(1−β₁ᵗ))·(…)). Where the fused kernel is missing, the same step is
    written out with ``torch._foreach_*`` operations (about three times slower on a CPU).
    """

    def __init__(self, params: Sequence[torch.Tensor], learning_rates: Sequence[torch.Tensor]):
        if len(params) != len(learning_rates):
            raise ValueError(f"{len(params)} parameters but {len(learning_rates)} learning-rate tensors")
        self.params = list(params)
        self.learning_rates = [lr.to(p.device, p.dtype) for p, lr in zip(self.params, learning_rates, strict=True)]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        self.steps = 0
        self._units: list[torch.Tensor] | None = None
        self._fused = hasattr(torch, "_fused_adam_")

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step for every parameter that has a gradient (all of them, in lockstep training)."""
        chosen = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not chosen:
            return
        params = [self.params[i] for i in chosen]
        grads = [p.grad for p in params]
        for p in params:
            if p not in self.state:
                self.state[p] = {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        exp_avg = [self.state[p]["exp_avg"] for p in params]
        exp_avg_sq = [self.state[p]["exp_avg_sq"] for p in params]
        rates = [self.learning_rates[i] for i in chosen]
        self.steps += 1
        if self._fused:
            try:
                units = self._unit_steps(params, grads, exp_avg, exp_avg_sq)
            except (RuntimeError, NotImplementedError):  # no fused kernel here: it fails before writing anything
                self._fused = False
            else:
                for param, unit, rate in zip(params, units, rates, strict=True):
                    param.addcmul_(unit, rate)  # p ← p + lr·d
                return
        self._foreach_step(params, grads, exp_avg, exp_avg_sq, rates)

    def _unit_steps(self, params, grads, exp_avg, exp_avg_sq) -> list[torch.Tensor]:
        """d = −m̂/(√v̂ + ε) per parameter (the moments updated in place), by torch's fused Adam at rate 1."""
        if self._units is None or len(self._units) != len(params):
            self._units = [torch.zeros_like(p) for p in params]
        units = self._units
        torch._foreach_zero_(units)
        steps = [torch.full((), float(self.steps), device=p.device, dtype=torch.float32) for p in params]
        torch._fused_adam_(
            units,
            grads,
            exp_avg,
            exp_avg_sq,
            [],
            steps,
            lr=1.0,
            beta1=BETA1,
            beta2=BETA2,
            weight_decay=0.0,
            eps=EPS,
            amsgrad=False,
            maximize=False,
        )
        return units

    def _foreach_step(self, params, grads, exp_avg, exp_avg_sq, rates) -> None:
        t = self.steps
        torch._foreach_lerp_(exp_avg, grads, 1 - BETA1)
        torch._foreach_mul_(exp_avg_sq, BETA2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - BETA2)
        denominators = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denominators, math.sqrt(1 - BETA2**t))
        torch._foreach_add_(denominators, EPS)
        updates = torch._foreach_div(exp_avg, denominators)
        scale = -1.0 / (1 - BETA1**t)
        for param, update, rate in zip(params, updates, rates, strict=True):
            param.addcmul_(update, rate, value=scale)  # p ← p − lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε)


class MemberSGD(_StepsParameters):
    """Stochastic gradient descent, optionally with heavy-ball momentum, with one learning rate per member.

    For each parameter p with gradient g and member learning rate lr (torch.optim.SGD's convention, no dampening
    or Nesterov term):

        plain:     p ← p − lr·g
        momentum:  b ← μ·b + g  (b = g at the first step);   p ← p − lr·b

    SGD moves each weight by its raw gradient, unlike Adam's step m̂/(√v̂ + ε), which rescales every parameter to
    about lr whatever the size of its gradient — the rescaling that can hide vanishing gradients. ``params`` and
    ``learning_rates`` are parallel as in ``MemberAdam``. The buffer b lives in ``state[p]["momentum_buffer"]``
    (torch's name), so freezing a member can zero it.
    """

    def __init__(self, params: Sequence[torch.Tensor], learning_rates: Sequence[torch.Tensor], momentum: float = 0.0):
        if len(params) != len(learning_rates):
            raise ValueError(f"{len(params)} parameters but {len(learning_rates)} learning-rate tensors")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1) (got {momentum})")
        self.params = list(params)
        self.learning_rates = [lr.to(p.device, p.dtype) for p, lr in zip(self.params, learning_rates, strict=True)]
        self.momentum = momentum
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        """One step for every parameter that has a gradient."""
        for param, rate in zip(self.params, self.learning_rates, strict=True):
            grad = param.grad
            if grad is None:
                continue
            if self.momentum:
                moments = self.state.get(param)
                if moments is None:
                    moments = self.state[param] = {"momentum_buffer": grad.clone()}
                else:
                    moments["momentum_buffer"].mul_(self.momentum).add_(grad)
                grad = moments["momentum_buffer"]
            param.addcmul_(grad, rate, value=-1.0)  # p ← p − lr·g (or lr·b)


class FusedAdam(_StepsParameters):
    """Adam with one learning rate for every parameter: torch's fused kernel called directly.

    The same update as ``torch.optim.Adam(params, lr, fused=True)``, bit for bit (the same kernel, step counts and
    buffers, with the moments in ``state[p]`` under torch's names): constructing ``torch.optim.Adam`` imports
    ``torch._dynamo``, a second or more of every run's start-up, for a step that is one kernel call.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float):
        self.params = list(params)
        self.lr = float(lr)
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @staticmethod
    def available(device: torch.device) -> bool:
        """Whether torch has the fused kernel for ``device`` (CPU and CUDA)."""
        return hasattr(torch, "_fused_adam_") and device.type in ("cpu", "cuda")

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step for every parameter that has a gradient."""
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        for p in params:
            if p not in self.state:
                self.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[p] for p in params]
        steps = [state["step"] for state in states]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            params,
            [p.grad for p in params],
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [],
            steps,
            amsgrad=False,
            lr=self.lr,
            beta1=BETA1,
            beta2=BETA2,
            weight_decay=0.0,
            eps=EPS,
            maximize=False,
        )


# --- the weights' optimizer of a training, and freezing diverged members --------------------------------


def _adam(params: list[torch.Tensor], lr: float, device: torch.device) -> FusedAdam | torch.optim.Adam:
    """Adam over the stacked tensors: elementwise, so exactly one independent Adam per member."""
    if FusedAdam.available(device):
        return FusedAdam(params, lr)
    return torch.optim.Adam(params, lr=lr, foreach=device.type != "cpu")  # a device without the fused kernel


def make_optimizer(
    model: LockstepMLP, group_lrs: list[float], device: torch.device, config: TrainConfig | None = None
) -> FusedAdam | torch.optim.Adam | MemberAdam | MemberSGD:
    """The weights' optimizer (``config.optimizer``). Adam: ``FusedAdam`` (torch's fused kernel) when every group
    shares one learning rate, else ``MemberAdam`` with each member's rate laid out like each parameter
    (``member_masks`` lays out any per-member tensor, not only flags). SGD and momentum: ``MemberSGD`` with the
    same per-member layout."""
    per_member = torch.tensor(group_lrs, dtype=torch.float32).repeat_interleave(model.num_seeds).to(device)
    name = "adam" if config is None else config.optimizer
    if name != "adam":
        momentum = config.momentum if name == "momentum" else 0.0
        return MemberSGD(model.parameters(), model.member_masks(per_member), momentum=momentum)
    if len(set(group_lrs)) == 1:
        return _adam(model.parameters(), group_lrs[0], device)
    return MemberAdam(model.parameters(), model.member_masks(per_member))


def freeze_every_step(device: torch.device) -> bool:
    """Whether the freezing of diverged members runs at every step (a GPU: asking the host whether anyone
    diverged would stall its queue) or only once one has (a CPU, where that question costs nothing)."""
    return device.type != "cpu"


def freeze_members(
    model: LockstepMLP, optimizer: torch.optim.Optimizer | MemberAdam | FusedAdam | MemberSGD, frozen: torch.Tensor
) -> None:
    """Zero the gradients and first Adam moments (or SGD's momentum buffers) of frozen members, so the
    optimizer moves them by exactly 0."""
    for param, mask in zip(model.parameters(), model.member_masks(frozen), strict=True):
        if param.grad is not None:
            param.grad.masked_fill_(mask, 0.0)
        moments = optimizer.state.get(param)
        for key in ("exp_avg", "momentum_buffer"):
            if moments and key in moments:
                moments[key].masked_fill_(mask, 0.0)
