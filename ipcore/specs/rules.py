"""What the rest of ipcore needs to know about each intrinsic rule, without loading torch.

Configs validate rule names and η against this table, the CLI's help and the app's pickers list it, and
``ipcore.engine.rules`` gives every rule class its title, default η and options from it (a class whose name has no
entry here fails at import). The torch code of a rule lives in ``ipcore.engine.rules``; its equation and source are
documented there, beside the code that implements them.

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
    incremental forms) work with any unit."""

    name: str
    title: str
    default_eta_network: float | None = None
    default_eta_neuron: float | None = None
    weighted_decay: bool = False
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    activations: tuple[str, ...] = ("tanh", "logistic", "relu")

    @property
    def has_eta(self) -> bool:
        return self.default_eta_network is not None

    def default_eta(self, context: str = "network") -> float | None:
        """The thesis's η: ``context`` is "network" or "neuron"."""
        return self.default_eta_network if context == "network" else self.default_eta_neuron


TANH = ("tanh",)
LOGISTIC = ("logistic",)

RULE_SPECS: dict[str, RuleSpec] = {
    spec.name: spec
    for spec in (
        RuleSpec("none", "standard (no intrinsic rule)"),
        RuleSpec("ip", "IP (Adam)", 1e-4, 1e-3, activations=TANH),
        RuleSpec("wd", "WD (weighted decay)", 0.1, 0.1, weighted_decay=True, activations=TANH),
        RuleSpec(
            "infomax", "Infomax", 1e-4, 1e-3, options=MappingProxyType({"eta_decay": "eta_decay"}), activations=TANH
        ),
        RuleSpec("bn_inc", "incremental BN (Adam)", 1e-4, 1e-3),
        RuleSpec("bn_wd", "incremental BN (weighted decay)", 0.1, 0.1, weighted_decay=True),
        RuleSpec("ip_cov", "IP, covariance target", 1e-4, 1e-3, activations=TANH),
        RuleSpec("wd_cov", "WD, covariance target", 0.1, 0.1, weighted_decay=True, activations=TANH),
        RuleSpec("ip_hard", "instantaneous IP", activations=TANH),
        RuleSpec("batchnorm", "batch normalisation"),
        RuleSpec(
            "triesch",
            "Schrauwen et al. (tanh, Gaussian target)",
            1e-4,
            1e-3,
            options=MappingProxyType({"target_mean": "triesch_mean", "target_std": "triesch_std"}),
            activations=TANH,
        ),
        RuleSpec("ip_printed", "IP as printed (eq. 3.3, no fixed point)", 1e-4, 1e-3, activations=TANH),
        RuleSpec("bn_inc_printed", "incremental BN as printed (eq. 3.8–3.9, no fixed point)", 1e-4, 1e-3),
        RuleSpec(
            "triesch_logistic",
            "Triesch 2005 (logistic, exponential target)",
            1e-4,
            1e-3,
            options=MappingProxyType({"target_mean": "logistic_mean"}),
            activations=LOGISTIC,
        ),
        RuleSpec("ip_logistic", "IP for logistic units (thesis §3.1)", 1e-4, 1e-3, activations=LOGISTIC),
        RuleSpec(
            "ip_notebook",
            "IP as the thesis's notebooks ran it (no Adam)",
            1e-4,
            1e-3,
            weighted_decay=True,
            options=MappingProxyType({"beta_factor": "notebook_beta_factor"}),
            activations=TANH,
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
