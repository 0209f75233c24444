"""What the rest of ipcore needs to know about each intrinsic rule, without loading torch.

Configs validate rule names and η against this table, the CLI's help and the app's pickers list it, and
``ipcore.engine.rules`` gives every rule class its title, default η, options and words (equation, source, how it
differs from the printed form) from it (a class whose name has no entry here fails at import). The torch code of a
rule lives in ``ipcore.engine.rules``, with its derivation in the class's docstring; the words the app shows are
here, so that its pages draw them without loading torch.

Adding a rule: one ``RuleSpec`` below, its class in ``ipcore.engine.rules``, and its test. A rule that takes options
(Infomax's η decay, Triesch's target) names the config field that feeds each constructor argument in
``options``; every experiment config that runs rules must declare those fields (a test checks this).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class RuleSpec:
    """One rule's facts. ``default_eta_network``/``default_eta_neuron``: the thesis's η in the networks and for
    the single neuron (None: the rule has no η). ``weighted_decay``: η is a mixing weight, so it lies in (0, 1].
    ``options``: constructor argument → the config field that sets it. ``activations``: the hidden units the rule
    is meant for (first: the one its targets are derived for). A rule whose fixed point assumes a nonlinearity —
    IP's E[y] = 0 and α → 2E[xy] assume tanh's (−1, 1), Triesch 2005's exponential target the logistic's (0, 1) —
    is refused under the others (``config.check_activation``); rules that only standardise x (batch norm and its
    incremental forms) work with any unit. ``equation`` (LaTeX), ``source`` and ``printed_note`` (how the rule
    differs from the equation as the thesis prints it, if it does): what the app and ``ipcore rules`` show."""

    name: str
    title: str
    default_eta_network: float | None = None
    default_eta_neuron: float | None = None
    weighted_decay: bool = False
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    activations: tuple[str, ...] = ("tanh", "logistic", "relu")
    equation: str = ""
    source: str = ""
    printed_note: str = ""

    @property
    def has_eta(self) -> bool:
        return self.default_eta_network is not None

    def default_eta(self, context: str = "network") -> float | None:
        """The thesis's η: ``context`` is "network" or "neuron"."""
        return self.default_eta_network if context == "network" else self.default_eta_neuron


COV_FACTOR_NOTE = (
    "§6.2 writes Cov(x, y) without a factor; we keep IP's factor 2 so that α's fixed point is unchanged where β "
    "has settled (E[y] = 0 gives Cov(x, y) = E[xy]): §6.2 motivates the covariance by the E[x]E[y] term offsetting "
    "approximation errors, not by halving the gain, which Cov(x, y) alone would do"
)
NOTEBOOK_SOURCE = "the thesis's published code: github.com/Shawfest/ip, new-deep-test.ipynb (class IP, update)"

TANH = ("tanh",)
LOGISTIC = ("logistic",)

RULE_SPECS: dict[str, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec("none", "standard (no intrinsic rule)", equation=r"u = x", source="standard network"),
        RuleSpec(
            "ip",
            "IP (Adam)",
            1e-4,
            1e-3,
            activations=TANH,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow \alpha-\eta\,\mathrm{Adam}(\alpha-2E[xy]),\quad \beta \leftarrow \beta+\eta\,\mathrm{Adam}(E[y])",
            source="thesis §3.2.1",
            printed_note="corrected from the printed eq. 3.3: α ← α + η·Adam(2E[xy]), which grows α by about η every update and "
            "never settles (rule `ip_printed`); here α moves toward 2E[xy] (§5.3)",
        ),
        RuleSpec(
            "wd",
            "WD (weighted decay)",
            0.1,
            0.1,
            weighted_decay=True,
            activations=TANH,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow (1-\eta)\alpha+2\eta E[xy],\quad \beta \leftarrow (1-\eta)\beta+\eta E[y]",
            source="thesis ch. 4",
        ),
        RuleSpec(
            "infomax",
            "Infomax",
            1e-4,
            1e-3,
            options=MappingProxyType({"eta_decay": "eta_decay"}),
            activations=TANH,
            equation=r"u=\alpha x+\beta,\quad \alpha \leftarrow \alpha+\eta\left(\tfrac{1}{\alpha}-2E[xy]\right),\quad \beta \leftarrow \beta-2\eta E[y]",
            source="Bell & Sejnowski 1995; thesis eq. 2.3–2.4",
        ),
        RuleSpec(
            "bn_inc",
            "incremental BN (Adam)",
            1e-4,
            1e-3,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow \alpha-\eta\,\mathrm{Adam}(\alpha-\sigma[x]),\quad \beta \leftarrow \beta-\eta\,\mathrm{Adam}(\beta-E[x])",
            source="thesis §3.3.3, eq. 3.8–3.9",
            printed_note="corrected from the printed eq. 3.8–3.9: α ← α + η·Adam(σ[x]), β ← β + η·Adam(E[x]), which grow by "
            "about η every update and never settle (rule `bn_inc_printed`); here α → σ[x], β → E[x]",
        ),
        RuleSpec(
            "bn_wd",
            "incremental BN (weighted decay)",
            0.1,
            0.1,
            weighted_decay=True,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow (1-\eta)\alpha+\eta\,\sigma[x],\quad \beta \leftarrow (1-\eta)\beta+\eta E[x]",
            source="thesis eq. 4.3–4.4",
        ),
        RuleSpec(
            "ip_cov",
            "IP, covariance target",
            1e-4,
            1e-3,
            activations=TANH,
            equation=r"\alpha \leftarrow \alpha-\eta\,\mathrm{Adam}(\alpha-2\,\mathrm{Cov}(x,y)),\quad \beta \leftarrow \beta+\eta\,\mathrm{Adam}(E[y])",
            source="thesis §6.2",
            printed_note="corrected as `ip` (from the printed eq. 3.3); " + COV_FACTOR_NOTE,
        ),
        RuleSpec(
            "wd_cov",
            "WD, covariance target",
            0.1,
            0.1,
            weighted_decay=True,
            activations=TANH,
            equation=r"\alpha \leftarrow (1-\eta)\alpha+2\eta\,\mathrm{Cov}(x,y),\quad \beta \leftarrow (1-\eta)\beta+\eta E[y]",
            source="thesis §6.2",
            printed_note=COV_FACTOR_NOTE,
        ),
        RuleSpec(
            "ip_hard",
            "instantaneous IP",
            activations=TANH,
            equation=r"\beta=\mathrm{median}(x),\quad \alpha = 2E\left[x\tanh\tfrac{x-\beta}{\alpha}\right]\ \text{(fixed point on the batch)}",
            source="thesis §6.2",
        ),
        RuleSpec(
            "batchnorm",
            "batch normalisation",
            equation=r"u=\gamma\,\frac{x-E[x]}{\sqrt{\mathrm{Var}[x]+\epsilon}}+b",
            source="Ioffe & Szegedy 2015",
        ),
        RuleSpec(
            "triesch",
            "Schrauwen et al. (tanh, Gaussian target)",
            1e-4,
            1e-3,
            options=MappingProxyType({"target_mean": "triesch_mean", "target_std": "triesch_std"}),
            activations=TANH,
            equation=r"\Delta b=-\eta\left(-\tfrac{\mu}{s^2}+\tfrac{y}{s^2}(2s^2+1-y^2+\mu y)\right),\quad \Delta a=\tfrac{\eta}{a}+\Delta b\,x",
            source="Schrauwen et al. 2008 (tanh form of Triesch 2005's logistic/exponential rule)",
        ),
        RuleSpec(
            "ip_printed",
            "IP as printed (eq. 3.3, no fixed point)",
            1e-4,
            1e-3,
            activations=TANH,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow \alpha+\eta\,\mathrm{Adam}(2E[xy]),\quad \beta \leftarrow \beta+\eta\,\mathrm{Adam}(E[y])",
            source="thesis eq. 3.3–3.4, as printed",
            printed_note="the printed form; `ip` is the corrected rule",
        ),
        RuleSpec(
            "bn_inc_printed",
            "incremental BN as printed (eq. 3.8–3.9, no fixed point)",
            1e-4,
            1e-3,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow \alpha+\eta\,\mathrm{Adam}(\sigma[x]),\quad \beta \leftarrow \beta+\eta\,\mathrm{Adam}(E[x])",
            source="thesis eq. 3.8–3.9, as printed",
            printed_note="the printed form; `bn_inc` is the corrected rule",
        ),
        RuleSpec(
            "triesch_logistic",
            "Triesch 2005 (logistic, exponential target)",
            1e-4,
            1e-3,
            options=MappingProxyType({"target_mean": "logistic_mean"}),
            activations=LOGISTIC,
            equation=r"y=\sigma(ax+b),\quad \Delta b=\eta\left(1-(2+\tfrac{1}{\mu})y+\tfrac{y^2}{\mu}\right),\quad \Delta a=\tfrac{\eta}{a}+x\,\Delta b",
            source="Triesch 2005",
        ),
        RuleSpec(
            "ip_logistic",
            "IP for logistic units (thesis §3.1)",
            1e-4,
            1e-3,
            activations=LOGISTIC,
            equation=r"y=\sigma\!\left(\tfrac{x-\beta}{\alpha}\right),\quad \alpha \leftarrow \alpha-\eta\,\mathrm{Adam}(\alpha-\sigma[x]),\quad \beta \leftarrow \beta-\eta\,\mathrm{Adam}(\beta-E[x])",
            source="thesis §3.1 (logistic variant, described in words)",
        ),
        RuleSpec(
            "ip_notebook",
            "IP as the thesis's notebooks ran it (no Adam)",
            1e-4,
            1e-3,
            weighted_decay=True,
            options=MappingProxyType({"beta_factor": "notebook_beta_factor"}),
            activations=TANH,
            equation=r"u=\frac{x-\beta}{\alpha},\quad \alpha \leftarrow (1-\eta)\alpha+2\eta E[xy],\quad \beta \leftarrow \beta+c\,\eta\,E[y]\,E[xy]",
            source=NOTEBOOK_SOURCE + "; c = 1 in new-test-shallow.ipynb",
            printed_note="the notebooks' code, not the text's eq. 3.3–3.4: no Adam (the Adam objects are created but never "
            "called), α takes WD's step toward 2E[xy] and β a step scaled by E[xy]",
        ),
    )
}
"""The rules by name, in the order the app, the CLI and the charts list them (a rule's colour follows its place:
add new rules at the end)."""


def default_eta(name: str, context: str = "network") -> float | None:
    """The thesis's η for a rule: ``context`` is "network" or "neuron"."""
    return RULE_SPECS[name].default_eta(context)


def rule_options(name: str, config: object) -> dict[str, float]:
    """The constructor options of rule ``name`` taken from ``config``'s fields (Infomax's ``eta_decay``,
    Triesch's ``triesch_mean``/``triesch_std``); empty for a rule without options."""
    return {arg: float(getattr(config, source)) for arg, source in RULE_SPECS[name].options.items()}


def eta_help(context: str) -> str:
    """The default η of every rule that has one, for help texts: ``ip 0.001, wd 0.1, …`` (grouped by value)."""
    groups: dict[float, list[str]] = {}
    for spec in RULE_SPECS.values():
        value = spec.default_eta(context)
        if value is not None:
            groups.setdefault(value, []).append(spec.name)
    return "; ".join(f"{'/'.join(names)} {value:g}" for value, names in groups.items())


RULE_MODULES_ENV = "IPCORE_RULE_MODULES"
"""Files of rules of the user's own that the app, the CLI and every job process load at start, joined by
``os.pathsep`` (``ipcore.engine.custom_rules``): named by the operator, never by a browser."""


def env_rule_modules(environ: Mapping[str, str] | None = None) -> list[str]:
    """The rule files ``IPCORE_RULE_MODULES`` names (empty entries skipped); reading it needs no torch."""
    import os

    text = (os.environ if environ is None else environ).get(RULE_MODULES_ENV, "")
    return [part.strip() for part in text.split(os.pathsep) if part.strip()]
