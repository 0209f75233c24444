"""``python -m ipcore neuron``: the JSON shape, every flag reaching its config field, bad flags failing cleanly."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from ipcore.cli import main
from ipcore.config import NeuronConfig
from ipcore.training.neuron import draw_sample

from conftest import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ipcore", "neuron", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_json_shape():
    flags = ["--dist", "gaussian", "--mu", "5", "--sigma", "2", "--rules", "ip,wd,infomax,bn_inc"]
    done = run_cli(*flags, "--iters", "200", "--n", "3000", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # exactly one JSON object: the whole stdout parses
    assert done.stdout.count("\n") == 1
    sample = out["sample"]
    config = NeuronConfig(mu=5.0, sigma=2.0, n=3000, iters=200, rules=["ip", "wd", "infomax", "bn_inc"])
    assert sample["n"] == 3000
    assert sample["median"] == pytest.approx(np.median(draw_sample(config)))
    assert sample["mean"] == pytest.approx(draw_sample(config).mean())
    assert [r["rule"] for r in out["rules"]] == ["ip", "wd", "infomax", "bn_inc"]
    keys = {"rule", "eta", "alpha", "beta", "entropy", "entropy_max", "mean_y", "alpha_nonpositive"}
    for entry in out["rules"]:
        assert keys <= set(entry)
        assert entry["entropy_max"] == pytest.approx(math.log(2))
        assert isinstance(entry["alpha_nonpositive"], int)
        for key in ("eta", "alpha", "beta", "entropy", "mean_y"):
            assert isinstance(entry[key], float), key
        assert -1 < entry["mean_y"] < 1 and entry["entropy"] <= entry["entropy_max"]
    assert [r["eta"] for r in out["rules"]] == [1e-3, 0.1, 1e-3, 1e-3]
    assert out["config"] == config.to_dict()  # extra key: what ran, reusable with NeuronConfig.from_dict
    assert out["state"] == "done" and out["iters"] == 200
    assert "Traceback" not in done.stderr


def test_printed_rules_fail_and_corrected_rules_succeed_on_the_thesis_example():
    """The issue's command (N(5, 2²), n 10 000, default η 1e-3, 10 000 iterations): the
    printed eq. 3.3 and 3.8–3.9 keep growing α (and BN's β) and flatten the tanh far below log 2; the
    corrected rules settle at their targets with an almost uniform output."""
    flags = ["--rules", "ip,ip_printed,bn_inc,bn_inc_printed", "--dist", "gaussian", "--mu", "5", "--sigma", "2"]
    done = run_cli(*flags, "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    rules = {r["rule"]: r for r in out["rules"]}
    median, mean = out["sample"]["median"], out["sample"]["mean"]
    for name in ("ip", "bn_inc"):  # corrected: centred and nearly uniform
        assert rules[name]["entropy"] > 0.66
        assert abs(rules[name]["beta"] - median) < 0.1 and abs(rules[name]["mean_y"]) < 0.01
    assert 2.0 < rules["ip"]["alpha"] < 2.6  # 2E[xy] on N(5, 2²)
    assert abs(rules["bn_inc"]["alpha"] - 2.0) < 0.1  # σ[x]
    # printed: α ≈ 1 + η·10 000 for BN, α ≫ 2E[xy] for IP; the output entropy falls below zero
    assert rules["ip_printed"]["alpha"] > 6 and rules["ip_printed"]["entropy"] < 0.1
    assert rules["bn_inc_printed"]["alpha"] > 10 and rules["bn_inc_printed"]["beta"] > mean + 4
    assert rules["bn_inc_printed"]["entropy"] < 0
    for entry in out["rules"]:  # growing α never crashes the run and never crosses zero here
        assert entry["nonfinite"] is False and entry["alpha_nonpositive"] == 0


def test_readable_table_without_json():
    done = run_cli("--rules", "ip,none", "--iters", "50", "--n", "500")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sample: gaussian, n = 500, median")
    header = next(line for line in lines if line.startswith("rule"))
    assert "entropy" in header and "α" in header and "β" in header
    assert any(line.startswith("ip ") for line in lines) and any(line.startswith("none ") for line in lines)
    assert "[" in done.stderr and "100.0%" in done.stderr  # the progress bar, on stderr


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sigma", "0"], "sigma: must be > 0"),
        (["--eta", "wd=2"], "eta.wd: must be > 0 and ≤ 1"),
        (["--seed", "-1"], "seed: must be ≥ 0 and ≤ 2147483647 (got -1)"),
    ],
)
def test_bad_flags_exit_nonzero_with_the_message_and_no_traceback(flags, message):
    done = run_cli(*flags, "--iters", "5", "--json")
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def every_flag() -> tuple[list[str], dict]:
    """One value for every NeuronConfig field, as flags, and the field values they must produce."""
    values = {
        "dist": "mixture",
        "mu": -1.5,
        "sigma": 0.75,
        "center": 2.0,
        "width": 3.0,
        "b": 0.5,
        "mu2": 4.0,
        "sigma2": 1.25,
        "weight": 0.25,
        "params": {},
        "n": 321,
        "seed": 9,
        "rules": ["ip", "infomax", "triesch"],
        "eta": {"ip": 0.002, "triesch": 0.0005},
        "eta_decay": 0.001,
        "iters": 12,
        "record_every": 5,
        "triesch_mean": 0.1,
        "triesch_std": 0.3,
        "activation": "tanh",
        "logistic_mean": 0.3,
        "notebook_beta_factor": 1.0,
    }
    flags = []
    for name, value in values.items():
        if name == "params":
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, list):
            text = ",".join(value)
        elif isinstance(value, dict):
            text = ",".join(f"{k}={v}" for k, v in value.items())
        else:
            text = str(value)
        flags += [flag, text]
    return flags, values


def test_every_config_field_has_a_flag(capsys):
    flags, values = every_flag()
    assert main(["neuron", *flags, "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == {**values, "kind": "neuron"}
    assert out["iters"] == 12
    fields = {f.name for f in dataclasses.fields(NeuronConfig)}
    assert fields == set(values), "a NeuronConfig field without a flag in this test"


def test_params_flag_for_a_scipy_distribution(capsys):
    assert main(["neuron", "--dist", "gamma", "--params", "a=2,scale=1.5", "--iters", "3", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["dist"] == "gamma" and out["config"]["params"] == {"a": 2.0, "scale": 1.5}
    assert out["sample"]["median"] == pytest.approx(3.0 * 0.8392, rel=0.05)  # gamma(2) median ≈ 1.678


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rules", "ip,nope"], "rules: unknown rule 'nope'"),
        (["--width", "-1"], "width: must be > 0"),
        (["--b", "0"], "b: must be > 0"),
        (["--n", "1"], "n: must be ≥ 2"),
        (["--iters", "0"], "iters: must be ≥ 1"),
        (["--iters", "abc"], "iters: must be an integer"),
        (["--eta", "ip=0"], "eta.ip: must be > 0"),
        (["--eta", "ip=nan"], "eta.ip: must be a finite number"),
        (["--eta", "ip"], "eta: expected rule=value pairs"),
        (["--eta", "ip=fast"], "eta.ip: must be a number"),
        (["--dist", "nope"], "dist: unknown distribution 'nope'"),
        (["--dist", "gamma"], "params.a: gamma needs its shape parameter"),
        (["--dist", "gamma", "--params", "a"], "params: expected name=value pairs"),
        (["--dist", "gamma", "--params", "a=2,colour=1"], "params.colour: not a parameter of gamma"),
        (["--weight", "2"], "weight: must be ≥ 0 and ≤ 1"),
        (["--triesch-std", "0"], "triesch_std: must be > 0"),
        (["--eta-decay", "-0.1"], "eta_decay: must be ≥ 0"),
        (["--seed", "-1"], "seed: must be ≥ 0 and ≤ 2147483647 (got -1)"),
        (["--seed", "2147483648"], "seed: must be ≥ 0 and ≤ 2147483647 (got 2147483648)"),
        (["--seed", "1.5"], "seed: must be an integer"),
    ],
)
def test_bad_flags_in_process(flags, message, capsys):
    args = ["neuron", *flags, "--quiet"] + ([] if "--iters" in flags else ["--iters", "5"])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_unknown_flag_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["neuron", "--sgima", "2"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --sgima" in capsys.readouterr().err


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_unwritable_runs_dir_still_prints_the_results_then_says_why_and_exits_1(tmp_path, json_flag, capsys):
    (tmp_path / "afile").write_text("a file, so no folder can be made under it (tests run as root)")
    runs_dir = tmp_path / "afile" / "runs"
    argv = ["neuron", "--n", "200", "--iters", "40", "--rules", "ip", "--quiet", "--save", "--runs-dir", str(runs_dir)]
    assert main([*argv, *json_flag]) == 1
    captured = capsys.readouterr()
    if json_flag:
        printed = json.loads(captured.out)
        assert printed["rules"][0]["rule"] == "ip" and "run_id" not in printed
        assert "could not be saved" in printed["save_error"]
    else:
        assert captured.out.startswith("sample: gaussian, n = 200") and "\nip " in captured.out
    assert captured.err.startswith("error: save: the run's record could not be saved in ")
    assert str(runs_dir) in captured.err and "Not a directory" in captured.err


def test_train_quiet_hides_the_progress_bar_like_neuron_quiet(capsys):
    flags = ["train", "--dataset", "clusters", "--rules", "ip", "--depth", "2", "--width", "4", "--epochs", "1",
             "--subset", "400", "--device", "cpu", "--json"]  # fmt: skip
    assert main([*flags, "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and json.loads(quiet.out)["rules"][0]["rule"] == "ip"
    assert main(flags) == 0
    assert "train [" in capsys.readouterr().err  # without --quiet the bar is drawn
