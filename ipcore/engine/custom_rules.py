"""Rules of your own: register a ``Rule`` subclass from your own code or file, checked before anything trains.

``register_rule(MyRule)`` adds a rule beside the built-ins: the configs then accept its name (and its η, within
its range), and it trains in the networks, the single neuron, sweeps and both labs like any other rule.
``load_rule_module(path)`` runs a Python file of yours that calls ``register_rule``; the command line's
``--rules-module PATH`` and the app's ``IPCORE_RULE_MODULES`` (paths joined by ``os.pathsep``, named by the
operator, never by a browser) call it. Job processes inherit the loaded files' paths through the same
variable, and Ray workers receive their source with each task (``rule_sources``/``load_rule_sources``), so no
worker needs the file on its disk.

What a rule is, receives and returns: ``ipcore.engine.rules.Rule`` and docs/python.md ("Your own rule").

Every registration is checked on a small batch before the rule is added (``check_rule``): its name, form and
units, that it builds with its default options, and that ``transform``, ``step`` (or ``step_from_moments``)
and ``fixed_point_distance`` return finite tensors of the right shapes. A failure raises ``RuleError`` naming
the rule and the file it came from, and leaves the registry as it was: a module that fails half-way (a syntax
error, an exception, a bad rule) has none of its rules registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import torch

from ipcore.config import ACTIVATION_NAMES, NeuronConfig, SweepConfig, TrainConfig
from ipcore.engine.activations import get_activation
from ipcore.engine.rules import _CLASSES, RULES, Rule, batch_moments
from ipcore.errors import ConfigError
from ipcore.specs.rules import RULE_MODULES_ENV, RULE_SPECS, RuleSpec, env_rule_modules

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
FORMS = ("divide", "affine", "none")
BUILTIN_RULES = frozenset(RULE_SPECS)
"""The names ipcore ships (fixed at import, before any registration): none of them can be registered again."""

PROBE_MEMBERS, PROBE_BATCH, PROBE_UNITS = 2, 32, 3
ENGINE_DIR = str(Path(__file__).resolve().parent) + os.sep
TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep


class RuleError(ConfigError):
    """A rule of the user's own (or its file) cannot be used; the message names the rule and where it came from."""

    def __init__(self, message: str):
        super().__init__("rules", message)


@dataclass(frozen=True)
class CustomRule:
    """Where a registered rule came from: its class, the file (or module) that defined it."""

    name: str
    cls: type[Rule]
    origin: str


CUSTOM_RULES: dict[str, CustomRule] = {}
"""The registered rules of the user's own, by name, in registration order."""


@dataclass
class _LoadedModule:
    path: str
    digest: str
    source: str
    names: list[str]


_LOADED: dict[str, _LoadedModule] = {}  # by resolved path (or a worker's "<source of PATH>" key)
_loading: list[tuple[str, set[str]]] = []  # the file being run by load_rule_module and what it registered so far


def _origin(cls: type) -> str:
    if _loading:
        return _loading[-1][0]
    if cls.__module__ == "__main__":  # a notebook's cell or the running script: never re-run elsewhere
        return "module __main__"
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return path or f"module {cls.__module__}"


def _spec_for(
    cls: type[Rule],
    title: str | None,
    eta_network: float | None,
    eta_neuron: float | None,
    weighted_decay: bool | None,
    activations: tuple[str, ...] | None,
    options: Mapping[str, str] | None,
) -> RuleSpec:
    """The rule's ``RuleSpec``: the arguments where given, else the class's attributes (inherited ones count,
    so a subclass of ``IP`` keeps IP's η and units unless it says otherwise)."""
    eta_network = getattr(cls, "default_eta_network", None) if eta_network is None else eta_network
    eta_neuron = getattr(cls, "default_eta_neuron", None) if eta_neuron is None else eta_neuron
    if eta_neuron is None:
        eta_neuron = eta_network
    return RuleSpec(
        name=cls.name,
        title=title or cls.__dict__.get("title") or (cls.__doc__ or "").strip().split("\n")[0] or cls.name,
        default_eta_network=None if eta_network is None else float(eta_network),
        default_eta_neuron=None if eta_neuron is None else float(eta_neuron),
        weighted_decay=bool(getattr(cls, "weighted_decay", False) if weighted_decay is None else weighted_decay),
        options=MappingProxyType(dict(options or {})),
        activations=tuple(activations or getattr(cls, "activations", ACTIVATION_NAMES)),
        equation=str(getattr(cls, "equation", "") or ""),
        source=str(getattr(cls, "source", "") or ""),
        printed_note=str(getattr(cls, "printed_note", "") or ""),
    )


def _check_spec(spec: RuleSpec, where: str) -> None:
    if not spec.activations or any(a not in ACTIVATION_NAMES for a in spec.activations):
        raise RuleError(f"{where}: activations must be some of {', '.join(ACTIVATION_NAMES)} (got {spec.activations})")
    for value in (spec.default_eta_network, spec.default_eta_neuron):
        if value is not None and not (value > 0 and value < float("inf")):
            raise RuleError(f"{where}: default η must be > 0 and finite (got {value})")
        if value is not None and spec.weighted_decay and value > 1:
            raise RuleError(f"{where}: a weighted-decay rule's η is a mixing weight, ≤ 1 (got {value})")
    fields = [{f for f in cls.__dataclass_fields__} for cls in (NeuronConfig, TrainConfig, SweepConfig)]
    for argument, field_name in spec.options.items():
        if not all(field_name in names for names in fields):
            raise RuleError(
                f"{where}: option {argument!r} reads config field {field_name!r}, which the neuron, train and sweep "
                "configs do not all have"
            )


def _finite_tensor(value: Any, what: str, shape: tuple[int, ...], where: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise RuleError(f"{where}: {what} must be a torch tensor of shape {list(shape)} (got {type(value).__name__})")
    if tuple(value.shape) != shape:
        raise RuleError(f"{where}: {what} has shape {list(value.shape)}; it must be {list(shape)} (members, units)")
    if not torch.isfinite(value).all():
        raise RuleError(f"{where}: {what} is not finite (NaN or ±inf) on a well-behaved batch, x ~ N(1, 2²)")


def check_rule(rule: Rule, spec: RuleSpec, where: str) -> None:
    """Run ``rule`` on a small well-behaved batch (x ~ N(1, 2²), ``[2, 32, 3]``) under each unit it is meant
    for: u from ``transform`` must be ``[M, B, U]`` and finite, the new α, β and the fixed-point distances
    ``[M, U]`` and finite. Raises ``RuleError`` naming ``where`` (the rule and its file)."""
    m, b, u = PROBE_MEMBERS, PROBE_BATCH, PROBE_UNITS
    generator = torch.Generator().manual_seed(0)
    x = 1.0 + 2.0 * torch.randn((m, b, u), generator=generator)
    eta = spec.default_eta_network if spec.default_eta_network is not None else 0.0
    for activation_name in spec.activations:
        activation = get_activation(activation_name)
        try:
            state = rule.init_state(m, u)
            for key in ("alpha", "beta"):
                _finite_tensor(state.get(key), f"init_state()['{key}']", (m, u), where)
            with torch.no_grad():
                for step in range(3):  # a few updates: Adam's moments and the step count t move too
                    rule.prepare(state, x)
                    pre = rule.transform(x, state, training=True)
                    if tuple(pre.shape) != (m, b, u):
                        raise RuleError(
                            f"{where}: transform returned shape {list(pre.shape)}; it must be x's {[m, b, u]}"
                        )
                    if not torch.isfinite(pre).all():
                        raise RuleError(f"{where}: transform gave non-finite u on a well-behaved batch, x ~ N(1, 2²)")
                    y = activation.value(pre)
                    if rule.steps_from_moments:
                        state["t"] += 1
                        alpha, beta = rule.step_from_moments(state, batch_moments(x, y, rule.moments), eta)
                        state["t"] -= 1
                    else:
                        state["t"] += 1
                        alpha, beta = rule.step(state, x, y, eta)
                        state["t"] -= 1
                    _finite_tensor(alpha, f"step's new α (update {step + 1}, {activation_name} units)", (m, u), where)
                    _finite_tensor(beta, f"step's new β (update {step + 1}, {activation_name} units)", (m, u), where)
                    rule.update(state, x, y, eta)
                    distance = rule.fixed_point_distance(state, x, activation.value(rule.transform(x, state, False)))
                    if distance is not None:  # None: the rule has no fixed point (its chart shows none)
                        if not isinstance(distance, tuple | list) or len(distance) != 2:
                            raise RuleError(f"{where}: fixed_point_distance must return (|α − α*|, |β − β*|) or None")
                        for name, value in zip(("α", "β"), distance, strict=True):
                            if not isinstance(value, torch.Tensor) or tuple(value.shape) != (m, u):
                                shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                                raise RuleError(
                                    f"{where}: fixed_point_distance's {name} part is {shape}; it must be {[m, u]}"
                                )
        except RuleError:
            raise
        except Exception as error:  # the rule's own code failed: say where, in its own file if the trace has it
            frames = traceback.extract_tb(error.__traceback__)
            own = [f for f in frames if not f.filename.startswith((ENGINE_DIR, TORCH_DIR))]
            frame = (own or frames)[-1]
            raise RuleError(
                f"{where}: raised {type(error).__name__}: {error} (at {Path(frame.filename).name}:{frame.lineno}, "
                f"{activation_name} units, x ~ N(1, 2²) of shape {[m, b, u]})"
            ) from error


def register_rule(
    cls: type[Rule],
    *,
    title: str | None = None,
    eta_network: float | None = None,
    eta_neuron: float | None = None,
    weighted_decay: bool | None = None,
    activations: tuple[str, ...] | None = None,
    options: Mapping[str, str] | None = None,
    replace: bool = False,
) -> type[Rule]:
    """Add the rule class ``cls`` (a subclass of ``ipcore.Rule`` with a ``name``) to the rules every experiment
    can use; returns ``cls``, so it also works as a class decorator.

    Its spec comes from the arguments, else the class's attributes: ``title`` (else the docstring's first
    line), ``default_eta_network``/``default_eta_neuron`` (None: no η), ``weighted_decay`` (η ≤ 1),
    ``activations`` (the units it is meant for) and ``options`` (constructor argument → an existing config
    field). The rule is checked on a small batch first (``check_rule``). A name of a built-in rule is refused;
    a name already registered is refused unless ``replace=True`` (re-running a notebook cell that defines it).
    Raises ``RuleError`` naming the rule and its file; the registry is then unchanged.
    """
    where_cls = f"{getattr(cls, '__qualname__', cls)!r}"
    if not isinstance(cls, type) or not issubclass(cls, Rule):
        raise RuleError(f"register_rule needs a subclass of ipcore.Rule (got {where_cls}, from {_origin(type(cls))})")
    origin = _origin(cls)
    name = cls.__dict__.get("name")
    if not isinstance(name, str):
        raise RuleError(f"rule class {cls.__qualname__} (in {origin}) must set its own name = '…' (a class attribute)")
    where = f"rule {name!r} (class {cls.__qualname__} in {origin})"
    if not NAME_PATTERN.fullmatch(name):
        raise RuleError(f"{where}: a rule name is 1–40 lower-case letters, digits or _, starting with a letter")
    if name in BUILTIN_RULES:
        raise RuleError(f"{where}: {name!r} is a built-in rule ({RULE_SPECS[name].title}); choose another name")
    # load_rule_module running a file that defined this rule before (imported as a module, or edited since)
    rerun = bool(_loading) and name not in _loading[-1][1]
    rerun = rerun and name in CUSTOM_RULES and CUSTOM_RULES[name].origin == origin
    if name in CUSTOM_RULES and not replace and not rerun:
        raise RuleError(
            f"{where}: a rule named {name!r} is already registered (from {CUSTOM_RULES[name].origin}); "
            "choose another name, or pass replace=True to redefine it"
        )
    if getattr(cls, "form", None) not in FORMS:
        raise RuleError(f"{where}: form must be one of {', '.join(FORMS)} (got {getattr(cls, 'form', None)!r})")
    spec = _spec_for(cls, title, eta_network, eta_neuron, weighted_decay, activations, options)
    _check_spec(spec, where)
    previous = {key: cls.__dict__[key] for key in ("spec", "title") if key in cls.__dict__}
    cls.spec, cls.title = spec, spec.title
    cls.default_eta_network, cls.default_eta_neuron = spec.default_eta_network, spec.default_eta_neuron
    cls.weighted_decay, cls.activations = spec.weighted_decay, spec.activations
    try:
        option_values = {arg: getattr(TrainConfig(), field) for arg, field in spec.options.items()}
        try:
            rule = cls(**option_values)
        except Exception as error:
            raise RuleError(
                f"{where}: cannot be built with its default options: {type(error).__name__}: {error}"
            ) from error
        check_rule(rule, spec, where)
    except BaseException:
        for key in ("spec", "title"):
            if key in previous:
                setattr(cls, key, previous[key])
            elif key in cls.__dict__:
                delattr(cls, key)
        raise
    RULE_SPECS[name] = spec  # in place: the configs, the CLI and the app read these very dicts
    RULES[name] = _CLASSES[name] = cls
    CUSTOM_RULES[name] = CustomRule(name, cls, origin)
    if _loading:
        _loading[-1][1].add(name)
    return cls


def unregister_rule(name: str) -> None:
    """Remove a rule of the user's own (built-in rules cannot be removed)."""
    if name not in CUSTOM_RULES:
        raise RuleError(
            f"no registered rule of your own named {name!r} (registered: {', '.join(CUSTOM_RULES) or 'none'})"
        )
    del CUSTOM_RULES[name]
    RULE_SPECS.pop(name, None)
    RULES.pop(name, None)
    _CLASSES.pop(name, None)


@contextlib.contextmanager
def _all_or_nothing(origin: str) -> Iterator[None]:
    """Rules registered inside (by ``origin``, the file being run) are kept only if the block ends without an
    error; otherwise the registry is put back as it was, rules the block removed or replaced included."""
    before = list(CUSTOM_RULES)
    replaced = {name: (RULE_SPECS[name], CUSTOM_RULES[name]) for name in before}
    _loading.append((origin, set()))
    try:
        yield
    except BaseException:
        for name in [n for n in CUSTOM_RULES if n not in before]:
            unregister_rule(name)
        for name, (spec, entry) in replaced.items():  # replace=True inside a failing module: put the old back
            RULE_SPECS[name], CUSTOM_RULES[name] = spec, entry
            RULES[name] = _CLASSES[name] = entry.cls
        raise
    finally:
        _loading.pop()


def _run_source(key: str, source: str, path: str) -> list[str]:
    """Run one rule file's ``source`` as a module of its own; returns the names it registered."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    loaded = _LOADED.get(key)
    if loaded is not None and loaded.digest == digest and all(n in CUSTOM_RULES for n in loaded.names):
        return list(loaded.names)  # already loaded, unchanged: loading again is a no-op
    module_name = f"ipcore_user_rules.{re.sub(r'[^A-Za-z0-9_]', '_', Path(path).stem)}_{digest[:8]}"
    module = ModuleType(module_name)
    module.__file__ = path
    sys.modules[module_name] = module  # dataclasses and pickling look classes up here
    try:
        code = compile(source, path, "exec")
    except SyntaxError as error:
        sys.modules.pop(module_name, None)
        raise RuleError(f"rule module {path}: syntax error at line {error.lineno}: {error.msg}") from None
    stale = [] if loaded is None else [n for n in loaded.names if n in CUSTOM_RULES]
    try:
        with _all_or_nothing(path):
            for name in stale:  # the file changed: its rules are defined anew
                unregister_rule(name)
            try:
                exec(code, module.__dict__)
            except RuleError:
                raise
            except Exception as error:
                frame = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
                line = f" at line {frame[-1].lineno}" if frame else ""
                raise RuleError(f"rule module {path}: {type(error).__name__}{line}: {error}") from error
            if not [n for n in CUSTOM_RULES if CUSTOM_RULES[n].origin == path]:
                raise RuleError(f"rule module {path} registered no rule: call ipcore.register_rule(YourRule) in it")
    except BaseException:  # _all_or_nothing has put back what the registry held before (old version included)
        sys.modules.pop(module_name, None)
        raise
    names = [n for n in CUSTOM_RULES if CUSTOM_RULES[n].origin == path]
    _LOADED[key] = _LoadedModule(path, digest, source, names)
    return names


def load_rule_module(path: str | os.PathLike) -> list[str]:
    """Run the Python file ``path``, which registers its rules with ``ipcore.register_rule``; returns their names.

    Loading the same unchanged file again does nothing; a changed file replaces the rules it registered before.
    A file that is missing, has a syntax error, raises, registers no rule or registers a rule that fails its
    check raises ``RuleError`` naming the file, and none of its rules stay registered.
    """
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise RuleError(f"rule module {path}: no such file")
    try:
        source = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(f"rule module {path}: cannot be read: {error}") from None
    return _run_source(str(resolved), source, str(resolved))


def load_rule_modules(paths: list[str] | tuple[str, ...]) -> list[str]:
    """``load_rule_module`` for each path, in order; returns every registered name."""
    names: list[str] = []
    for path in paths:
        names += load_rule_module(path)
    return names


def load_env_rule_modules(environ: Mapping[str, str] | None = None) -> list[str]:
    """Load the rule files ``IPCORE_RULE_MODULES`` names (the operator's choice; nothing a browser sends)."""
    return load_rule_modules(env_rule_modules(environ))


def loaded_rule_modules() -> list[str]:
    """The files that define the rules registered in this process — loaded by ``load_rule_module`` or imported
    as ordinary modules that call ``register_rule`` — in registration order (what a job process loads)."""
    files = [entry.path for key, entry in _LOADED.items() if key == entry.path]
    files += [rule.origin for rule in CUSTOM_RULES.values() if Path(rule.origin).is_file()]
    return list(dict.fromkeys(files))


def rule_sources(names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(path, source) of the files that define the registered rules (only those of ``names``, when given): what
    a Ray task carries so that its worker registers the same rules. A rule defined outside any file (in a
    notebook's cell) cannot travel: ``RuleError`` says to move it into a file."""
    wanted = [n for n in (CUSTOM_RULES if names is None else names) if n in CUSTOM_RULES]
    sources: dict[str, str] = {}
    for name in wanted:
        origin = CUSTOM_RULES[name].origin
        loaded = next((entry for entry in _LOADED.values() if entry.path == origin), None)
        if loaded is not None:
            sources[origin] = loaded.source
        elif Path(origin).is_file():
            sources[origin] = Path(origin).read_text(encoding="utf-8")
        else:
            raise RuleError(
                f"rule {name!r} was defined in {origin}, not in a file, so other processes (Ray workers, the app's "
                "jobs) cannot load it: put it in a .py file and load that with ipcore.load_rule_module(path)"
            )
    return list(sources.items())


def load_rule_sources(sources: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[str]:
    """Register the rules of files received as text (a Ray worker; cached, so each source runs once a process)."""
    names: list[str] = []
    for path, source in sources:
        names += _run_source(path, source, path)
    return names


def environment_with_rule_modules(environment: dict[str, str]) -> dict[str, str]:
    """``environment`` with ``IPCORE_RULE_MODULES`` naming every rule file loaded here (a job process loads them)."""
    paths = list(dict.fromkeys(env_rule_modules(environment) + loaded_rule_modules()))
    if paths:
        environment = {**environment, RULE_MODULES_ENV: os.pathsep.join(paths)}
    return environment
