"""A rule of the user's own in a sweep on a real two-node Ray cluster (``ray.cluster_utils.Cluster``, one CPU per
node, as tests/test_sweep_ray.py): the driver's rule file travels to the workers as text with each task, so it
trains there even when no worker can read the file, and its numbers equal the local backend's."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import ROOT

ray = pytest.importorskip("ray")

from ipcore.config import SweepConfig  # noqa: E402
from ipcore.engine import custom_rules  # noqa: E402
from ipcore.engine.custom_rules import load_rule_module, unregister_rule  # noqa: E402
from ipcore.results.records import load_run, read_meta  # noqa: E402
from ipcore.training.sweep import run_sweep  # noqa: E402


def test_a_rule_from_a_user_file_trains_on_both_nodes_even_once_the_file_is_gone(ray_cluster, tmp_path):
    rule_file = tmp_path / "my_rules.py"
    shutil.copy(ROOT / "examples" / "laplace_rule.py", rule_file)
    try:
        assert load_rule_module(rule_file) == ["ip_laplace"]
        rule_file.unlink()  # the workers cannot import it by path now: only the shipped text can register it
        sweep = SweepConfig(dataset="clusters", rules=["ip_laplace", "ip"], lr=[0.003, 0.01, 0.03, 0.1], depth=2,
                            width=8, epochs=1, seeds=2, batch_size=50, subset=400, device="cpu")  # fmt: skip
        remote = run_sweep(sweep, name="mine-on-ray", runs_dir=tmp_path / "ray", backend="ray")
        local = run_sweep(sweep, name="mine-here", runs_dir=tmp_path / "local", backend="local")
        assert not remote.errors, remote.errors
        nodes = set()
        for mine, theirs in zip(remote.parts, local.parts, strict=True):
            meta = read_meta(tmp_path / "ray" / mine["run_id"])
            nodes.add(meta["extra"]["ray_node"])
            assert [r["rule"] for r in mine["rules"]] == ["ip_laplace", "ip"]
            # every seed's losses, whether or not a seed counts as healthy after this short a run
            ran_there = load_run(tmp_path / "ray", mine["run_id"]).metrics["epoch/train_loss"]
            ran_here = load_run(tmp_path / "local", theirs["run_id"]).metrics["epoch/train_loss"]
            np.testing.assert_allclose(ran_there, ran_here, rtol=1e-5)
        assert len(nodes) == 2, "every part ran on the same node"
    finally:
        for name in list(custom_rules.CUSTOM_RULES):
            unregister_rule(name)
        custom_rules._LOADED.clear()


def test_a_rule_defined_outside_any_file_cannot_go_to_ray_and_says_so(ray_cluster, tmp_path):
    from ipcore.engine.custom_rules import RuleError, register_rule
    from ipcore.engine.rules import IP

    class InACell(IP):
        name = "in_a_cell"

    InACell.__module__ = "__main__"  # as a class defined in a notebook's cell (or in the script being run)
    register_rule(InACell)
    try:
        sweep = SweepConfig(dataset="clusters", rules=["in_a_cell"], lr=[0.01], depth=2, width=8, epochs=1, seeds=1,
                            batch_size=50, subset=400, device="cpu")  # fmt: skip
        with pytest.raises(RuleError, match="rule 'in_a_cell' was defined in module __main__, not in a file"):
            run_sweep(sweep, name="cell", runs_dir=tmp_path, backend="ray")
    finally:
        unregister_rule("in_a_cell")
