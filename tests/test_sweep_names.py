"""Sweeps own their names and keep their results (issue 28, items 3, 6, 7), and scipy checks are bounded (item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from ipcore.config import ConfigError, NeuronConfig, SweepConfig
from ipcore.results.records import read_meta
from ipcore.training.sweep import check_sweep_name, run_sweep

from conftest import ROOT

CLUSTERS = SweepConfig(dataset="clusters", lr=[0.01], depth=1, width=4, seeds=1, rules=["ip", "none"])
SPIRALS = SweepConfig(dataset="spirals", lr=[0.01], depth=3, width=16, seeds=2, epochs=5, rules=["ip", "none"])


def test_a_record_is_reused_only_for_the_same_setting(tmp_path):
    first = run_sweep(CLUSTERS, name="shared", runs_dir=tmp_path)
    again = run_sweep(CLUSTERS, name="shared", runs_dir=tmp_path)
    assert again.parts == first.parts  # the same grid resumes from its records
    other = run_sweep(SPIRALS, name="shared", runs_dir=tmp_path)  # before: the clusters result, in 0.5 ms
    run_id = other.parts[0]["run_id"]
    stored = json.loads((tmp_path / run_id / "config.json").read_text())
    assert stored["dataset"] == "spirals" and stored["depth"] == 3 and stored["seeds"] == 2
    assert other.parts[0]["rules"] != first.parts[0]["rules"]


@pytest.mark.parametrize("name", ["fig3.5", "FIG3.5", "gallery-fig3.5", "gallery"])
def test_a_gallery_experiments_name_is_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="name: .* belongs to the gallery's experiments"):
        run_sweep(CLUSTERS, name=name, runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_name_made_by_another_visitor_is_refused(tmp_path):
    run_sweep(CLUSTERS, name="theirs", runs_dir=tmp_path, owner="visitor-a")
    meta = read_meta(next(tmp_path.iterdir()))
    assert meta["extra"]["owner"] and "visitor-a" not in json.dumps(meta)  # a digest, not the session id
    with pytest.raises(ConfigError, match="name: a sweep named 'theirs' was made by someone else"):
        run_sweep(CLUSTERS, name="theirs", runs_dir=tmp_path, owner="visitor-b")
    check_sweep_name(tmp_path, "theirs", "visitor-a")  # its owner resumes it
    check_sweep_name(tmp_path, "theirs", None)  # so does the operator, on the command line


def test_a_gallery_card_reads_only_its_own_records():
    from ipcore.gallery.entries import get_entry

    entry = get_entry("fig3.5")
    part = next(iter(entry.parts))
    own = {"experiment": "fig3.5", "part": part, "run_id": entry.run_id(part)}
    sweep = {"experiment": "fig3.5", "part": "lr0.01", "run_id": "fig3.5-lr0.01"}
    assert entry.owns(own) and not entry.owns(sweep)


# --- sweeps keep their results when saving fails ------------------------------------------------------------


def test_a_sweep_that_cannot_save_keeps_and_reports_its_results(tmp_path):
    blocked = tmp_path / "runs"
    blocked.write_text("a file where the runs folder should be")
    outcome = run_sweep(CLUSTERS, name="nosave", runs_dir=blocked)
    assert outcome.parts[0]["rules"] and outcome.parts[0]["run_id"] is None
    assert outcome.save_errors and "could not be saved" in outcome.save_errors[0]
    assert outcome.to_json()["save_errors"] == outcome.save_errors


def test_the_cli_prints_a_sweeps_results_and_exits_1_when_they_cannot_be_saved(tmp_path):
    blocked = tmp_path / "runs"
    blocked.write_text("")
    command = [sys.executable, "-m", "ipcore", "sweep", "--name", "nosave", "--dataset", "clusters", "--lr", "0.01",
               "--depth", "1", "--width", "4", "--seeds", "1", "--runs-dir", str(blocked), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "error: save:" in done.stderr
    printed = json.loads(done.stdout)
    assert printed["parts"][0]["rules"] and printed["save_errors"]


# --- scipy checks and previews are bounded -----------------------------------------------------------------


def test_a_distribution_too_slow_to_check_is_a_field_error_within_its_budget():
    import scipy.stats  # noqa: F401 - imported before the clock starts (seconds on a busy machine)

    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^params: studentized_range with .* (takes longer|not a usable)"):
        NeuronConfig.from_dict({"dist": "studentized_range", "params": {"k": 2.0, "df": 0.00001}})
    assert time.monotonic() - started < 10  # before: 14.6 s in its median, then a RuntimeError


def test_the_preview_honours_its_budget():
    from ipcore.training.neuron import preview_density

    config = NeuronConfig(dist="levy_stable", params={"alpha": 1.5, "beta": 0.0}, n=10_000_000)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="^dist: levy_stable"):
        preview_density(config, budget_s=0.5)
    assert time.monotonic() - started < 3  # before: 5.4 s for a budget of 2 s


def test_a_too_slow_sample_says_how_slow_in_a_readable_unit():
    from ipcore.training.neuron import _duration

    assert [_duration(s) for s in (4e-7, 0.012, 3.1, 420, 18000)] == ["0.4 µs", "12 ms", "3.1 s", "7 min", "5 h"]


# --- Ray: an address that does not answer is a clear error at once --------------------------------------------


@pytest.mark.parametrize("address", ["bogus-host:6379", "127.0.0.1:1"])
def test_a_bogus_ray_address_fails_at_once_naming_it(address):
    pytest.importorskip("ray")
    from ipcore.training.sweep_ray import connect

    started = time.monotonic()
    with pytest.raises(ConfigError, match=f"ray_address: cannot reach a Ray cluster at '{address}'"):
        connect(address)
    assert time.monotonic() - started < 35  # the timeout; before: retries for more than 9.5 min


def test_the_ray_timeout_is_checked(monkeypatch):
    pytest.importorskip("ray")
    from ipcore.training.sweep_ray import connect_timeout

    monkeypatch.setenv("IPCORE_RAY_TIMEOUT", "5")
    assert connect_timeout() == 5
    monkeypatch.setenv("IPCORE_RAY_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="IPCORE_RAY_TIMEOUT"):
        connect_timeout()


def test_a_bounded_call_ends_its_worker_when_time_is_up():
    from ipcore.bounded import TimeLimitExceeded, WorkerError, call_with_time_limit

    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        call_with_time_limit(time.sleep, (60,), 0.5)
    assert time.monotonic() - started < 10  # not the 60 s the function wanted
    with pytest.raises(WorkerError, match="ZeroDivisionError"):
        call_with_time_limit(divmod, (1, 0), 10)
    assert call_with_time_limit(divmod, (7, 2), 10) == (3, 1)
