"""Rules of your own (``ipcore.engine.custom_rules``): registered from Python or a file, they train in the networks, the
single neuron, the CLI and job processes like the built-ins; every bad rule or file is a clear error that names
it and leaves the registry as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ipcore  # noqa: I001
from ipcore.config import ConfigError, NeuronConfig, TrainConfig
from ipcore.engine import custom_rules
from ipcore.engine.custom_rules import RuleError, load_rule_module, register_rule, unregister_rule
from ipcore.engine.rules import IP, RULES, Rule
from ipcore.specs.rules import RULE_SPECS

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "laplace_rule.py"


@pytest.fixture(autouse=True)
def clean_registry():
    """Every test starts and ends with only the built-in rules."""
    before = list(RULE_SPECS)
    yield
    for name in list(custom_rules.CUSTOM_RULES):
        unregister_rule(name)
    custom_rules._LOADED.clear()
    assert list(RULE_SPECS) == before


def write(tmp_path, name: str, source: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


class HalfIP(IP):
    """IP toward α = E[xy] instead of 2E[xy] (a variant, to test registration)."""

    name = "half_ip"
    title = "IP, half gain"

    def alpha_target(self, means):
        return means["xy"]


def small_train(**changes) -> TrainConfig:
    base = dict(dataset="clusters", depth=2, width=8, epochs=1, seeds=2, batch_size=50, subset=400, device="cpu")
    return TrainConfig.from_dict({**base, **changes})


def test_a_registered_rule_trains_beside_ip_in_networks_and_the_neuron():
    register_rule(HalfIP)
    assert RULE_SPECS["half_ip"].title == "IP, half gain"
    assert RULE_SPECS["half_ip"].default_eta_network == 1e-4  # inherited from IP's spec
    result = ipcore.run_networks(small_train(rules=["ip", "half_ip"]), progress=False)
    assert [entry["rule"] for entry in result.summary["rules"]] == ["ip", "half_ip"]
    alpha = result.table("alpha_mean")
    final = alpha[alpha.step == alpha.step.max()].groupby("rule").value.mean()
    assert final["half_ip"] < final["ip"]  # its gain settles lower: its own update ran, not IP's
    neuron = ipcore.run_neuron(dist="gaussian", mu=1, sigma=2, iters=3000, rules=["ip", "half_ip"], progress=False)
    alphas = neuron.seeds().set_index("rule").alpha
    assert alphas["half_ip"] < 0.75 * alphas["ip"]  # α = E[xy] settles well below IP's 2E[xy]


def test_validation_messages_name_the_registered_rule():
    register_rule(HalfIP, weighted_decay=True, eta_network=0.1, eta_neuron=0.1)
    with pytest.raises(ConfigError, match=r"eta\.half_ip: must be > 0 and ≤ 1 \(got 2\)"):
        small_train(rules=["half_ip"], eta={"half_ip": 2.0})
    with pytest.raises(ConfigError, match="rule 'half_ip' is meant for tanh units, not relu"):
        small_train(rules=["half_ip"], activation="relu")


def test_an_unknown_rule_says_how_to_register_one():
    with pytest.raises(ConfigError, match="unknown rule 'ip_laplace'.*--rules-module"):
        NeuronConfig(rules=["ip_laplace"])


def test_the_example_module_loads_once_and_its_rule_reaches_a_fixed_point():
    assert load_rule_module(EXAMPLE) == ["ip_laplace"]
    assert load_rule_module(EXAMPLE) == ["ip_laplace"]  # unchanged: a no-op, not "registered twice"
    assert custom_rules.CUSTOM_RULES["ip_laplace"].origin == str(EXAMPLE)
    result = ipcore.run_neuron(dist="gaussian", mu=1, sigma=2, iters=4000, rules=["ip_laplace", "ip"], progress=False)
    table = result.seeds().set_index("rule")
    # a peaked (Laplace) target: lower output entropy than IP's near-uniform output, centred as well
    assert table.entropy["ip_laplace"] < table.entropy["ip"] - 0.2
    assert abs(table.centre["ip_laplace"] - table.sample_median["ip"]) < 0.2
    assert abs(table.mean_y["ip_laplace"]) < 0.05


def test_the_same_name_twice_is_refused_unless_replaced():
    register_rule(HalfIP)

    class Other(IP):
        name = "half_ip"

    with pytest.raises(RuleError, match=r"rule 'half_ip' \(class .*Other in .*test_custom_rules\.py\): a rule named "
                       r"'half_ip' is already registered"):  # fmt: skip
        register_rule(Other)
    assert RULES["half_ip"] is HalfIP
    register_rule(Other, replace=True)
    assert RULES["half_ip"] is Other


def test_a_built_in_name_is_refused():
    class Mine(IP):
        name = "ip"

    with pytest.raises(RuleError, match="'ip' is a built-in rule"):
        register_rule(Mine)
    assert RULES["ip"] is IP


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('return s["alpha"] * float("nan"), s["beta"]', r"step's new α .* is not finite"),
        ('return x.mean(0), s["beta"]', r"step's new α .* has shape \[32, 3\]; it must be \[2, 3\]"),
        ('return s["alpha"], s["beta"][0]', r"step's new β .* has shape \[3\]; it must be \[2, 3\]"),
        ('raise ZeroDivisionError("oops")', r"raised ZeroDivisionError: oops \(at bad_rules\.py:\d+"),
        ('return 1.0, s["beta"]', r"step's new α .* must be a torch tensor"),
    ],
)
def test_a_rule_that_misbehaves_is_refused_naming_it_and_its_file(tmp_path, body, message):
    path = write(
        tmp_path,
        "bad_rules.py",
        f"""
        import ipcore

        class Bad(ipcore.Rule):
            name = "bad"

            def step(self, s, x, y, eta):
                {body}

        ipcore.register_rule(Bad)
        """,
    )
    with pytest.raises(RuleError, match=rf"rule 'bad' \(class Bad in {path}\): {message}"):
        load_rule_module(path)
    assert "bad" not in RULE_SPECS and not custom_rules.CUSTOM_RULES


def test_bad_modules_name_themselves_and_register_nothing(tmp_path):
    syntax = write(tmp_path, "syntax.py", "import ipcore\nclass X(ipcore.Rule)\n    name = 'x'\n")
    with pytest.raises(RuleError, match=rf"rule module {syntax}: syntax error at line 2"):
        load_rule_module(syntax)
    raising = write(tmp_path, "raising.py", "import ipcore\nfrom ipcore.engine.rules import IP\n"
                    "class A(IP):\n    name = 'good_one'\nipcore.register_rule(A)\nraise RuntimeError('late')\n")  # fmt: skip
    with pytest.raises(RuleError, match=rf"rule module {raising}: RuntimeError at line 6: late"):
        load_rule_module(raising)
    assert "good_one" not in RULE_SPECS  # registered before the failure, then taken back
    empty = write(tmp_path, "empty.py", "x = 1\n")
    with pytest.raises(RuleError, match=rf"rule module {empty} registered no rule"):
        load_rule_module(empty)
    with pytest.raises(RuleError, match="no such file"):
        load_rule_module(tmp_path / "missing.py")
    twice = write(tmp_path, "twice.py", "import ipcore\nfrom ipcore.engine.rules import IP\nclass A(IP):\n    name = 'dup'\n"
                  "class B(IP):\n    name = 'dup'\nipcore.register_rule(A)\nipcore.register_rule(B)\n")  # fmt: skip
    with pytest.raises(RuleError, match=r"rule 'dup' \(class B in .*twice\.py\): a rule named 'dup' is already"):
        load_rule_module(twice)
    assert not custom_rules.CUSTOM_RULES


def test_a_changed_file_replaces_its_rules_and_a_broken_edit_keeps_the_old_ones(tmp_path):
    path = write(tmp_path, "mine.py", "import ipcore\nfrom ipcore.engine.rules import IP\nclass A(IP):\n    name = 'mine'\n"
                 "    title = 'first'\nipcore.register_rule(A)\n")  # fmt: skip
    load_rule_module(path)
    path.write_text(path.read_text().replace("'first'", "'second'"))
    load_rule_module(path)
    assert RULE_SPECS["mine"].title == "second"
    path.write_text(path.read_text() + "raise ValueError('typo')\n")
    with pytest.raises(RuleError, match="ValueError"):
        load_rule_module(path)
    assert RULE_SPECS["mine"].title == "second"  # loses nothing


def test_a_rule_that_goes_nan_while_training_is_a_diverged_seed_not_a_crash():
    class LateNaN(IP):
        name = "late_nan"

        def step_from_moments(self, state, means, eta):
            alpha, beta = super().step_from_moments(state, means, eta)
            return (alpha * float("nan"), beta) if state["t"] >= 5 else (alpha, beta)

    register_rule(LateNaN)
    result = ipcore.run_networks(small_train(rules=["late_nan", "ip"]), progress=False)
    assert result.state == "done"
    seeds = result.seeds().set_index("rule")
    assert seeds.loc["late_nan"].diverged.all() and not seeds.loc["ip"].diverged.any()


def test_a_rule_without_a_name_or_of_another_kind_is_refused():
    class Nameless(Rule):
        pass

    with pytest.raises(RuleError, match="must set its own name"):
        register_rule(Nameless)
    with pytest.raises(RuleError, match="needs a subclass of ipcore.Rule"):
        register_rule(int)


def run_cli(*args, env=None):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "ipcore", *args], capture_output=True, text=True, env=environment,
                          timeout=300)  # fmt: skip


def test_the_cli_trains_a_rule_from_a_user_file_and_names_a_bad_one(tmp_path):
    done = run_cli("train", "--rules-module", str(EXAMPLE), "--dataset", "clusters", "--rules", "ip,ip_laplace",
                   "--depth", "2", "--width", "8", "--subset", "400", "--batch-size", "50", "--seeds", "2",
                   "--json", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [r["rule"] for r in summary["rules"]] == ["ip", "ip_laplace"]
    assert all(np.isfinite(r["final_train_loss"]) for r in summary["rules"])
    listing = run_cli("rules", "--json", env={"IPCORE_RULE_MODULES": str(EXAMPLE)})
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["rules"][-1]["name"] == "ip_laplace"
    broken = write(tmp_path, "broken.py", "def oops(:\n")
    failed = run_cli("neuron", "--rules-module", str(broken), "--rules", "ip")
    assert failed.returncode == 2
    assert f"rule module {broken}: syntax error at line 1" in failed.stderr and "Traceback" not in failed.stderr


def test_a_job_process_loads_the_rule_files_its_parent_loaded():
    from ipcore.jobs.process import run_in_process
    from ipcore.results.metrics_log import MetricsLog

    load_rule_module(EXAMPLE)
    config = NeuronConfig(rules=["ip_laplace", "ip"], iters=200, n=500)
    result = run_in_process(config, MetricsLog(), lambda fraction: None, lambda: False)
    assert result.state == "done"
    assert [str(r) for r in result.metrics["rules"]] == ["ip_laplace", "ip"]
    assert np.isfinite(result.metrics["trace/alpha"]).all()
