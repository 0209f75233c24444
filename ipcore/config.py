"""One validated config dataclass per experiment kind.

Every config validates itself (``ConfigError`` names the field and the allowed range) and round-trips
through JSON (``to_dict``/``from_dict``) and through flat ``key=value`` text (``to_flat``/``from_flat``),
which the app keeps in the URL. Flat form: lists are comma-separated (``rules=ip,wd``), dictionaries are
dotted keys (``eta.ip=0.001``), booleans are ``true``/``false``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_type_hints

from ipcore.rules import RULES, default_eta


class ConfigError(ValueError):
    """An invalid config value: ``field`` is the offending field's name."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class IpcoreWarning(UserWarning):
    """Something a run can go on with but the user should know (the CLI prints it as ``warning: …``)."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)  # resolving string annotations is slow (ms); configs are built often


def _type_of(cls: type, name: str) -> Any:
    return _hints(cls)[name]


def _parse_scalar(kind: Any, text: str, name: str) -> Any:
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            value = float(text)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise ConfigError(name, f"must be {expected} (got {text!r})") from None
    return text


def _coerce(kind: Any, value: Any, name: str) -> Any:
    """A JSON value (or text) converted to the field's declared type, or a ConfigError."""
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(name, f"must be a list (got {value!r})")
        return [_coerce(item, v, name) for v in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        if not isinstance(value, Mapping):
            raise ConfigError(name, f"must be a mapping of name to value (got {value!r})")
        return {str(k): _coerce(item, v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, str):
        return _parse_scalar(kind, value, name)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer():
            return int(value)
        raise ConfigError(name, f"must be an integer (got {value!r})")
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str:
        raise ConfigError(name, f"must be text (got {value!r})")
    raise ConfigError(name, f"has the wrong type (got {value!r})")


def _format_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class Config:
    """Base of the experiment configs: validation and the JSON / flat-text round trips."""

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    # --- JSON -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build and validate from a mapping; unknown keys are an error (a typo must not pass silently)."""
        data = dict(data)
        kind = data.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ConfigError("kind", f"must be {cls.kind!r} (got {kind!r})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; allowed keys: {', '.join(sorted(names))}")
        values = {k: _coerce(_type_of(cls, k), v, k) for k, v in data.items()}
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Config:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError("json", f"not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise ConfigError("json", "must be a JSON object")
        return cls.from_dict(data)

    # --- flat key=value (URL) -------------------------------------------------------------------------
    def to_flat(self) -> dict[str, str]:
        """Flat ``{key: text}``, only the fields that differ from the defaults (short URLs)."""
        default = type(self)()
        flat: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value, base = getattr(self, f.name), getattr(default, f.name)
            if value == base:
                continue
            if isinstance(value, dict):
                if not value:
                    flat[f.name] = ""
                for key, item in value.items():
                    text = ",".join(map(_format_scalar, item)) if isinstance(item, list) else _format_scalar(item)
                    flat[f"{f.name}.{key}"] = text
            elif isinstance(value, list):
                flat[f.name] = ",".join(_format_scalar(v) for v in value)
            else:
                flat[f.name] = _format_scalar(value)
        return flat

    @classmethod
    def from_flat(cls, flat: Mapping[str, str]) -> Config:
        data: dict[str, Any] = {}
        for key, text in flat.items():
            if "." in key:
                head, sub = key.split(".", 1)
                data.setdefault(head, {})[sub] = text
            elif text == "" and typing.get_origin(_type_of(cls, key) if key in _names(cls) else None) is dict:
                data[key] = {}
            else:
                data[key] = text
        return cls.from_dict(data)

    def to_text(self) -> str:
        """``key=value&key=value`` — the flat form as one line (the app's URL query)."""
        return "&".join(f"{k}={v}" for k, v in self.to_flat().items())

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def parse_pairs(text: str, field_name: str, key_name: str = "name") -> dict[str, float]:
    """``"a=2, scale=1.5"`` → ``{"a": 2.0, "scale": 1.5}`` (η per rule, a distribution's parameters); malformed
    text is a ConfigError on ``field_name`` (or ``field_name.key`` for a value that is not a number)."""
    pairs: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(field_name, f"expected {key_name}=value pairs separated by commas (got {part!r})")
        try:
            pairs[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{field_name}.{key.strip()}", f"must be a number (got {value.strip()!r})") from None
    return pairs


def parse_value_lists(text: str, field_name: str) -> dict[str, list[float]]:
    """``"ip=1e-4,1e-3,wd=0.1"`` → ``{"ip": [1e-4, 1e-3], "wd": [0.1]}``: a ``name=`` starts a name's list and bare
    values extend it (a sweep's η values per rule). Malformed text is a ConfigError on ``field_name``."""
    lists: dict[str, list[float]] = {}
    current = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if sep:
            current = key.strip()
            if not current:
                raise ConfigError(field_name, f"expected name=value (got {part!r})")
            lists.setdefault(current, [])
        elif current is None:
            raise ConfigError(field_name, f"expected name=value[,value…] first (got {part!r})")
        else:
            value = part
        try:
            lists[current].append(float(value))
        except ValueError:
            raise ConfigError(f"{field_name}.{current}", f"must be a number (got {value.strip()!r})") from None
    return lists


# --- shared checks ------------------------------------------------------------------------------------


def check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number (got {value})")


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, *, low_open: bool = False
) -> None:
    """``low ≤ value ≤ high`` (``low < value`` with ``low_open``), finite; the message states the range."""
    check_finite(name, value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or value <= high
    if not (lo_ok and hi_ok):
        left = "" if low is None else (f"> {_number_text(low)}" if low_open else f"≥ {_number_text(low)}")
        right = "" if high is None else f"≤ {_number_text(high)}"
        allowed = " and ".join(p for p in (left, right) if p)
        raise ConfigError(name, f"must be {allowed} (got {_number_text(value)})")


def _number_text(value: float) -> str:
    """Whole numbers in full (a seed bound of 2147483647 must read as such, not 2.14748e+09), floats short."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else f"{value:g}"


def check_rules(name: str, rules: list[str]) -> None:
    if not rules:
        raise ConfigError(name, f"choose at least one rule from: {', '.join(RULES)}")
    for rule in rules:
        if rule not in RULES:
            raise ConfigError(name, f"unknown rule {rule!r}; allowed: {', '.join(RULES)}")
    if len(set(rules)) != len(rules):
        raise ConfigError(name, f"each rule at most once (got {', '.join(rules)})")


def check_etas(name: str, etas: Mapping[str, float], rules: list[str]) -> None:
    """η > 0 and finite for every rule; η ≤ 1 for weighted-decay rules (η is a mixing weight there)."""
    for rule, eta in etas.items():
        field_name = f"{name}.{rule}"
        if rule not in RULES:
            raise ConfigError(field_name, f"unknown rule {rule!r}; allowed: {', '.join(RULES)}")
        if not RULES[rule]().has_eta:
            raise ConfigError(field_name, f"rule {rule!r} has no η")
        check_finite(field_name, eta)
        high = 1.0 if RULES[rule].weighted_decay else None
        check_range(field_name, eta, 0.0, high, low_open=True)


def check_activation(name: str, activation: str, rules: list[str], allowed: tuple[str, ...] | None = None) -> None:
    """``activation`` is one of ``allowed`` (default: every unit of ``ipcore.activations``), and every rule is meant
    for it: a rule whose targets are derived for one nonlinearity (IP's E[y] = 0 and α → 2E[xy] assume tanh;
    Triesch's exponential target assumes the logistic function) is refused under another (``Rule.activations``),
    naming the rules that are."""
    from ipcore.activations import ACTIVATIONS

    allowed = tuple(ACTIVATIONS) if allowed is None else allowed
    if activation not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)} (got {activation!r})")
    for rule in rules:
        meant_for = RULES[rule].activations
        if activation not in meant_for:
            fitting = [r for r, cls in RULES.items() if activation in cls.activations]
            raise ConfigError(
                "rules",
                f"rule {rule!r} is meant for {' or '.join(meant_for)} units, not {activation} "
                f"(its targets are derived for {meant_for[0]}); with {activation} use: {', '.join(fitting)}",
            )


OPTIMIZERS = ("adam", "sgd", "momentum")
"""The weights' optimizer: Adam (the thesis), plain SGD, or SGD with heavy-ball momentum (``ipcore.optim``)."""

MAX_DEPTH = 32
"""Hidden layers at most (the 30-layer nets of the gallery's depth entry fit)."""


def check_optimizer(config: Any) -> None:
    """``optimizer`` one of ``OPTIMIZERS``; ``momentum`` in [0, 1) (used by ``momentum`` only, checked always so a
    config never carries a value that becomes invalid when the optimizer is switched)."""
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError("optimizer", f"must be one of {', '.join(OPTIMIZERS)} (got {config.optimizer!r})")
    check_range("momentum", config.momentum, 0.0, 0.999)


def resolve_etas(rules: list[str], etas: Mapping[str, float], context: str) -> dict[str, float]:
    """η for each rule of a comparison: the given value, else the thesis default (0 for rules without η)."""
    return {r: float(etas.get(r, default_eta(r, context) or 0.0)) for r in rules}


# --- the single neuron --------------------------------------------------------------------------------

MAX_SEED = 2**31 - 1
"""Largest seed of any run (seeds are 0 … MAX_SEED: numpy's and torch's generators take them all)."""

NEURON_ACTIVATIONS = ("tanh", "logistic")
"""The single neuron's units: its output entropy and target density need a bounded output range."""

BUILTIN_DISTS = ("uniform", "gaussian", "laplace", "lognormal", "mixture")
MAX_RECORDS = 10_000
"""At most this many recorded rows per run (iters / record_every), each holding every rule's histogram."""


@dataclass
class NeuronConfig(Config):
    """The single-neuron experiment (thesis §5.2): a fixed sample, several rules, full-batch iterations.

    Distributions and their fields: ``uniform`` (center, width), ``gaussian`` (mu, sigma), ``laplace`` (mu, b),
    ``lognormal`` (mu, sigma of the log), ``mixture`` (weight·N(mu, sigma) + (1−weight)·N(mu2, sigma2)), or any
    continuous ``scipy.stats`` distribution by name with its shape parameters, loc and scale in ``params``.
    σ, width, b and σ₂ must be > 0 and weight in [0, 1] whichever distribution is chosen. Every rule runs
    ``iters`` full-batch iterations on the ``n`` samples; a row is recorded every ``record_every`` iterations
    (see ``record_stride``). ``eta_decay`` is Infomax's; ``triesch_mean``/``triesch_std`` are Triesch's target.
    ``activation``: the unit, tanh (the thesis) or logistic; ``logistic_mean`` is the mean μ ∈ (0, 0.5] of the
    exponential output density that Triesch 2005's logistic rule (``triesch_logistic``) aims at.
    """

    kind: ClassVar[str] = "neuron"

    dist: str = "gaussian"
    mu: float = 0.0
    sigma: float = 1.0
    center: float = 0.0
    width: float = 2.0
    b: float = 1.0
    mu2: float = 3.0
    sigma2: float = 1.0
    weight: float = 0.5
    params: dict[str, float] = field(default_factory=dict)
    n: int = 10_000
    seed: int = 0
    rules: list[str] = field(default_factory=lambda: ["ip", "wd", "infomax", "bn_inc"])
    eta: dict[str, float] = field(default_factory=dict)
    eta_decay: float = 0.0
    iters: int = 10_000
    record_every: int = 50
    triesch_mean: float = 0.0
    triesch_std: float = 0.2
    activation: str = "tanh"
    logistic_mean: float = 0.2

    def validate(self) -> None:
        if self.dist not in BUILTIN_DISTS:
            from ipcore.neuron import scipy_distribution

            scipy_distribution(self.dist, self.params)  # raises ConfigError on unknown names / bad params
        for name in ("mu", "mu2", "center"):
            check_finite(name, getattr(self, name))
        # Checked whatever the distribution, so a config never carries a value that would be invalid once the
        # user switches to the distribution that uses it.
        for name in ("sigma", "width", "b", "sigma2"):
            check_range(name, getattr(self, name), 0.0, low_open=True)
        check_range("weight", self.weight, 0.0, 1.0)
        if self.dist == "lognormal":
            check_range("sigma", self.sigma, 0.0, 20.0, low_open=True)
        check_range("n", self.n, 2, 10_000_000)
        check_range("seed", self.seed, 0, MAX_SEED)  # numpy's generator refuses negative seeds
        check_range("iters", self.iters, 1, 10_000_000)
        check_range("record_every", self.record_every, 1, None)
        check_rules("rules", self.rules)
        check_etas("eta", self.eta, self.rules)
        check_range("eta_decay", self.eta_decay, 0.0, 1.0)
        check_finite("triesch_mean", self.triesch_mean)
        check_range("triesch_std", self.triesch_std, 0.0, 1.0, low_open=True)
        check_activation("activation", self.activation, self.rules, NEURON_ACTIVATIONS)
        check_range("logistic_mean", self.logistic_mean, 0.0, 0.5, low_open=True)

    def etas(self) -> dict[str, float]:
        return resolve_etas(self.rules, self.eta, "neuron")

    def record_stride(self) -> int:
        """Iterations between recorded rows: ``record_every``, raised where needed so that a run keeps at most
        ``MAX_RECORDS`` rows (each holds every rule's output histogram)."""
        return max(self.record_every, math.ceil(self.iters / MAX_RECORDS))


# --- the networks -------------------------------------------------------------------------------------

TRAIN_OUTPUTS = ("relu", "linear")


def check_device(name: str, device: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is present is checked when the run starts)."""
    text = device.strip().lower()
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return
    raise ConfigError(name, f"must be auto, cpu, cuda or cuda:N (got {device!r})")


@dataclass
class TrainConfig(Config):
    """Deep tanh MLPs whose hidden units run an intrinsic rule, trained by Adam on cross-entropy (thesis
    §3.2.2, §3.3, ch. 4). Every rule × seed trains in lockstep as one batched model.

    ``dataset``: mnist, fashion-mnist, cifar10, clusters (clusters:D), spirals or imagefolder:PATH.
    ``output``: "relu" (the thesis: Linear then ReLU) or "linear". ``log_every``/``hist_every``: record the
    training loss / the output histograms every k batches (0 = automatic: ≤ 2000 loss rows, ≤ ~40 histograms).
    ``optimizer``: the weights' optimizer, "adam" (the thesis), "sgd" or "momentum" (heavy ball, coefficient
    ``momentum``), with learning rate ``lr``. ``activation``: the hidden units, "tanh" (the thesis), "logistic"
    or "relu"; each rule states the units it is meant for. ``logistic_mean``: Triesch's target mean.
    """

    kind: ClassVar[str] = "train"

    dataset: str = "mnist"
    data_root: str = ""
    rules: list[str] = field(default_factory=lambda: ["ip", "none"])
    eta: dict[str, float] = field(default_factory=dict)
    eta_decay: float = 0.0
    depth: int = 7
    width: int = 50
    lr: float = 0.01
    epochs: int = 1
    seeds: int = 1
    seed: int = 0
    batch_size: int = 200
    subset: int = 0
    output: str = "relu"
    device: str = "auto"
    log_every: int = 0
    hist_every: int = 0
    optimizer: str = "adam"
    momentum: float = 0.9
    activation: str = "tanh"
    logistic_mean: float = 0.2

    def validate(self) -> None:
        from ipcore.data import check_dataset_name

        check_dataset_name(self.dataset, "dataset")
        check_rules("rules", self.rules)
        check_etas("eta", self.eta, self.rules)
        check_range("eta_decay", self.eta_decay, 0.0, 1.0)
        check_range("depth", self.depth, 1, MAX_DEPTH)
        check_range("width", self.width, 1, 2048)
        check_range("lr", self.lr, 0.0, 10.0, low_open=True)
        check_range("epochs", self.epochs, 1, 1000)
        check_range("seeds", self.seeds, 1, 64)
        check_range("seed", self.seed, 0, MAX_SEED)
        if self.seed + self.seeds - 1 > MAX_SEED:  # the seeds run seed, seed + 1, …: the last must fit too
            raise ConfigError(
                "seed", f"the last seed, seed + seeds − 1, must be ≤ {MAX_SEED} (got {self.seed + self.seeds - 1})"
            )
        check_range("batch_size", self.batch_size, 1, 65536)
        check_range("subset", self.subset, 0, None)
        if self.output not in TRAIN_OUTPUTS:
            raise ConfigError("output", f"must be one of {', '.join(TRAIN_OUTPUTS)} (got {self.output!r})")
        check_device("device", self.device)
        check_range("log_every", self.log_every, 0, None)
        check_range("hist_every", self.hist_every, 0, None)
        check_optimizer(self)
        check_activation("activation", self.activation, self.rules)
        check_range("logistic_mean", self.logistic_mean, 0.0, 0.5, low_open=True)

    def etas(self) -> dict[str, float]:
        return resolve_etas(self.rules, self.eta, "network")


# --- sweeps -------------------------------------------------------------------------------------------

MAX_GRID_POINTS = 1000


@dataclass
class SweepConfig(Config):
    """A grid of network trainings: every learning rate in ``lr`` × every combination of the η values in ``eta``
    (rule → values; a rule not listed keeps its thesis default), each point comparing ``rules`` over ``seeds``
    seeds. Every point shares one architecture and dataset, so the whole grid trains as one lockstep model
    (``ipcore.sweep``). No field is a server path: the data come from the server's own data root.
    """

    kind: ClassVar[str] = "sweep"

    dataset: str = "clusters"
    rules: list[str] = field(default_factory=lambda: ["ip", "none"])
    lr: list[float] = field(default_factory=lambda: [0.003, 0.01, 0.03])
    eta: dict[str, list[float]] = field(default_factory=dict)
    eta_decay: float = 0.0
    depth: int = 7
    width: int = 50
    epochs: int = 1
    seeds: int = 3
    seed: int = 0
    batch_size: int = 200
    subset: int = 0
    output: str = "relu"
    device: str = "auto"
    optimizer: str = "adam"
    momentum: float = 0.9
    activation: str = "tanh"
    logistic_mean: float = 0.2

    def validate(self) -> None:
        from ipcore.data import check_dataset_name

        check_dataset_name(self.dataset, "dataset")
        if self.dataset.startswith("imagefolder"):
            raise ConfigError("dataset", "imagefolder names a server path; sweeps take the built-in datasets")
        check_rules("rules", self.rules)
        if not self.lr:
            raise ConfigError("lr", "give at least one learning rate")
        for value in self.lr:
            check_range("lr", value, 0.0, 10.0, low_open=True)
        if len(set(self.lr)) != len(self.lr):
            raise ConfigError("lr", f"each learning rate at most once (got {', '.join(map(str, self.lr))})")
        for rule, values in self.eta.items():
            if rule not in self.rules:
                raise ConfigError(f"eta.{rule}", f"rule {rule!r} is not among the rules ({', '.join(self.rules)})")
            if not values:
                raise ConfigError(f"eta.{rule}", "give at least one η")
            if len(set(values)) != len(values):
                raise ConfigError(f"eta.{rule}", "each η at most once")
            for value in values:
                check_etas("eta", {rule: value}, self.rules)
        check_range("eta_decay", self.eta_decay, 0.0, 1.0)
        check_range("depth", self.depth, 1, MAX_DEPTH)
        check_range("width", self.width, 1, 2048)
        check_range("epochs", self.epochs, 1, 1000)
        check_range("seeds", self.seeds, 1, 64)
        check_range("seed", self.seed, 0, 2**31 - 1)
        check_range("batch_size", self.batch_size, 1, 65536)
        check_range("subset", self.subset, 0, None)
        if self.output not in TRAIN_OUTPUTS:
            raise ConfigError("output", f"must be one of {', '.join(TRAIN_OUTPUTS)} (got {self.output!r})")
        check_device("device", self.device)
        check_optimizer(self)
        check_activation("activation", self.activation, self.rules)
        check_range("logistic_mean", self.logistic_mean, 0.0, 0.5, low_open=True)
        points = len(self.lr) * math.prod(len(v) for v in self.eta.values())
        if points > MAX_GRID_POINTS:
            raise ConfigError("lr", f"the grid has {points} points; at most {MAX_GRID_POINTS}")

    def points(self) -> list[tuple[float, dict[str, float]]]:
        """Every grid point as (lr, η of each rule that has one), lr outermost, then ``eta`` in its key order."""
        defaults = resolve_etas(self.rules, {}, "network")
        with_eta = [r for r in self.rules if RULES[r]().has_eta]
        swept = list(self.eta)
        out = []
        for lr in self.lr:
            for values in itertools.product(*(self.eta[r] for r in swept)):
                chosen = dict(zip(swept, values, strict=True))
                out.append((lr, {r: float(chosen.get(r, defaults[r])) for r in with_eta}))
        return out

    def point_config(self, lr: float, eta: Mapping[str, float]) -> TrainConfig:
        """The plain training run a grid point equals (to float rounding)."""
        return TrainConfig(
            dataset=self.dataset,
            rules=list(self.rules),
            eta=dict(eta),
            eta_decay=self.eta_decay,
            depth=self.depth,
            width=self.width,
            lr=lr,
            epochs=self.epochs,
            seeds=self.seeds,
            seed=self.seed,
            batch_size=self.batch_size,
            subset=self.subset,
            output=self.output,
            device=self.device,
            optimizer=self.optimizer,
            momentum=self.momentum,
            activation=self.activation,
            logistic_mean=self.logistic_mean,
        )


# --- registry of experiment kinds ---------------------------------------------------------------------

CONFIG_KINDS: dict[str, type[Config]] = {"neuron": NeuronConfig, "train": TrainConfig}
