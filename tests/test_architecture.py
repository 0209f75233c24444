"""One place for each fact: the layering of ipcore (no import cycles, configs without torch), the CLI flags and the
labs' widgets generated from the config declarations, one rule factory, one spec per dataset."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from ipcore import cli
from ipcore.config import (
    CONFIG_KINDS,
    ConfigError,
    NeuronConfig,
    SweepConfig,
    TrainConfig,
    declare,
    field_spec,
)
from ipcore.data import DATASETS, available_datasets, check_dataset_name
from ipcore.engine.rules import RULES, Triesch, make_rule
from ipcore.specs.rules import RULE_SPECS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ipcore"
RULE_CONFIGS = (NeuronConfig, TrainConfig, SweepConfig)


def module_name(path: Path) -> str:
    """``ipcore/results/records.py`` -> ``results.records``; a package's ``__init__`` is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "ipcore"


def imports_of(path: Path) -> set[str]:
    """The ipcore modules a file imports, at module level or inside functions (``from ipcore.x import y`` too)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module + ".").startswith("ipcore."):
            base = node.module.removeprefix("ipcore").lstrip(".")
            for alias in node.names:
                dotted = f"{base}.{alias.name}" if base else alias.name
                found.add(dotted if dotted in modules else base or "ipcore")
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("ipcore.") for a in node.names if a.name.startswith("ipcore."))
    found.discard(module_name(path))
    found.discard("ipcore")
    return found


def test_ipcore_modules_import_each_other_without_a_cycle():
    graph = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}
    assert graph["results.records"] and "config" in graph["results.records"]  # the parser sees imports at all

    def cycle_from(start: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph.get(start, ())):
            if nxt in seen:
                return (*seen[seen.index(nxt) :], nxt)
            found = cycle_from(nxt, (*seen, nxt))
            if found:
                return found
        return None

    for module in graph:
        cycle = cycle_from(module, (module,))
        assert cycle is None, " → ".join(cycle)


BELOW_TRAINING = {"errors", "jsonable", "locations", "bounded", "specs", "data", "config", "engine", "results"}
ALLOWED = {
    "errors": set(),
    "jsonable": set(),
    "locations": {"errors"},
    "bounded": {"errors"},
    "specs": {"errors"},
    "data": {"errors", "locations", "specs"},
    "config": {"errors", "locations", "bounded", "specs", "data"},
    "engine": {"errors", "locations", "specs", "data", "config"},
    "results": {"errors", "jsonable", "locations", "specs", "data", "config", "engine"},
    "training": BELOW_TRAINING,
    "gallery": BELOW_TRAINING,
    "jobs": BELOW_TRAINING | {"training"},
    "charts": BELOW_TRAINING | {"training", "jobs"},
    "cli": BELOW_TRAINING | {"training", "gallery", "jobs"},
    "api": BELOW_TRAINING | {"training", "gallery", "jobs", "charts"},
    "__main__": {"cli"},
}
"""docs/architecture.md's table: what each top-level module or package of ipcore may import (besides itself and the
root package)."""

LONG_MODULES = {
    "charts/base.py": "the shared figure machinery (Plot, colours, axes, CSV export) every chart module builds on",
    "gallery/assessment.py": "one Claim type with its two analyses (healthy seeds, all seeds), Holm and the verdict rules",
    "jobs/manager.py": "the one job queue: admission, fair order per visitor, slots, time limits, stop and records",
    "jobs/process.py": "a job in a process of its own: its start, the supervisor with stop and kill, the rows it sends",
    "cli.py": "six subcommands on one argparse tree, their outputs and exit codes",
    "config.py": "the declaration machinery (FieldSpec, declare, flat and JSON round trip) and the three configs",
    "data.py": "seven dataset formats, each a DatasetSpec with its locate and load functions, and the batches",
    "engine/rules.py": "fifteen small rule classes, each with its equation and source, over one Rule base",
    "gallery/entries.py": "the thesis's chapters as a table of declarative entries",
    "results/records.py": "the record layout: save, load, list, rename and check run folders",
}
"""Modules over 500 lines, each with the reason it stays one file."""

UPWARD_IMPORTS = {
    ("ipcore/training/sweep.py", "gallery.entries"): "a sweep may not take a gallery experiment's id as its name",
}
"""The few imports against the layers, each lazy (inside a function) and with its reason (docs/architecture.md)."""


def test_packages_import_only_what_the_architecture_allows():
    def layer(module: str) -> str:
        return module.split(".")[0]

    unplaced = {layer(module_name(p)) for p in PACKAGE.rglob("*.py")} - {"ipcore"} - set(ALLOWED)
    assert not unplaced, f"in no layer of docs/architecture.md (add them there and to ALLOWED): {sorted(unplaced)}"
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        here = layer(module_name(path))
        for imported in imports_of(path):
            there = layer(imported)
            allowed = there in (here, "ipcore") or there in ALLOWED.get(here, set())
            if not allowed and (str(path.relative_to(ROOT)), imported) not in UPWARD_IMPORTS:
                wrong.append(f"{path.relative_to(ROOT)} imports ipcore.{imported}")
    assert wrong == [], "docs/architecture.md does not allow: " + "; ".join(wrong)


def test_modules_over_500_lines_say_why():
    long = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if len(p.read_text().splitlines()) > 500}
    assert long - set(LONG_MODULES) == set(), "split these, or list them with their reason"
    assert set(LONG_MODULES) - long == set(), "no longer long: drop them from LONG_MODULES"


def test_the_training_loop_fits_on_a_screen():
    import inspect

    from ipcore.training import loop

    source = inspect.getsource(loop._train)
    body = source.split(") -> RunResult:\n", 1)[1]
    assert len(body.splitlines()) <= 80 and "nonlocal" not in source


def test_configs_parse_and_the_cli_builds_without_torch():
    code = (
        "import sys\n"
        "from ipcore.config import NeuronConfig, SweepConfig, TrainConfig, config_from_dict\n"
        "TrainConfig.from_flat({'dataset': 'clusters:5', 'rules': 'ip,triesch', 'eta.ip': '0.001', 'depth': '3'})\n"
        "NeuronConfig.from_flat({'dist': 'gamma', 'params.a': '2', 'rules': 'infomax'})\n"
        "SweepConfig.from_flat({'lr': '0.01,0.1', 'eta.ip': '0.001,0.01'})\n"
        "config_from_dict({'kind': 'train', 'dataset': 'spirals'})\n"
        "from ipcore import cli\n"
        "cli.build_parser()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# --- rules --------------------------------------------------------------------------------------------


def test_every_rule_option_is_a_field_of_every_config_that_runs_rules():
    for spec in RULE_SPECS.values():
        for source in spec.options.values():
            for cls in RULE_CONFIGS:
                assert source in {f.name for f in dataclasses.fields(cls)}, f"{cls.__name__} lacks {source}"


@pytest.mark.parametrize("cls", [NeuronConfig, TrainConfig])
def test_one_rule_factory_takes_the_options_from_either_config(cls):
    config = cls(rules=["triesch", "infomax"], triesch_mean=0.1, triesch_std=0.3, eta_decay=1e-3)
    triesch = make_rule("triesch", config)
    assert isinstance(triesch, Triesch) and (triesch.target_mean, triesch.target_std) == (0.1, 0.3)
    assert make_rule("infomax", config).eta_decay == 1e-3


def test_a_sweep_point_keeps_every_shared_field():
    sweep = SweepConfig(rules=["triesch"], triesch_std=0.4, eta_decay=0.01, output="linear", seed=5)
    point = sweep.point_config(0.03, {"triesch": 1e-3})
    assert (point.triesch_std, point.eta_decay, point.output, point.seed, point.lr) == (0.4, 0.01, "linear", 5, 0.03)


def test_the_rules_help_lists_the_registry():
    parser = cli.build_parser()
    help_text = _subparser(parser, "train").format_help()
    for name in RULES:
        assert name in help_text
    assert "wd_cov" in _subparser(parser, "neuron").format_help()  # the hand-written list had lost it


# --- config fields: declared once ---------------------------------------------------------------------


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command, cls", [("neuron", NeuronConfig), ("train", TrainConfig), ("sweep", SweepConfig)])
def test_every_config_field_is_a_flag_with_its_declared_range(command, cls):
    sub = _subparser(cli.build_parser(), command)
    flags = {option: action for action in sub._actions for option in action.option_strings}
    for f in dataclasses.fields(cls):
        action = flags[f"--{f.name.replace('_', '-')}"]
        allowed = field_spec(cls, f.name).range_text()
        assert allowed in action.help, f"{f.name}: {action.help}"


def test_a_field_added_to_a_config_gets_its_flag_and_its_check_without_touching_the_cli():
    @dataclasses.dataclass
    class Extended(TrainConfig):
        momentum: float = declare(0.9, help="a new knob", low=0.0, high=1.0)

    parser = argparse.ArgumentParser()
    cli.add_config_flags(parser, Extended)
    assert "a new knob; 0–1 (default 0.9)" in parser.format_help()
    config = cli.config_from_args(Extended, parser.parse_args(["--momentum", "0.5", "--dataset", "spirals"]))
    assert config.momentum == 0.5 and config.dataset == "spirals"
    with pytest.raises(ConfigError, match=r"momentum: must be ≥ 0 and ≤ 1 \(got 2\)"):
        cli.config_from_args(Extended, parser.parse_args(["--momentum", "2"]))


@pytest.mark.parametrize(
    "cls, values, field, message",
    [
        (TrainConfig, {"depth": 99}, "depth", "must be ≥ 1 and ≤ 32 (got 99)"),
        (TrainConfig, {"triesch_std": 0}, "triesch_std", "must be > 0 and ≤ 1 (got 0)"),
        (TrainConfig, {"output": "tanh"}, "output", "must be one of relu, linear (got 'tanh')"),
        (SweepConfig, {"lr": [0.01, 20.0]}, "lr", "must be > 0 and ≤ 10 (got 20)"),
        (SweepConfig, {"dataset": "imagefolder:/x"}, "dataset", "server path"),
        (NeuronConfig, {"n": 1}, "n", "must be ≥ 2 and ≤ 10000000 (got 1)"),
    ],
)
def test_declared_ranges_are_what_validation_enforces(cls, values, field, message):
    with pytest.raises(ConfigError) as caught:
        cls.from_dict(values)
    assert caught.value.field == field and message in str(caught.value)


def test_the_labs_show_every_plain_field_a_browser_may_set():
    from app import controls

    shown = controls.shown_fields(TrainConfig)
    assert "data_root" not in shown  # a server path never becomes a widget
    assert {"triesch_mean", "triesch_std", "eta_decay", "device", "depth"} <= set(shown)
    assert controls.seed_values(NeuronConfig(mu=5), "neuron")["neuron.mu"] == 5.0  # one numeric type per widget


def test_every_config_kind_is_registered():
    assert set(CONFIG_KINDS) >= {"neuron", "train"}


# --- datasets -----------------------------------------------------------------------------------------


def test_one_spec_per_dataset_feeds_the_listing_the_check_and_the_help(tmp_path):
    listing = {d["name"].split(":")[0]: d for d in available_datasets(tmp_path)}
    for name, spec in DATASETS.items():
        assert spec.description and spec.source and spec.how
        if name != "folder":  # one listing entry per folder the operator offers
            assert spec.description in listing[name]["description"]
            assert listing[name]["available"] == (spec.locate is None or spec.locate(tmp_path) is not None)
    with pytest.raises(ConfigError) as caught:
        check_dataset_name("nope")
    for spec in DATASETS.values():
        assert spec.pattern in str(caught.value)
        assert spec.pattern in _subparser(cli.build_parser(), "train").format_help()


def test_page_scripts_have_no_bare_strings_that_streamlit_would_display() -> None:
    """Streamlit's "magic" writes every bare expression of a page script into the page, a string after an
    assignment (an attribute docstring) included: the page would show it as text to every visitor."""
    import ast

    root = Path(__file__).resolve().parent.parent
    shown = []
    for script in [*sorted((root / "pages").glob("*.py")), root / "app" / "main.py"]:
        for node in ast.parse(script.read_text()).body[1:]:  # the module docstring itself is not displayed
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.JoinedStr):
                shown.append(f"{script.name}:{node.lineno}")
    assert shown == []
