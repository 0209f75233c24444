"""Where ipcore reads and writes (``ipcore.locations``), the missing-data message, the warning for runs too short
for a rule to act, the package's declaration (``pip install .``) and the README's examples."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from unittest import mock

import pytest

from ipcore import locations
from ipcore.cli import build_parser, config_from_args, main
from ipcore.config import NeuronConfig, TrainConfig
from ipcore.data import DatasetUnavailable, download_failure, load_dataset
from ipcore.specs.reach import too_short

from conftest import ROOT


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home folder with none of ipcore's variables set."""
    for name in ("IPCORE_DATA", "IPCORE_CACHE", "IPCORE_RUNS_DIR", "IPCORE_GALLERY_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_the_data_root_is_the_flag_else_the_variable_else_the_user_cache(home, tmp_path, monkeypatch):
    assert locations.data_root() == home / ".cache" / "ipcore"
    assert locations.data_root_source() == "the default"
    monkeypatch.setenv("IPCORE_DATA", str(tmp_path / "from-env"))
    assert locations.data_root() == tmp_path / "from-env" and locations.data_root_source() == "$IPCORE_DATA"
    assert locations.data_root(tmp_path / "flag") == tmp_path / "flag"  # --data-root wins over the variable
    assert locations.data_root_source(tmp_path / "flag") == "--data-root"


def test_the_app_uses_the_engines_data_root_rule():
    """No folder beside the checkout is a default: the app sets no data folder of its own."""
    main_py = (ROOT / "app" / "main.py").read_text()
    assert "IPCORE_DATA" not in main_py.split('"""', 2)[2] and "shared" not in main_py.split('"""', 2)[2]


def test_runs_go_to_the_variable_else_the_user_data_folder(home, tmp_path, monkeypatch):
    assert locations.default_runs_dir() == home / ".local" / "share" / "ipcore" / "runs"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert locations.default_runs_dir() == tmp_path / "xdg" / "ipcore" / "runs"
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(tmp_path / "mine"))
    assert locations.default_runs_dir() == tmp_path / "mine"


def test_the_gallery_reads_the_checkouts_records_else_the_variable_else_the_runs_folder(home, tmp_path, monkeypatch):
    assert locations.checkout_root() == ROOT  # the tests run from a checkout
    assert locations.gallery_dir() == ROOT / "cached_runs"
    monkeypatch.setenv("IPCORE_GALLERY_DIR", str(tmp_path / "gallery"))
    assert locations.gallery_dir() == tmp_path / "gallery"
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    monkeypatch.setattr(locations, "checkout_root", lambda: None)  # an installed package: no records beside it
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(tmp_path / "mine"))
    assert locations.gallery_dir() == tmp_path / "mine"


def test_gallery_list_finds_the_committed_records_by_default(home, capsys):
    assert main(["gallery", "--list", "--only", "fig5.2", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["runs_dir"] == str(ROOT / "cached_runs")
    assert listing["entries"][0]["done"] == listing["entries"][0]["parts"]  # the committed records are found


def test_a_missing_dataset_names_its_files_and_how_to_point_at_a_folder(home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IPCORE_OFFLINE", "1")
    empty = tmp_path / "no-data"
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset("mnist", empty)
    message = str(error.value)
    for needed in ("--data-root", "IPCORE_DATA", "~/.cache/ipcore", "train-images-idx3-ubyte", str(empty / "MNIST")):
        assert needed in message, needed
    assert main(["train", "--dataset", "mnist", "--data-root", str(empty), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset: mnist is not available") and "IPCORE_DATA=DIR" in err


def test_a_failed_download_keeps_its_cause():
    error = RuntimeError(
        "Error downloading train-images-idx3-ubyte.gz:\nTried https://a.example/mnist/, got:\n"
        "<urlopen error [Errno -2] Name or service not known>\n"
    )
    assert download_failure(error) == (
        "download failed: Error downloading train-images-idx3-ubyte.gz: "
        "<urlopen error [Errno -2] Name or service not known>"
    )
    assert download_failure(OSError("disk full")) == "download failed: disk full"


def test_the_cli_warns_when_a_run_is_too_short_for_ip_to_act(home, capsys):
    tiny = ["--dataset", "clusters", "--subset", "400", "--batch-size", "200", "--epochs", "1", "--depth", "2"]
    assert main(["train", *tiny, "--width", "4", "--seeds", "1", "--rules", "ip,none", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning: ip (η = 0.0001) can move α and β by at most η × steps ≈ 0.0002 in 2 steps" in err
    assert main(["train", *tiny, "--width", "4", "--seeds", "1", "--rules", "ip,none", "--json", "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # --quiet: nothing on stderr but errors
    assert main(["neuron", "--iters", "50", "--n", "500", "--rules", "ip", "--json"]) == 0
    assert "warning: ip (η = 0.001)" in capsys.readouterr().err
    thesis_in_two_epochs = TrainConfig(dataset="mnist", rules=["ip", "wd", "none"], depth=7, lr=0.01, epochs=2)
    assert [note.split(" ")[0] for note in too_short(thesis_in_two_epochs)] == ["ip"]  # the example


def test_a_sweep_warns_once_for_each_setting_too_short_to_act(home, tmp_path, capsys):
    argv = ["sweep", "--dataset", "clusters", "--rules", "ip,wd,none", "--lr", "0.003,0.01", "--eta", "ip=1e-3,1e-2"]
    with mock.patch(
        "ipcore.training.sweep.run_sweep", side_effect=KeyboardInterrupt
    ):  # the warnings come before training
        assert main([*argv, "--runs-dir", str(tmp_path)]) == 130
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2  # one per η of ip, not one per learning rate; wd (η 0.1) acts
    assert "ip (η = 0.001) can move α and β by at most η × steps ≈ 0.04 in 40 steps" in warnings[0]
    assert "ip (η = 0.01): η × steps ≈ 0.4 in 40 steps, so it has only begun to act" in warnings[1]


def readme_commands(subcommand: str) -> list[list[str]]:
    """The README's ``ipcore SUBCOMMAND …`` examples, as argument lists."""
    text = (ROOT / "README.md").read_text()
    lines = re.findall(rf"^(?:python -m )?ipcore {subcommand} .*$", text, flags=re.M)
    tokens = [shlex.split(line, comments=True) for line in lines]
    return [words[words.index("ipcore") + 1 :] for words in tokens]


@pytest.mark.parametrize(("subcommand", "cls"), [("train", TrainConfig), ("neuron", NeuronConfig)])
def test_the_readmes_examples_are_long_enough_for_their_rules_to_act(subcommand, cls):
    commands = readme_commands(subcommand)
    assert commands, f"the README has no `ipcore {subcommand}` example"
    for argv in commands:
        args = build_parser().parse_args(argv)
        assert too_short(config_from_args(cls, args)) == [], argv


def test_the_package_declares_the_engine_its_script_and_every_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["ipcore*"]  # subpackages too
    assert project["project"]["scripts"]["ipcore"] == "ipcore.__main__:run"
    declared = set(project["project"]["dependencies"])
    for extra in project["project"]["optional-dependencies"].values():
        declared |= set(extra)
    required = {
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    }
    assert required == declared, required ^ declared  # the same names and ranges in both
