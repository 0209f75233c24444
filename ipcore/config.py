"""One validated config dataclass per experiment kind.

Every config validates itself (``ConfigError`` names the field and the allowed range) and round-trips
through JSON (``to_dict``/``from_dict``) and through flat ``key=value`` text (``to_flat``/``from_flat``),
which the app keeps in the URL. Flat form: lists are comma-separated (``rules=ip,wd``), dictionaries are
dotted keys (``eta.ip=0.001``), booleans are ``true``/``false``.

Every field is declared once, with its help, allowed range or choices and how a lab shows it (``declare`` →
``FieldSpec``): validation, the CLI's flags (``ipcore.cli``) and the labs' widgets (``app.controls``) are
generated from that declaration, so a new field needs nothing else. Rule names and η are checked against the
torch-free ``ipcore.specs.rules``, dataset names against ``ipcore.data.DATASETS``: parsing a config (a URL, a
stored record) never loads torch.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_type_hints

from ipcore.data import check_dataset_name, dataset_help
from ipcore.errors import ConfigError as ConfigError  # re-exported: callers import both from here
from ipcore.errors import IpcoreWarning as IpcoreWarning
from ipcore.locations import check_data_root
from ipcore.specs.activations import ACTIVATION_NAMES, NEURON_ACTIVATIONS
from ipcore.specs.rules import RULE_SPECS, eta_help


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


# --- declared fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """What a config field is, said once: its help, its allowed values and how a lab shows it. Validation
    (``Config.validate``), the CLI's flags (``ipcore.cli``) and the labs' widgets (``app.controls``) all read it.

    ``low``/``high`` (``low_open``: strictly above ``low``) bound a number, or every number of a list; ``choices``
    are the only values allowed; ``check(name, value)`` is any other check of the value alone (raising
    ConfigError). ``suggestions``: what a picker offers where the text allows more (``device``: cuda:N).
    ``key_name``: what a mapping's keys are (η per *rule*). ``label``, ``widget`` ("slider", "radio", "log")
    and ``step`` shape the lab's widget; ``browser=False`` keeps a field out of the labs and the address (a server
    path); ``lab_advanced=False`` leaves it to the page's own controls.
    """

    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    check: Callable[[str, Any], None] | None = None
    suggestions: tuple[str, ...] = ()
    key_name: str = "name"
    label: str = ""
    widget: str = ""
    step: float | None = None
    browser: bool = True

    def validate(self, name: str, value: Any) -> None:
        """ConfigError unless ``value`` (a number, a text, or a list of them) is allowed; the message names the
        field and the allowed range."""
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (list, dict)):
                continue
            if self.choices and item not in self.choices:
                raise ConfigError(name, f"must be one of {', '.join(self.choices)} (got {item!r})")
            if isinstance(item, float):
                check_finite(name, item)
            if (self.low is not None or self.high is not None) and isinstance(item, (int, float)):
                check_range(name, item, self.low, self.high, low_open=self.low_open)
        if self.check is not None:
            self.check(name, value)

    def range_text(self) -> str:
        """The allowed values in words: ``1–16``, ``> 0``, ``≥ 1``, ``relu or linear``; "" when anything goes."""
        if self.choices:
            return (
                ", ".join(self.choices[:-1]) + f" or {self.choices[-1]}" if len(self.choices) > 1 else self.choices[0]
            )
        if self.low is not None and self.high is not None and not self.low_open:
            return f"{_number_text(self.low)}–{_number_text(self.high)}"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '≥'} {_number_text(self.low)}")
        if self.high is not None:
            parts.append(f"≤ {_number_text(self.high)}")
        return " and ".join(parts)


def declare(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """A dataclass field with its ``FieldSpec`` (``declare(7, help="hidden layers", low=1, high=16)``);
    ``factory`` for a mutable default."""
    metadata = {"spec": FieldSpec(**spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def field_spec(cls: type, name: str) -> FieldSpec:
    """The declared ``FieldSpec`` of ``cls.name`` (a field declared without one gets a plain spec)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("spec") or FieldSpec(help=name.replace("_", " "))
    raise KeyError(name)


def field_type(cls: type, name: str) -> Any:
    """The field's resolved type (``int``, ``list[str]``, ``dict[str, float]`` …)."""
    return _type_of(cls, name)


@dataclass
class Config:
    """Base of the experiment configs: validation and the JSON / flat-text round trips."""

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Every field against its declaration, in field order; subclasses add the checks that involve
        several fields."""
        for f in dataclasses.fields(self):
            spec = f.metadata.get("spec")
            if spec is not None:
                spec.validate(f.name, getattr(self, f.name))

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


RULE_NAMES = tuple(RULE_SPECS)


UNKNOWN_RULE_HINT = (
    "a rule of your own must be registered first (ipcore.register_rule or ipcore.load_rule_module in Python, "
    "--rules-module on the command line, IPCORE_RULE_MODULES for the app)"
)


def check_rules(name: str, rules: list[str]) -> None:
    if not rules:
        raise ConfigError(name, f"choose at least one rule from: {', '.join(RULE_SPECS)}")
    for rule in rules:
        if rule not in RULE_SPECS:
            raise ConfigError(name, f"unknown rule {rule!r}; allowed: {', '.join(RULE_SPECS)}; {UNKNOWN_RULE_HINT}")
    if len(set(rules)) != len(rules):
        raise ConfigError(name, f"each rule at most once (got {', '.join(rules)})")


def check_etas(name: str, etas: Mapping[str, float], rules: list[str] | None = None) -> None:
    """η > 0 and finite for every rule; η ≤ 1 for weighted-decay rules (η is a mixing weight there)."""
    for rule, eta in etas.items():
        field_name = f"{name}.{rule}"
        if rule not in RULE_SPECS:
            raise ConfigError(field_name, f"unknown rule {rule!r}; allowed: {', '.join(RULE_SPECS)}")
        if not RULE_SPECS[rule].has_eta:
            raise ConfigError(field_name, f"rule {rule!r} has no η")
        check_finite(field_name, eta)
        high = 1.0 if RULE_SPECS[rule].weighted_decay else None
        check_range(field_name, eta, 0.0, high, low_open=True)


OPTIMIZERS = ("adam", "sgd", "momentum")
"""The weights' optimizer: Adam (the thesis), plain SGD, or SGD with heavy-ball momentum (``ipcore.engine.optim``)."""
MAX_DEPTH = 32
"""Hidden layers at most (the 30-layer nets of the gallery's depth entry fit)."""


def check_activation(name: str, activation: str, rules: list[str]) -> None:
    """Every rule is meant for the ``activation`` units: a rule whose targets are derived for one nonlinearity
    (IP's E[y] = 0 and α → 2E[xy] assume tanh; Triesch 2005's exponential target the logistic function) is
    refused under another (``RuleSpec.activations``), naming the rules that fit."""
    for rule in rules:
        meant_for = RULE_SPECS[rule].activations
        if activation not in meant_for:
            fitting = [r for r, spec in RULE_SPECS.items() if activation in spec.activations]
            raise ConfigError(
                "rules",
                f"rule {rule!r} is meant for {' or '.join(meant_for)} units, not {activation} "
                f"(its targets are derived for {meant_for[0]}); with {activation} use: {', '.join(fitting)}",
            )


def resolve_etas(rules: list[str], etas: Mapping[str, float], context: str) -> dict[str, float]:
    """η for each rule of a comparison: the given value, else the thesis default (0 for rules without η)."""
    return {r: float(etas.get(r, RULE_SPECS[r].default_eta(context) or 0.0)) for r in rules}


# --- the single neuron --------------------------------------------------------------------------------

MAX_SEED = 2**31 - 1
"""Largest seed of any run (seeds are 0 … MAX_SEED: numpy's and torch's generators take them all)."""

BUILTIN_DISTS = ("uniform", "gaussian", "laplace", "lognormal", "mixture")
MAX_RECORDS = 10_000
"""At most this many recorded rows per run (iters / record_every), each holding every rule's histogram."""


def scipy_distribution(name: str, params: dict[str, float]) -> Any:
    """A frozen continuous ``scipy.stats`` distribution from its name and parameters, or a ConfigError."""
    import scipy.stats  # imported when a scipy name is checked: most configs never need it

    dist = getattr(scipy.stats, name, None)
    if not isinstance(dist, scipy.stats.rv_continuous):
        raise ConfigError(
            "dist",
            f"unknown distribution {name!r}; use uniform, gaussian, laplace, lognormal, mixture "
            "or the name of a continuous scipy.stats distribution (e.g. gamma, beta, t)",
        )
    shapes = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    allowed = set(shapes) | {"loc", "scale"}
    for key, value in params.items():
        if key not in allowed:
            raise ConfigError(f"params.{key}", f"not a parameter of {name}; allowed: {', '.join(sorted(allowed))}")
        if not math.isfinite(value):
            raise ConfigError(f"params.{key}", f"must be a finite number (got {value})")
    missing = [s for s in shapes if s not in params]
    if missing:
        raise ConfigError(f"params.{missing[0]}", f"{name} needs its shape parameter(s) {', '.join(shapes)}")
    if params.get("scale", 1.0) <= 0:
        raise ConfigError("params.scale", f"must be > 0 (got {params['scale']:g})")
    _check_scipy_parameters(name, tuple(sorted(params.items())))
    return dist(**params)


SCIPY_SETTINGS_FILE = "scipy-settings.json"
"""In the cache folder: the scipy settings found valid before, by scipy version (``check_scipy_setting``)."""


def _setting_key(name: str, params: Mapping[str, float]) -> str:
    return json.dumps([name, sorted((str(k), float(v)) for k, v in params.items())], separators=(",", ":"))


def _scipy_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("scipy")
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _known_settings() -> set[str]:
    """The settings this machine's scipy accepted before (read once per process; an unreadable file is none)."""
    from ipcore.locations import cache_dir

    try:
        stored = json.loads((cache_dir() / SCIPY_SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if (
        not isinstance(stored, dict)
        or stored.get("scipy") != _scipy_version()
        or not isinstance(stored.get("valid"), list)
    ):
        return set()
    return {key for key in stored["valid"] if isinstance(key, str)}


def _remember_setting(key: str) -> None:
    """Add a valid setting to the cache file (atomically: a temporary file, then a rename; best effort)."""
    import os
    import tempfile

    from ipcore.locations import cache_dir

    known = _known_settings()
    known.add(key)
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".scipy-settings-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({"scipy": _scipy_version(), "valid": sorted(known)[-4096:]}, file)
        os.replace(temporary, folder / SCIPY_SETTINGS_FILE)
    except OSError:
        pass


def check_scipy_setting(name: str, params: Mapping[str, float]) -> None:
    """``scipy_distribution``'s checks, remembered: a setting (name and parameters) that this machine's scipy
    accepted before passes without importing scipy.stats (2–4 s) or computing its median in a worker — what
    listing the gallery's records cost every new server. The memory is a JSON file in the cache folder
    (``ipcore.locations.cache_dir``), kept per scipy version; a setting not in it is checked in full."""
    key = _setting_key(name, params)
    if key in _known_settings():
        return
    scipy_distribution(name, dict(params))
    _remember_setting(key)


SCIPY_CHECK_S = 2.0
"""How long checking a scipy distribution's parameters may take (its median, in a worker process)."""


def scipy_median(name: str, params: dict[str, float]) -> float:
    """The median of ``scipy.stats.<name>(**params)`` (what ``_check_scipy_parameters`` runs in a worker)."""
    import scipy.stats

    return float(getattr(scipy.stats, name)(**params).median())


@functools.lru_cache(maxsize=256)
def _check_scipy_parameters(name: str, params: tuple[tuple[str, float], ...]) -> None:
    """A ConfigError on ``params`` unless the distribution has a finite median, computed in a worker process
    within ``SCIPY_CHECK_S`` (some take minutes for some parameters, and raise after). Parameters that passed are
    remembered, so each setting is checked once per process."""
    import numpy as np

    from ipcore.bounded import TimeLimitExceeded, WorkerError, call_with_time_limit

    shown = ", ".join(f"{k}={v:g}" for k, v in params) or "no parameters"
    try:
        median = call_with_time_limit(scipy_median, (name, dict(params)), SCIPY_CHECK_S)
    except TimeLimitExceeded:
        raise ConfigError(
            "params",
            f"{name} with {shown} takes longer than {SCIPY_CHECK_S:g} s even to check (its median); "
            "choose other parameters",
        ) from None
    except WorkerError as error:
        raise ConfigError("params", f"{name} with {shown} is not a usable distribution ({error})") from None
    if not np.isfinite(median):
        raise ConfigError("params", f"{name} with {shown} is not a valid distribution (bad shape parameters)")


TRAIN_OUTPUTS = ("relu", "linear")


def check_device(name: str, device: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is present is checked when the run starts)."""
    text = device.strip().lower()
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return
    raise ConfigError(name, f"must be auto, cpu, cuda or cuda:N (got {device!r})")


def check_dataset(name: str, dataset: str) -> None:
    """One of ``ipcore.data.DATASETS`` (an image folder itself is checked when it loads)."""
    check_dataset_name(dataset, name)


def check_sweep_dataset(name: str, dataset: str) -> None:
    """A known dataset that is not a server path (a sweep is launched from a browser)."""
    check_dataset_name(dataset, name)
    if dataset.startswith("imagefolder"):
        raise ConfigError(name, "imagefolder names a server path; sweeps take the built-in datasets")


def check_distinct(name: str, values: list[float]) -> None:
    if not values:
        raise ConfigError(name, "give at least one learning rate")
    if len(set(values)) != len(values):
        raise ConfigError(name, f"each learning rate at most once (got {', '.join(map(str, values))})")


# Fields that several configs share, declared once.
RULES_FIELD = {
    "help": "comma-separated rules to compare: " + ", ".join(RULE_SPECS),
    "check": check_rules,
    "label": "rules to compare",
}
ETA_DECAY_FIELD = {"help": "Infomax's η decay per update", "low": 0.0, "high": 1.0,
                   "label": "η decay per step (infomax)", "step": 1e-4}  # fmt: skip
TRIESCH_MEAN_FIELD = {"help": "triesch's target mean μ of y", "label": "Triesch target mean μ", "step": 0.05}
TRIESCH_STD_FIELD = {"help": "triesch's target std s of y", "low": 0.0, "high": 1.0, "low_open": True,
                     "label": "Triesch target std s", "step": 0.05}  # fmt: skip
SEED_FIELD = {"low": 0, "high": MAX_SEED, "step": 1}
DEPTH_FIELD = {"help": "hidden layers (thesis: 1 shallow, 7 deep)", "low": 1, "high": MAX_DEPTH,
               "label": "hidden layers (depth)", "widget": "slider"}  # fmt: skip
WIDTH_FIELD = {"help": "units per hidden layer (thesis: 50 MNIST, 150 CIFAR-10)", "low": 1, "high": 2048,
               "label": "units per hidden layer (width)", "step": 10}  # fmt: skip
EPOCHS_FIELD = {"help": "passes over the training set", "low": 1, "high": 1000, "label": "epochs", "step": 1}
SEEDS_FIELD = {"help": "seeds per rule, all trained together", "low": 1, "high": 64, "label": "seeds per rule"}
BATCH_FIELD = {"help": "samples per batch", "low": 1, "high": 65536, "label": "batch size"}
SUBSET_FIELD = {"help": "train on the first N training samples (0 = all)", "low": 0,
                "label": "train subset (0 = all samples)", "step": 1000}  # fmt: skip
OUTPUT_FIELD = {"help": "output layer (relu: Linear then ReLU, as the thesis; linear: plain logits)", "choices": TRAIN_OUTPUTS,
                "label": "output layer", "widget": "radio"}  # fmt: skip
OPTIMIZER_FIELD = {"help": "the weights' optimizer: adam (the thesis's), sgd (plain gradient steps: no per-weight "
                   "rescaling, so vanishing gradients show) or momentum (SGD with heavy-ball momentum)",
                   "choices": OPTIMIZERS, "label": "optimizer", "widget": "radio"}  # fmt: skip
MOMENTUM_FIELD = {"help": "momentum coefficient (optimizer momentum only)", "low": 0.0, "high": 0.999,
                  "label": "momentum", "step": 0.05}  # fmt: skip
ACTIVATION_FIELD = {"help": "hidden units: tanh (the thesis's), logistic σ(u) ∈ (0, 1) with its own rules "
                    "(triesch_logistic, ip_logistic) or relu; rules derived for one unit are refused for the others, "
                    "batch norm and no rule work with all", "choices": ACTIVATION_NAMES, "label": "hidden units", "widget": "radio"}  # fmt: skip
LOGISTIC_MEAN_FIELD = {"help": "mean μ of the exponential output density triesch_logistic aims at", "low": 0.0,
                       "high": 0.5, "low_open": True, "label": "logistic target mean μ", "step": 0.05}  # fmt: skip
NOTEBOOK_BETA_FACTORS = (1.0, 2.0)


def check_notebook_beta_factor(name: str, value: float) -> None:
    """ip_notebook's factor on β's step is one of the two the thesis's notebooks used."""
    if value not in NOTEBOOK_BETA_FACTORS:
        raise ConfigError(name, f"must be 2 (new-deep-test.ipynb) or 1 (new-test-shallow.ipynb) (got {value:g})")


NOTEBOOK_BETA_FACTOR_FIELD = {"help": "ip_notebook's factor c in β ← β + η·c·E[y]·E[xy]: 2 as in the thesis's deep "
                              "notebook (new-deep-test.ipynb), 1 as in its shallow one (new-test-shallow.ipynb)",
                              "low": 1.0, "high": 2.0, "check": check_notebook_beta_factor,
                              "label": "β step factor (ip_notebook)", "step": 1.0}  # fmt: skip
DEVICE_FIELD = {"help": "auto (CUDA when present), cpu, cuda or cuda:N", "check": check_device,
                "suggestions": ("auto", "cpu", "cuda"), "label": "device"}  # fmt: skip


INPUT_LIMIT = 1e6
"""The largest location or scale of a single neuron's input: the unit computes in float32, whose resolution at
10⁶ is already 0.06 (``mu=1e308`` drew a sample whose mean and density overflowed)."""
LOCATION = {"low": -INPUT_LIMIT, "high": INPUT_LIMIT}
SCALE = {"low": 0.0, "low_open": True, "high": INPUT_LIMIT}


@dataclass
class NeuronConfig(Config):
    """The single-neuron experiment (thesis §5.2): a fixed sample, several rules, full-batch iterations.

    Distributions and their fields: ``uniform`` (center, width), ``gaussian`` (mu, sigma), ``laplace`` (mu, b),
    ``lognormal`` (mu, sigma of the log), ``mixture`` (weight·N(mu, sigma) + (1−weight)·N(mu2, sigma2)), or any
    continuous ``scipy.stats`` distribution by name with its shape parameters, loc and scale in ``params``.
    σ, width, b and σ₂ must be > 0 and weight in [0, 1] whichever distribution is chosen (so a config never
    carries a value that would be invalid once the user switches to the distribution that uses it). Every rule
    runs ``iters`` full-batch iterations on the ``n`` samples; a row is recorded every ``record_every``
    iterations (see ``record_stride``). ``eta_decay`` is Infomax's; ``triesch_mean``/``triesch_std`` are
    Triesch's target. ``activation``: the unit, tanh (the thesis) or logistic; ``logistic_mean`` is the mean
    μ ∈ (0, 0.5] of the exponential output density that Triesch 2005's logistic rule (``triesch_logistic``) aims at.
    """

    kind: ClassVar[str] = "neuron"

    dist: str = declare("gaussian", help=f"input distribution: {', '.join(BUILTIN_DISTS)}, or a continuous "
                        "scipy.stats name (gamma, t, …)")  # fmt: skip
    mu: float = declare(0.0, help="mean of gaussian / laplace / mixture's first part; mean of the log for lognormal",
                        **LOCATION)  # fmt: skip
    sigma: float = declare(1.0, help="std of gaussian / mixture's first part; std of the log for lognormal",
                           **SCALE)  # fmt: skip
    center: float = declare(0.0, help="uniform's center", **LOCATION)
    width: float = declare(2.0, help="uniform's width", **SCALE)
    b: float = declare(1.0, help="laplace's scale", **SCALE)
    mu2: float = declare(3.0, help="mixture's second mean", **LOCATION)
    sigma2: float = declare(1.0, help="mixture's second std", **SCALE)
    weight: float = declare(0.5, help="mixture's weight of the first part", low=0.0, high=1.0)
    params: dict[str, float] = declare(factory=dict, help="a scipy.stats distribution's parameters, "
                                       "name=value[,name=value] (loc, scale)")  # fmt: skip
    n: int = declare(10_000, help="sample size N", low=2, high=10_000_000, label="sample size N")
    seed: int = declare(0, help="seed of the sample", label="sample seed", **SEED_FIELD)
    rules: list[str] = declare(factory=lambda: ["ip", "wd", "infomax", "bn_inc"], **RULES_FIELD)
    eta: dict[str, float] = declare(factory=dict, help=f"η per rule, rule=value[,...] (defaults: {eta_help('neuron')})",
                                    check=check_etas, key_name="rule")  # fmt: skip
    eta_decay: float = declare(0.0, **ETA_DECAY_FIELD)
    iters: int = declare(10_000, help="full-batch iterations per rule", low=1, high=10_000_000, label="iterations")
    record_every: int = declare(50, help="record α, β, entropy, histogram every k iterations", low=1,
                                label="record every k iterations", step=10)  # fmt: skip
    triesch_mean: float = declare(0.0, **TRIESCH_MEAN_FIELD)
    triesch_std: float = declare(0.2, **TRIESCH_STD_FIELD)
    activation: str = declare("tanh", **{**ACTIVATION_FIELD, "choices": NEURON_ACTIVATIONS,
                                         "help": "the unit: tanh (the thesis) or logistic"})  # fmt: skip
    logistic_mean: float = declare(0.2, **LOGISTIC_MEAN_FIELD)
    notebook_beta_factor: float = declare(2.0, **NOTEBOOK_BETA_FACTOR_FIELD)

    def validate(self) -> None:
        if self.dist not in BUILTIN_DISTS:
            check_scipy_setting(self.dist, self.params)  # raises ConfigError on unknown names / bad params
        super().validate()
        if self.dist == "lognormal":
            check_range("sigma", self.sigma, 0.0, 20.0, low_open=True)
        check_activation("activation", self.activation, self.rules)

    def etas(self) -> dict[str, float]:
        return resolve_etas(self.rules, self.eta, "neuron")

    def record_stride(self) -> int:
        """Iterations between recorded rows: ``record_every``, raised where needed so that a run keeps at most
        ``MAX_RECORDS`` rows (each holds every rule's output histogram)."""
        return max(self.record_every, math.ceil(self.iters / MAX_RECORDS))


# --- the networks -------------------------------------------------------------------------------------


@dataclass
class NetworkConfig(Config):
    """The fields a network training and a sweep of them share, declared once (``TrainConfig``, ``SweepConfig``).

    A sweep redeclares the few it reads differently (``dataset``, ``rules``, ``lr``, ``eta``, ``seeds``, ``seed``:
    lists of learning rates and η, the browser's datasets only); a redeclared field keeps its place.
    ``eta_decay`` is Infomax's; ``triesch_mean``/``triesch_std`` are Triesch's target, as in ``NeuronConfig``.
    ``optimizer``: the weights' optimizer, "adam" (the thesis), "sgd" or "momentum" (heavy ball, coefficient
    ``momentum``), with learning rate ``lr``. ``activation``: the hidden units, "tanh" (the thesis), "logistic"
    or "relu"; each rule states the units it is meant for. ``logistic_mean``: Triesch's target mean.
    """

    dataset: str = declare("mnist", help=dataset_help(), check=check_dataset, label="dataset")
    rules: list[str] = declare(factory=lambda: ["ip", "none"], **RULES_FIELD)
    eta: dict[str, float] = declare(factory=dict, help="intrinsic learning rates, rule=value[,rule=value] "
                                    f"(defaults: {eta_help('network')})", check=check_etas, key_name="rule")  # fmt: skip
    eta_decay: float = declare(0.0, **ETA_DECAY_FIELD)
    depth: int = declare(7, **DEPTH_FIELD)
    width: int = declare(50, **WIDTH_FIELD)
    lr: float = declare(0.01, help="learning rate of the weights (Adam, SGD or momentum: --optimizer)", low=0.0, high=10.0, low_open=True,
                        label="synaptic learning rate", widget="log")  # fmt: skip
    epochs: int = declare(1, **EPOCHS_FIELD)
    seeds: int = declare(1, **SEEDS_FIELD)
    seed: int = declare(0, help="first seed; the others follow (seed, seed+1, …)", label="first seed", **SEED_FIELD)
    batch_size: int = declare(200, **BATCH_FIELD)
    subset: int = declare(0, **SUBSET_FIELD)
    output: str = declare("relu", **OUTPUT_FIELD)
    device: str = declare("auto", **DEVICE_FIELD)
    triesch_mean: float = declare(0.0, **TRIESCH_MEAN_FIELD)
    triesch_std: float = declare(0.2, **TRIESCH_STD_FIELD)
    optimizer: str = declare("adam", **OPTIMIZER_FIELD)
    momentum: float = declare(0.9, **MOMENTUM_FIELD)
    activation: str = declare("tanh", **ACTIVATION_FIELD)
    logistic_mean: float = declare(0.2, **LOGISTIC_MEAN_FIELD)
    notebook_beta_factor: float = declare(2.0, **NOTEBOOK_BETA_FACTOR_FIELD)


@dataclass
class TrainConfig(NetworkConfig):
    """Deep tanh MLPs whose hidden units run an intrinsic rule, trained by Adam on cross-entropy (thesis
    §3.2.2, §3.3, ch. 4). Every rule × seed trains in lockstep as one batched model.

    ``dataset``: one of ``ipcore.data.DATASETS`` (clusters:D, imagefolder:PATH, folder:NAME).
    ``output``: "relu" (the thesis: Linear then ReLU) or "linear". ``log_every``/``hist_every``: record the
    training loss / the output histograms every k batches (0 = automatic: ≤ 2000 loss rows, ≤ ~40 histograms).
    The fields it shares with a sweep: ``NetworkConfig``.
    """

    kind: ClassVar[str] = "train"

    data_root: str = declare("", help="dataset folder (default $IPCORE_DATA, else ~/.cache/ipcore)", browser=False,
                             check=check_data_root)  # fmt: skip
    log_every: int = declare(0, help="record the training loss every k batches (0 = automatic)", low=0,
                             label="record the loss every k batches (0 = automatic)")  # fmt: skip
    hist_every: int = declare(0, help="record output histograms every k batches (0 = automatic)", low=0,
                              label="record histograms every k batches (0 = automatic)")  # fmt: skip

    def validate(self) -> None:
        super().validate()
        if self.seed + self.seeds - 1 > MAX_SEED:  # the seeds run seed, seed + 1, …: the last must fit too
            raise ConfigError(
                "seed", f"the last seed, seed + seeds − 1, must be ≤ {MAX_SEED} (got {self.seed + self.seeds - 1})"
            )
        check_activation("activation", self.activation, self.rules)

    def etas(self) -> dict[str, float]:
        return resolve_etas(self.rules, self.eta, "network")


# --- sweeps -------------------------------------------------------------------------------------------

MAX_GRID_POINTS = 1000


@dataclass
class SweepConfig(NetworkConfig):
    """A grid of network trainings: every learning rate in ``lr`` × every combination of the η values in ``eta``
    (rule → values; a rule not listed keeps its thesis default), each point comparing ``rules`` over ``seeds``
    seeds. Every point shares one architecture and dataset, so the whole grid trains as one lockstep model
    (``ipcore.training.sweep``). No field is a server path: the data come from the server's own data root. The
    fields it shares with ``TrainConfig`` are declared once (``NetworkConfig``) and mean the same (``point_config``).
    """

    kind: ClassVar[str] = "sweep"

    dataset: str = declare("clusters", help=dataset_help(browser_only=True), check=check_sweep_dataset,
                           label="dataset")  # fmt: skip
    rules: list[str] = declare(factory=lambda: ["ip", "none"], **{**RULES_FIELD, "label": "rules (each grid point "
                               "compares them)"})  # fmt: skip
    lr: list[float] = declare(factory=lambda: [0.003, 0.01, 0.03], help="learning rates of the grid, "
                              "comma-separated, e.g. 0.003,0.01,0.03", low=0.0, high=10.0, low_open=True,
                              check=check_distinct, label="learning rates")  # fmt: skip
    eta: dict[str, list[float]] = declare(factory=dict, help="η values per rule, e.g. ip=1e-4,1e-3 (repeat the "
                                          "flag or continue wd=…)", key_name="rule")  # fmt: skip
    seeds: int = declare(3, **{**SEEDS_FIELD, "help": "seeds per rule and grid point"})
    seed: int = declare(0, help="first seed; the others follow", label="first seed", **SEED_FIELD)

    def validate(self) -> None:
        super().validate()
        for rule, values in self.eta.items():
            if rule not in self.rules:
                raise ConfigError(f"eta.{rule}", f"rule {rule!r} is not among the rules ({', '.join(self.rules)})")
            if not values:
                raise ConfigError(f"eta.{rule}", "give at least one η")
            if len(set(values)) != len(values):
                raise ConfigError(f"eta.{rule}", "each η at most once")
            for value in values:
                check_etas("eta", {rule: value})
        check_activation("activation", self.activation, self.rules)
        points = len(self.lr) * math.prod(len(v) for v in self.eta.values())
        if points > MAX_GRID_POINTS:
            raise ConfigError("lr", f"the grid has {points} points; at most {MAX_GRID_POINTS}")

    def points(self) -> list[tuple[float, dict[str, float]]]:
        """Every grid point as (lr, η of each rule that has one), lr outermost, then ``eta`` in its key order."""
        defaults = resolve_etas(self.rules, {}, "network")
        with_eta = [r for r in self.rules if RULE_SPECS[r].has_eta]
        swept = list(self.eta)
        out = []
        for lr in self.lr:
            for values in itertools.product(*(self.eta[r] for r in swept)):
                chosen = dict(zip(swept, values, strict=True))
                out.append((lr, {r: float(chosen.get(r, defaults[r])) for r in with_eta}))
        return out

    def point_config(self, lr: float, eta: Mapping[str, float]) -> TrainConfig:
        """The plain training run a grid point equals (to float rounding): every field the two configs share,
        with this point's learning rate and η."""
        shared = _names(TrainConfig) & _names(SweepConfig)
        values = {name: copy.deepcopy(getattr(self, name)) for name in shared}
        return TrainConfig(**{**values, "lr": lr, "eta": dict(eta)})


# --- registry of experiment kinds ---------------------------------------------------------------------

CONFIG_KINDS: dict[str, type[Config]] = {"neuron": NeuronConfig, "train": TrainConfig}


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """The config class named by ``data["kind"]``, built and validated from ``data`` (a stored record's
    ``config.json``, a job's config)."""
    kind = data.get("kind")
    if kind not in CONFIG_KINDS:
        raise ConfigError("kind", f"unknown experiment kind {kind!r}; allowed: {', '.join(CONFIG_KINDS)}")
    return CONFIG_KINDS[kind].from_dict(data)
