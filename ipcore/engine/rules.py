"""Intrinsic-plasticity rules: each hidden unit's gain α and bias β.

A unit receives the pre-activation x and emits y = tanh(u) (or σ(u) or max(u, 0): ``ipcore.engine.activations``; each rule
declares the units it is meant for in ``activations``). A rule says how u is formed from x, α and β,
and how α and β move after every *training* forward pass, from that batch's statistics
(E[·] is the batch mean, σ[x] the batch standard deviation). No gradient flows through α and β.

Shapes: x and y are ``[M, B, U]`` (members trained in lockstep, batch, units); α, β and every other
per-neuron state tensor are ``[M, U]``. A single neuron is ``M = U = 1``.

Adding a rule means writing one small class below (it registers itself) and its ``RuleSpec`` (title,
default η, options) in ``ipcore.specs.rules``, the torch-free table that configs, the CLI and the app read.
A rule of a user's own is a subclass in the user's file, added by ``ipcore.register_rule``
(``ipcore.engine.custom_rules``), which checks it and writes its spec into the same tables.

Sources: the thesis this project re-runs (§ and equation numbers below); Bell & Sejnowski 1995 (Infomax);
Schrauwen et al. 2008 (Gaussian-target IP for tanh, extending Triesch 2005's exponential-target rule for the
logistic function); Ioffe & Szegedy 2015 (batch norm).

Printed and corrected forms. The thesis prints IP's gain update as α ← α + η·Adam(2E[xy]) (eq. 3.3) and
incremental batch normalisation as α ← α + η·Adam(σ[x]), β ← β + η·Adam(E[x]) (eq. 3.8–3.9). Adam divides
by the running magnitude, so as long as 2E[xy], σ[x] or E[x] keep their sign those steps move α (and BN's β)
by about η per update for ever: they have no fixed point. The text around them says what they are meant to
do (α should reach 2E[xy], §5.3; BN should converge to the batch statistics, §6.2), so ``ip`` and ``bn_inc``
move *toward* the target, and ``ip_printed`` and ``bn_inc_printed`` keep the printed forms so the difference
can be seen (the neuron lab, ``python -m ipcore neuron --rules ip,ip_printed,bn_inc,bn_inc_printed``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch

from ipcore.engine.activations import tanh_value
from ipcore.specs.rules import RULE_SPECS, RuleSpec, rule_options

ALPHA_FLOOR = 1e-6
"""|α| is kept at least this large, with its sign, wherever α divides (the thesis saw α cross zero)."""

ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8

State = dict[str, "torch.Tensor | int"]
"""Per-neuron tensors ``[M, U]`` by name, plus ``"t"``: the number of updates so far (a plain int, so that
reading it never waits for a GPU)."""


def safe_alpha(alpha: torch.Tensor) -> torch.Tensor:
    """α with |α| ≥ 1e-6 and its sign kept (+0 counts as positive); NaN stays NaN."""
    return alpha.abs().clamp_(min=ALPHA_FLOOR).copysign_(alpha)


def batch_mean(t: torch.Tensor) -> torch.Tensor:
    """E[t] over the batch dimension: ``[M, B, U] -> [M, U]``."""
    return t.mean(dim=-2)


MOMENTS = ("x", "y", "xy")
"""The batch means a rule may ask for instead of the whole x and y: E[x], E[y], E[xy]."""


def batch_moments(x: torch.Tensor, y: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The batch means ``names`` (from ``MOMENTS``) of x and y ``[M, B, U]``, ``[M, U]`` each."""
    products = {"x": lambda: x, "y": lambda: y, "xy": lambda: x * y}
    return {name: batch_mean(products[name]()) for name in names}


def batch_std(x: torch.Tensor) -> torch.Tensor:
    """σ[x] over the batch (population standard deviation, as in batch normalisation)."""
    return x.std(dim=-2, correction=0)


def adam_step(state: State, key: str, direction: torch.Tensor) -> torch.Tensor:
    """Adam(g): the bias-corrected Adam smoothing of the update direction g (β1 0.9, β2 0.999, ε 1e-8).

    m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  Adam(g) = m̂ / (√v̂ + ε), m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ).
    The moments live in ``state`` under ``key + "_m"`` / ``key + "_v"``; the step count is ``state["t"]``: a
    Python int, or a float64 number on the device where a CUDA graph replays the update (``ipcore.engine.backward``), which
    gives the same values (the same double-precision pow and sqrt).
    """
    t = state["t"]
    m = state[key + "_m"].lerp_(direction, 1 - ADAM_BETA1)
    v = state[key + "_v"].mul_(ADAM_BETA2).addcmul_(direction, direction, value=1 - ADAM_BETA2)
    # With the plain numbers c1 = 1−β1ᵗ, c2 = 1−β2ᵗ: m̂ / (√v̂ + ε) = m / (√v + ε√c2) · √c2 / c1, the same value
    # in four tensor operations. The single neuron calls this 20 000 times per rule on [1, 1] tensors, where
    # each operation's fixed cost outweighs its arithmetic.
    c1, c2 = 1 - ADAM_BETA1**t, 1 - ADAM_BETA2**t
    root_c2 = c2.sqrt() if isinstance(c2, torch.Tensor) else math.sqrt(c2)
    return m.div(v.sqrt().add_(ADAM_EPS * root_c2)).mul_(root_c2 / c1)


_CLASSES: dict[str, type[Rule]] = {}
"""Every rule class by name: each subclass of ``Rule`` registers itself here when it is defined."""


class Rule:
    """One intrinsic rule. Subclasses set ``name`` and the class attributes of their form and override ``step``
    (and maybe more); title, default η, ``weighted_decay`` and options come from the rule's
    ``ipcore.specs.rules.RuleSpec``, which every concrete rule must have (a rule of your own gets it from
    ``ipcore.register_rule``, which reads these class attributes: docs/python.md, "Your own rule").

    Per training batch a rule receives x, the layer's pre-activations ``[M, B, U]`` (members, batch, units), and
    y = f(u) computed with the current α, β; ``step`` returns the new α and β ``[M, U]`` (the base class writes
    them back, freezing diverged members), or ``step_from_moments`` does the same from the batch means it
    declares in ``moments``. ``fixed_point_distance`` returns |α − α*| and |β − β*| ``[M, U]`` for the
    distance-to-fixed-point chart (None: no fixed point). α is in x's units for ``form = "divide"``
    (u = (x−β)/α), in 1/x's for ``"affine"`` (u = αx + β); β is in x's units (divide) or u's (affine)."""

    name: ClassVar[str]
    spec: ClassVar[RuleSpec]
    title: ClassVar[str]
    form: ClassVar[str] = "divide"  # "divide": u = (x−β)/α;  "affine": u = αx + β;  "none": u = x
    equation: ClassVar[str] = ""  # LaTeX, shown by the app
    source: ClassVar[str] = ""
    printed_note: ClassVar[str] = ""  # how the rule differs from the equation as the thesis prints it, if it does
    default_eta_network: ClassVar[float | None] = None
    default_eta_neuron: ClassVar[float | None] = None
    uses_adam: ClassVar[bool] = False
    weighted_decay: ClassVar[bool] = False  # η is a mixing weight, so it must lie in (0, 1]
    has_parameters: ClassVar[bool] = False  # learned by backprop (batchnorm's affine)
    activations: ClassVar[tuple[str, ...]] = ("tanh", "logistic", "relu")  # from the spec, see RuleSpec
    moments: ClassVar[tuple[str, ...]] = ()
    """The batch means (``MOMENTS``) that are all the rule's update and fixed point need of x and y. A rule that
    declares them writes ``step_from_moments`` (and ``fixed_point_from_moments``) instead of ``step``: the
    network's hand-written pass then computes the means layer by layer and never stacks x and y."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" not in cls.__dict__ and cls.__module__ != __name__:
            return  # a rule of the user's own: ``ipcore.register_rule`` checks it and gives it its spec
        if "spec" not in cls.__dict__:  # a class may carry its own spec (a test's rule that is not registered)
            if cls.name not in RULE_SPECS:
                raise TypeError(f"rule class {cls.__name__} ({cls.name!r}) has no RuleSpec in ipcore/specs/rules.py")
            if cls.name in _CLASSES:
                raise TypeError(f"two rule classes named {cls.name!r}: {_CLASSES[cls.name].__name__}, {cls.__name__}")
            _CLASSES[cls.name] = cls
            cls.spec = RULE_SPECS[cls.name]
        cls.title = cls.spec.title
        if cls.__module__ == __name__:  # a built-in rule's words live in its spec (the app reads them without torch)
            written_here = {"equation", "source", "printed_note"} & set(cls.__dict__)
            if written_here:
                raise TypeError(f"rule class {cls.__name__}: {', '.join(sorted(written_here))} belong in its RuleSpec")
            cls.equation, cls.source, cls.printed_note = cls.spec.equation, cls.spec.source, cls.spec.printed_note
        cls.default_eta_network, cls.default_eta_neuron = cls.spec.default_eta_network, cls.spec.default_eta_neuron
        cls.weighted_decay = cls.spec.weighted_decay
        cls.activations = cls.spec.activations

    @property
    def steps_from_moments(self) -> bool:
        """Whether ``update_from_moments`` is this rule's update: it declares ``moments`` and no class of it
        overrides ``step`` (a subclass that does works from the whole x and y)."""
        return bool(self.moments) and type(self).step is Rule.step

    @property
    def measures_from_moments(self) -> bool:
        """Whether ``fixed_point_from_moments`` is this rule's fixed-point distance (as ``steps_from_moments``)."""
        return bool(self.moments) and type(self).fixed_point_distance is Rule.fixed_point_distance

    @property
    def has_fixed_point(self) -> bool:
        """Whether the rule measures a distance to a fixed point of its own (``fixed_point_distance`` may be
        None only where this is False)."""
        return bool(self.moments) or type(self).fixed_point_distance is not Rule.fixed_point_distance

    @property
    def has_eta(self) -> bool:
        return self.default_eta_network is not None

    def init_state(
        self, members: int, units: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> State:
        """α = 1, β = 0 for every neuron, plus the rule's own buffers."""
        shape = (members, units)
        state: State = {
            "alpha": torch.ones(shape, device=device, dtype=dtype),
            "beta": torch.zeros(shape, device=device, dtype=dtype),
            "t": 0,
        }
        if self.uses_adam:
            for key in ("alpha", "beta"):
                state[key + "_m"] = torch.zeros(shape, device=device, dtype=dtype)
                state[key + "_v"] = torch.zeros(shape, device=device, dtype=dtype)
        return state

    def transform(self, x: torch.Tensor, state: State, training: bool) -> torch.Tensor:
        """u from x. ``training`` matters only to rules whose forward pass uses batch statistics."""
        alpha = state["alpha"].unsqueeze(-2)
        beta = state["beta"].unsqueeze(-2)
        if self.form == "divide":
            return (x - beta) / safe_alpha(alpha)
        if self.form == "affine":
            return alpha * x + beta
        return x

    def prepare(self, state: State, x: torch.Tensor) -> None:
        """Before a training forward pass (only ``ip_hard`` sets α, β here)."""

    def step(self, state: State, x: torch.Tensor, y: torch.Tensor, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """New (α, β) from this batch; the base class writes them back. ``none`` keeps them; a rule with
        ``moments`` steps from those means of x and y."""
        if self.moments:
            return self.step_from_moments(state, batch_moments(x, y, self.moments), eta)
        return state["alpha"], state["beta"]

    def step_from_moments(
        self, state: State, means: dict[str, torch.Tensor], eta: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """New (α, β) from the batch means ``means`` (``[M, U]`` each, at least the rule's ``moments``)."""
        raise NotImplementedError(f"rule {self.name!r} declares no moments")

    @torch.no_grad()
    def update(
        self, state: State, x: torch.Tensor, y: torch.Tensor, eta: float, active: torch.Tensor | None = None
    ) -> None:
        """Apply the rule after a training forward pass.

        ``active`` ([M] bool) freezes members: where it is False, every buffer this update touches (α, β, the
        Adam moments) keeps its value, so a frozen member's state stays exactly as it was.
        """
        self._write(state, lambda: self.step(state, x.detach(), y.detach(), eta), active)

    @torch.no_grad()
    def update_from_moments(
        self, state: State, means: dict[str, torch.Tensor], eta: float, active: torch.Tensor | None = None
    ) -> None:
        """``update`` from the batch means of the rule's ``moments`` instead of x and y (the same update)."""
        self._write(state, lambda: self.step_from_moments(state, means, eta), active)

    @staticmethod
    def _write(
        state: State, step: Callable[[], tuple[torch.Tensor, torch.Tensor]], active: torch.Tensor | None
    ) -> None:
        state["t"] += 1
        if active is None:
            alpha, beta = step()
            state["alpha"].copy_(alpha)
            state["beta"].copy_(beta)
            return
        keep = active.unsqueeze(-1)
        # the step count t counts updates, not members (a tensor where a CUDA graph replays the update)
        before = {
            k: v.clone() for k, v in state.items() if isinstance(v, torch.Tensor) and not v.requires_grad and k != "t"
        }
        alpha, beta = step()
        state["alpha"].copy_(alpha)
        state["beta"].copy_(beta)
        for key, old in before.items():
            state[key].copy_(torch.where(keep, state[key], old))

    def fixed_point_distance(
        self, state: State, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """How far α and β are from this rule's own fixed point on this batch, ``[M, U]`` each (x, y ``[M, B,
        U]`` from the forward pass with the current α, β); None for rules without one (no rule, batchnorm,
        the Gaussian-target rule). Each rule states its target in its override; a rule with ``moments``
        in ``fixed_point_from_moments``."""
        if self.moments:
            return self.fixed_point_from_moments(state, batch_moments(x, y, self.moments))
        return None

    def fixed_point_from_moments(
        self, state: State, means: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``fixed_point_distance`` from the batch means of the rule's ``moments``."""
        return None

    def effective_alpha_beta(self, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        """α and β as the rule defines them (batchnorm reports its equivalent u = (x−β)/α)."""
        return state["alpha"], state["beta"]


class NoRule(Rule):
    name = "none"
    form = "none"


class IP(Rule):
    """Intrinsic plasticity, Adam-smoothed (thesis §3.2.1), corrected from the printed eq. 3.3.

    u = (x−β)/α;  α ← α − η·Adam(α − 2E[xy]);  β ← β + η·Adam(E[y])  (eq. 3.4 as printed).
    Corrected from the printed eq. 3.3, α ← α + η·Adam(2E[xy]), which has no fixed point (see ``IPPrinted``):
    here α moves toward 2E[xy], the target the thesis derives in §5.3. β settles where E[y] = 0, i.e.
    E[tanh((x−β)/α)] = 0 — near the median of x (Lemma 1, §5.1), between median and mean for skewed inputs.
    """

    name = "ip"
    uses_adam = True
    moments = ("xy", "y")

    def alpha_target(self, means: dict[str, torch.Tensor]) -> torch.Tensor:
        return 2 * means["xy"]

    def fixed_point_from_moments(self, state, means):
        """|α − 2E[xy]| and |E[y]| (2Cov(x, y) for ``ip_cov``; the printed rule is measured against the same
        target, which it never settles at)."""
        return (state["alpha"] - self.alpha_target(means)).abs(), means["y"].abs()

    def step_from_moments(self, state, means, eta):
        alpha = state["alpha"] - eta * adam_step(state, "alpha", state["alpha"] - self.alpha_target(means))
        beta = state["beta"] + eta * adam_step(state, "beta", means["y"])
        return alpha, beta


class IPCov(IP):
    """IP with α's target 2Cov(x, y) = 2(E[xy] − E[x]E[y]) instead of 2E[xy] (thesis §6.2, future work).

    §6.2 writes Cov(x, y) with no factor. We keep IP's factor 2: at β's fixed point E[y] = 0, so 2Cov(x, y) =
    2E[xy] and α's fixed point stays IP's; §6.2's reason for the covariance is that its E[x]E[y] term offsets
    approximation errors in y while α and β are still moving. Cov(x, y) alone would halve the settled gain α,
    a different rule that §6.2 does not motivate.
    """

    name = "ip_cov"
    moments = ("xy", "y", "x")

    def alpha_target(self, means):
        return 2 * (means["xy"] - means["x"] * means["y"])


class WD(Rule):
    """Weighted decay (thesis ch. 4): u = (x−β)/α;  α ← (1−η)α + η·2E[xy];  β ← (1−η)β + η·E[y].

    β's fixed point is E[y] ∈ (−1, 1), so WD cannot centre inputs whose median lies beyond |β| > 1.
    """

    name = "wd"
    moments = ("xy", "y")

    def alpha_target(self, means: dict[str, torch.Tensor]) -> torch.Tensor:
        return 2 * means["xy"]

    def fixed_point_from_moments(self, state, means):
        """|α − 2E[xy]| and |β − E[y]| (2Cov(x, y) for ``wd_cov``)."""
        return (state["alpha"] - self.alpha_target(means)).abs(), (state["beta"] - means["y"]).abs()

    def step_from_moments(self, state, means, eta):
        # lerp(a, b, η) = (1−η)·a + η·b, in one operation
        alpha = torch.lerp(state["alpha"], self.alpha_target(means), eta)
        beta = torch.lerp(state["beta"], means["y"], eta)
        return alpha, beta


class WDCov(WD):
    """WD with α's target 2Cov(x, y) (thesis §6.2, future work)."""

    name = "wd_cov"
    moments = ("xy", "y", "x")

    def alpha_target(self, means):
        return 2 * (means["xy"] - means["x"] * means["y"])


class Infomax(Rule):
    """Infomax for one tanh unit (Bell & Sejnowski 1995; thesis eq. 2.3–2.4).

    u = αx + β;  α ← α + η(1/α − 2E[xy]);  β ← β − 2η·E[y].
    Optional decay ``eta_decay`` d: update number t (1, 2, …) uses η·(1−d)ᵗ⁻¹ (the thesis found a small
    decay helps).
    """

    name = "infomax"
    form = "affine"

    moments = ("xy", "y")

    def __init__(self, eta_decay: float = 0.0):
        self.eta_decay = eta_decay

    def fixed_point_from_moments(self, state, means):
        """|α − 1/(2E[xy])| (where 1/α = 2E[xy], thesis eq. 5.6–5.8; NaN while E[xy] ≤ 0) and |E[y]|."""
        exy2 = 2 * means["xy"]
        target = torch.where(exy2 > 0, 1 / exy2.clamp(min=1e-12), torch.full_like(exy2, math.nan))
        return (state["alpha"] - target).abs(), means["y"].abs()

    def step_from_moments(self, state, means, eta):
        eta_t = eta * (1 - self.eta_decay) ** (state["t"] - 1)
        alpha = state["alpha"] + eta_t * (1 / safe_alpha(state["alpha"]) - 2 * means["xy"])
        beta = state["beta"] - 2 * eta_t * means["y"]
        return alpha, beta


class BNIncremental(Rule):
    """Incremental batch normalisation, Adam-smoothed (thesis §3.3.3), corrected from the printed eq. 3.8–3.9.

    u = (x−β)/α;  α ← α − η·Adam(α − σ[x]);  β ← β − η·Adam(β − E[x]).
    Corrected from the printed α ← α + η·Adam(σ[x]), β ← β + η·Adam(E[x]) (see ``BNIncrementalPrinted``),
    which never settle: here α, β move toward the batch statistics σ[x], E[x] that batch normalisation uses.
    """

    name = "bn_inc"
    uses_adam = True

    def fixed_point_distance(self, state, x, y):
        """|α − σ[x]| and |β − E[x]| (the printed rule is measured against the same targets)."""
        return (state["alpha"] - batch_std(x)).abs(), (state["beta"] - batch_mean(x)).abs()

    def step(self, state, x, y, eta):
        alpha = state["alpha"] - eta * adam_step(state, "alpha", state["alpha"] - batch_std(x))
        beta = state["beta"] - eta * adam_step(state, "beta", state["beta"] - batch_mean(x))
        return alpha, beta


class IPPrinted(IP):
    """IP exactly as the thesis prints it (eq. 3.3–3.4): kept to show why ``ip`` corrects it.

    u = (x−β)/α;  α ← α + η·Adam(2E[xy]);  β ← β + η·Adam(E[y]).
    Adam(g) ≈ sign(g) for a direction that keeps its sign, and 2E[xy] > 0 whenever the unit is centred, so α
    grows by about η per update without end: the tanh flattens and the output entropy falls. β's update is
    the one ``ip`` uses.
    """

    name = "ip_printed"

    def step_from_moments(self, state, means, eta):
        alpha = state["alpha"] + eta * adam_step(state, "alpha", self.alpha_target(means))
        beta = state["beta"] + eta * adam_step(state, "beta", means["y"])
        return alpha, beta


class BNIncrementalPrinted(BNIncremental):
    """Incremental BN exactly as the thesis prints it (eq. 3.8–3.9): kept to show why ``bn_inc`` corrects it.

    u = (x−β)/α;  α ← α + η·Adam(σ[x]);  β ← β + η·Adam(E[x]).
    σ[x] > 0 always, so α grows by about η per update; β runs away in the direction of E[x]'s sign.
    """

    name = "bn_inc_printed"

    def step(self, state, x, y, eta):
        alpha = state["alpha"] + eta * adam_step(state, "alpha", batch_std(x))
        beta = state["beta"] + eta * adam_step(state, "beta", batch_mean(x))
        return alpha, beta


class BNWeightedDecay(Rule):
    """Incremental batch normalisation by weighted decay (thesis eq. 4.3–4.4).

    u = (x−β)/α;  α ← (1−η)α + η·σ[x];  β ← (1−η)β + η·E[x].
    """

    name = "bn_wd"

    def fixed_point_distance(self, state, x, y):
        """|α − σ[x]| and |β − E[x]|."""
        return (state["alpha"] - batch_std(x)).abs(), (state["beta"] - batch_mean(x)).abs()

    def step(self, state, x, y, eta):
        alpha = torch.lerp(state["alpha"], batch_std(x), eta)  # (1−η)·α + η·σ[x]
        beta = torch.lerp(state["beta"], batch_mean(x), eta)  # (1−η)·β + η·E[x]
        return alpha, beta


def ip_fixed_point(
    x: torch.Tensor, alpha: torch.Tensor, iterations: int, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """IP's fixed point on a sample, along dimension −2 (thesis §5.1, §5.3, §6.2): β = the median of x and
    α = 2E[x·tanh((x − β)/α)], found by ``iterations`` fixed-point steps α ← 2E[x·tanh((x − β)/α)] from ``alpha``.

    Without ``weights`` E is the sample mean and the median the lower middle value of an even sample (what
    ``ip_hard`` does on every batch); with ``weights`` (same shape as x, e.g. a density on a grid) both are
    weighted: E[t] = Σ wt / Σ w and β the first x, in sorted order, where the weights' cumulative share reaches
    ½ (the home page's illustration of IP on a Gaussian). ``x`` is ``[..., B, U]``; α, β are ``[..., U]``.
    """
    if weights is None:
        beta = x.median(dim=-2).values

        def mean(t: torch.Tensor) -> torch.Tensor:
            return batch_mean(t)

    else:
        share = weights / weights.sum(dim=-2, keepdim=True)
        order = x.argsort(dim=-2)
        below_half = (share.gather(-2, order).cumsum(-2) < 0.5).sum(dim=-2, keepdim=True)
        beta = x.gather(-2, order).gather(-2, below_half).squeeze(-2)

        def mean(t: torch.Tensor) -> torch.Tensor:
            return (share * t).sum(dim=-2)

    centered = x - beta.unsqueeze(-2)
    for _ in range(iterations):
        y = tanh_value(centered / safe_alpha(alpha).unsqueeze(-2))
        alpha = 2 * mean(x * y)
    return alpha, beta


class IPHard(Rule):
    """Instantaneous ("hard") IP (thesis §6.2): u = (x−β)/α with β = the batch median of x (the lower middle
    value for an even batch) and α the solution of α = 2E[xy], y = tanh((x−β)/α), found on the current batch
    by a few fixed-point iterations started from the previous α. The statistics carry no gradient; evaluation
    uses the last training batch's α, β.
    """

    name = "ip_hard"
    fixed_point_iterations = 5

    def fixed_point_distance(self, state, x, y):
        """|α − 2E[xy]| and |β − median(x)|: what the few fixed-point iterations leave on this batch."""
        return (state["alpha"] - 2 * batch_mean(x * y)).abs(), (state["beta"] - x.median(dim=-2).values).abs()

    @torch.no_grad()
    def prepare(self, state: State, x: torch.Tensor) -> None:
        alpha, beta = ip_fixed_point(x.detach(), state["alpha"], self.fixed_point_iterations)
        state["alpha"].copy_(alpha)
        state["beta"].copy_(beta)


class BatchNorm(Rule):
    """Conventional batch normalisation before tanh (Ioffe & Szegedy 2015), the rule the thesis approximated.

    Training: u = γ·(x − E[x]) / √(Var[x] + ε) + b with batch statistics; evaluation uses running statistics
    (momentum 0.1). γ and b are learned by backprop. Reported as the equivalent u = (x−β)/α:
    α = σ/γ, β = μ − bσ/γ.
    """

    name = "batchnorm"
    has_parameters = True
    eps, momentum = 1e-5, 0.1

    def init_state(self, members, units, device="cpu", dtype=torch.float32):
        state = super().init_state(members, units, device, dtype)
        state["gamma"] = torch.ones((members, units), device=device, dtype=dtype, requires_grad=True)
        state["shift"] = torch.zeros((members, units), device=device, dtype=dtype, requires_grad=True)
        state["running_mean"] = torch.zeros((members, units), device=device, dtype=dtype)
        state["running_var"] = torch.ones((members, units), device=device, dtype=dtype)
        return state

    def transform(self, x, state, training):
        if training:
            mean = batch_mean(x)
            var = x.var(dim=-2, correction=0)
            with torch.no_grad():
                n = x.shape[-2]
                unbiased = var * n / max(n - 1, 1)
                state["running_mean"].lerp_(mean.detach(), self.momentum)
                state["running_var"].lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = state["running_mean"], state["running_var"]
        x_hat = (x - mean.unsqueeze(-2)) / torch.sqrt(var.unsqueeze(-2) + self.eps)
        return state["gamma"].unsqueeze(-2) * x_hat + state["shift"].unsqueeze(-2)

    def step(self, state, x, y, eta):
        # Not learned by a rule: α, β record the equivalent divide form for the plots.
        sigma = torch.sqrt(state["running_var"] + self.eps)
        gamma = safe_alpha(state["gamma"].detach())
        return sigma / gamma, state["running_mean"] - state["shift"].detach() * sigma / gamma


class Triesch(Rule):
    """Gaussian-target IP for tanh units (Schrauwen et al. 2008), the tanh analogue of Triesch's rule.

    u = a·x + b;  Δb = −η(−μ/s² + (y/s²)(2s² + 1 − y² + μy));  Δa = η/a + Δb·x, both batch-averaged.
    The output is driven toward a Gaussian of mean μ (default 0) and standard deviation s (default 0.2)
    (Schrauwen, Wardermann, Verstraeten, Steil & Stroobandt 2008, "Improving reservoirs using intrinsic
    plasticity"). Triesch 2005 derived the original rule for the logistic function with an exponential target
    distribution; this class implements Schrauwen et al.'s tanh/Gaussian form, not Triesch's. The registry
    name ``triesch`` is kept for existing records.
    """

    name = "triesch"
    form = "affine"

    def __init__(self, target_mean: float = 0.0, target_std: float = 0.2):
        self.target_mean, self.target_std = target_mean, target_std

    def step(self, state, x, y, eta):
        mu, s2 = self.target_mean, self.target_std**2
        delta_b = -eta * (-mu / s2 + (y / s2) * (2 * s2 + 1 - y * y + mu * y))
        alpha = state["alpha"] + eta / safe_alpha(state["alpha"]) + batch_mean(delta_b * x)
        beta = state["beta"] + batch_mean(delta_b)
        return alpha, beta


class TrieschLogistic(Rule):
    """Triesch's intrinsic plasticity for logistic units (Triesch 2005), the rule ``triesch`` adapts to tanh.

    u = a·x + b, y = σ(u) = 1/(1 + e⁻ᵘ);  Δb = η(1 − (2 + 1/μ)y + y²/μ);  Δa = η/a + x·Δb, both averaged over
    the batch. It is the stochastic gradient that lowers the Kullback–Leibler divergence of the output density
    from an exponential of mean μ: the maximum-entropy density on (0, ∞) with that mean (the one on (0, 1),
    truncated, for small μ). μ (``logistic_mean``, default 0.2) sets how sparse the output is.
    """

    name = "triesch_logistic"
    form = "affine"

    def __init__(self, target_mean: float = 0.2):
        self.target_mean = target_mean

    def step(self, state, x, y, eta):
        mu = self.target_mean
        delta_b = eta * (1 - (2 + 1 / mu) * y + y * y / mu)
        alpha = state["alpha"] + eta / safe_alpha(state["alpha"]) + batch_mean(x * delta_b)
        beta = state["beta"] + batch_mean(delta_b)
        return alpha, beta


class IPLogistic(BNIncremental):
    """The thesis's IP for logistic units (§3.1): shift by the mean E[x] and scale by the standard deviation
    σ[x], Adam-smoothed as IP: u = (x−β)/α, y = σ(u);  α ← α − η·Adam(α − σ[x]);  β ← β − η·Adam(β − E[x]).

    §3.1 sketches it in words only (tanh's median and 2E[xy] become E[x] and √Var(x) for the logistic
    function) and notes that it comes close to batch normalisation: its arithmetic is ``bn_inc``'s, applied
    before a logistic unit. Its output mean settles near σ(0) = ½ for roughly symmetric inputs.
    """

    name = "ip_logistic"


class IPNotebook(Rule):
    """IP as the thesis's published notebooks ran it (repository Shawfest/ip: ``new-deep-test.ipynb``, the deep
    nets of Figs 3.5–3.6; ``new-test-shallow.ipynb``, the shallow ones), not as its text prints it.

    u = (x−β)/α;  α ← (1−η)·α + η·2E[xy];  β ← β + η·c·E[y]·E[xy], with x the raw pre-activation and
    y = tanh((x−β)/α) of the same forward pass; c = 2 in the deep notebook (the default), 1 in the shallow one
    (``beta_factor``). The notebooks create Adam objects for α and β but never call them: α takes WD's step
    (a weighted decay toward 2E[xy], so a step of η·|α − 2E[xy]| instead of Adam's ≈ η), and β a plain step
    scaled by E[xy]. Its fixed point is IP's, α = 2E[xy] and E[y] = 0 (where E[xy] ≠ 0); the notebooks update
    after the output of every forward call is computed, as the engine does after every training pass.
    """

    name = "ip_notebook"
    moments = ("xy", "y")

    def __init__(self, beta_factor: float = 2.0):
        self.beta_factor = beta_factor

    def alpha_target(self, means: dict[str, torch.Tensor]) -> torch.Tensor:
        return 2 * means["xy"]

    def fixed_point_from_moments(self, state, means):
        """|α − 2E[xy]| and |E[y]|: IP's fixed point, which this rule shares."""
        return (state["alpha"] - self.alpha_target(means)).abs(), means["y"].abs()

    def step_from_moments(self, state, means, eta):
        alpha = torch.lerp(state["alpha"], self.alpha_target(means), eta)  # (1−η)·α + η·2E[xy]
        beta = state["beta"] + (eta * self.beta_factor) * means["y"] * means["xy"]
        return alpha, beta


if set(_CLASSES) != set(RULE_SPECS):  # a spec without its class is found at import
    raise ImportError(f"RuleSpecs without a class: {', '.join(sorted(set(RULE_SPECS) - set(_CLASSES)))}")
RULES: dict[str, type[Rule]] = {name: _CLASSES[name] for name in RULE_SPECS}
"""The registry: rule name → rule class, in ``RULE_SPECS``'s order."""


def get_rule(name: str, **options: float) -> Rule:
    """Instantiate a rule by name; unknown names raise ``KeyError`` listing the known ones."""
    try:
        cls = RULES[name]
    except KeyError:
        raise KeyError(f"unknown rule {name!r}; known rules: {', '.join(RULES)}") from None
    return cls(**options) if options else cls()


def make_rule(name: str, config: object) -> Rule:
    """The rule ``name`` with its options from an experiment config (``NeuronConfig``, ``TrainConfig``): the one
    factory of the single neuron and the networks, so both honour every option the rule's spec declares."""
    return get_rule(name, **rule_options(name, config))
