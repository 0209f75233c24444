"""Run records: atomic save, compact no-pickle metrics, tolerant listing, safe ids, and the `runs` CLI."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest

from ipcore.cli import main
from ipcore.config import ConfigError, NeuronConfig
from ipcore.results import records
from ipcore.results.metrics_log import RunResult
from ipcore.results.records import (
    CorruptRecord,
    RunNotFound,
    compact_metrics,
    delete_run,
    list_runs,
    load_run,
    save_run,
)
from ipcore.training.runner import run_config

TINY = NeuronConfig(n=300, iters=120, record_every=20, rules=["ip", "wd"])


@pytest.fixture(scope="module")
def result():
    return run_config(TINY)


def record_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_save_and_load_round_trip(tmp_path, result):
    run_id = save_run(tmp_path, result, name="first try")
    record = load_run(tmp_path, run_id)
    assert record.run_id == run_id
    assert record.config == TINY
    assert record.summary == json.loads(json.dumps(result.summary))
    expected = compact_metrics(result.metrics)
    assert sorted(record.metrics) == sorted(expected)
    for name, value in expected.items():
        assert record.metrics[name].dtype == value.dtype, name
        np.testing.assert_array_equal(record.metrics[name], value, err_msg=name)
    meta = record.meta
    assert meta["schema"] == records.SCHEMA_VERSION
    assert meta["state"] == "done" and meta["kind"] == "neuron" and meta["name"] == "first try"
    assert set(meta["versions"]) >= {"ipcore", "torch", "numpy"}
    assert meta["device"] == "cpu"
    assert meta["started"] <= meta["ended"]
    assert meta["metrics_index"]["trace/hist"]["shape"] == list(result.metrics["trace/hist"].shape)
    # the files themselves: plain JSON and an .npz NumPy reads without pickle
    folder = tmp_path / run_id
    assert sorted(os.listdir(folder)) == ["config.json", "metrics.npz", "summary.json"]
    assert json.loads((folder / "config.json").read_text())["kind"] == "neuron"
    with np.load(folder / "metrics.npz", allow_pickle=False) as archive:
        assert archive["rules"].dtype.kind == "U"
        assert list(archive["rules"]) == ["ip", "wd"]


def test_compaction_dtypes():
    metrics = {
        "trace/alpha": np.linspace(0, 1, 6, dtype=np.float64).reshape(3, 2),
        "trace/hist": np.full((3, 2, 10), 0.5, dtype=np.float64),
        "huge_hist": np.array([1e6, 2.0]),  # does not fit float16: kept at float32
        "trace/iter": np.arange(3, dtype=np.int64),
        "big": np.array([2**40], dtype=np.int64),  # does not fit int32: kept
        "labels": np.array(["ip", "wd"], dtype=object),
        "flags": np.array([True, False]),
        "blowup": np.array([np.nan, np.inf, 1e300]),
    }
    out = compact_metrics(metrics)
    assert out["trace/alpha"].dtype == np.float32
    assert out["trace/hist"].dtype == np.float16
    assert out["huge_hist"].dtype == np.float32
    assert out["trace/iter"].dtype == np.int32
    assert out["big"].dtype == np.int64
    assert out["labels"].dtype.kind == "U"
    assert out["flags"].dtype == bool
    assert np.isnan(out["blowup"][0]) and np.isinf(out["blowup"][1]) and np.isinf(out["blowup"][2])
    with pytest.raises(TypeError, match="objects"):
        compact_metrics({"bad": np.array([{"a": 1}], dtype=object)})


def test_generated_ids_are_unique_readable_and_sanitised(tmp_path, result):
    ids = [save_run(tmp_path, result) for _ in range(5)]
    assert len(set(ids)) == 5
    for run_id in ids:
        assert "-neuron-ip-wd-" in run_id
        assert records.RUN_ID_PATTERN.fullmatch(run_id)
    named = save_run(tmp_path, result, name="  My run (fast) über α!  ")
    assert "-My-run-fast-uber-" in named
    assert load_run(tmp_path, named).meta["name"] == "My run (fast) über α!"
    assert record_folders(tmp_path) == sorted([*ids, named])


@pytest.mark.parametrize("bad", ["../x", "..", "/etc", "/tmp/x", "a/b", "a\\b", "a\x00b", "", ".hidden", "a..b"])
def test_path_escaping_ids_are_rejected(tmp_path, result, bad):
    (tmp_path / "runs").mkdir()
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError) as info:
        load_run(runs, bad)
    assert info.value.field == "run_id"
    with pytest.raises(ConfigError):
        delete_run(runs, bad)
    with pytest.raises(ConfigError):
        save_run(runs, result, run_id=bad)
    assert record_folders(runs) == []  # nothing written, not even a temp folder
    assert record_folders(tmp_path) == ["runs"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "a\\b", "x\x00", "\n", "   ", "x" * 201])
def test_unsafe_names_are_rejected_before_writing(tmp_path, result, bad):
    with pytest.raises(ConfigError) as info:
        save_run(tmp_path, result, name=bad)
    assert info.value.field == "name"
    assert record_folders(tmp_path) == []


def test_gallery_ids_are_explicit_and_replace_the_old_record(tmp_path, result):
    run_id = save_run(tmp_path, result, run_id="gallery-neuron-5.2-gaussian", experiment="neuron-5.2", part="g")
    assert run_id == "gallery-neuron-5.2-gaussian"
    cancelled = RunResult(config=TINY, metrics={"trace/iter": np.arange(2)}, summary={}, state="cancelled")
    save_run(tmp_path, cancelled, run_id=run_id, experiment="neuron-5.2", part="g")
    assert record_folders(tmp_path) == [run_id]  # replaced, no leftovers
    record = load_run(tmp_path, run_id)
    assert record.meta["state"] == "cancelled"
    assert record.meta["experiment"] == "neuron-5.2" and record.meta["part"] == "g"
    assert list(record.metrics) == ["trace/iter"]


def test_an_equal_config_is_copied_not_computed_again(tmp_path, result):
    """``gallery`` stores a part whose config equals a finished record's (up to where it ran: data root, device) as
    a copy: the same config, metrics, summary and times under the part's own id, naming its source. A record with
    another setting, or one that did not finish, is never taken."""
    from ipcore.gallery.report import equal_record

    source = save_run(tmp_path, result, run_id="gallery-a-p1", experiment="a", part="p1")
    assert equal_record(str(tmp_path), TINY) == source
    assert equal_record(str(tmp_path), TINY.replace(iters=121)) is None
    copy = records.copy_run(tmp_path, source, run_id="gallery-b-p2", experiment="b", part="p2")
    original, copied = load_run(tmp_path, source), load_run(tmp_path, copy)
    assert copied.config == original.config and copied.meta["extra"]["copied_from"] == source
    assert (copied.meta["experiment"], copied.meta["part"]) == ("b", "p2")
    assert copied.meta["started"] == original.meta["started"] and copied.meta["ended"] == original.meta["ended"]
    assert set(copied.metrics) == set(original.metrics)
    assert all(np.array_equal(copied.metrics[k], original.metrics[k]) for k in original.metrics)
    save_run(tmp_path, result, run_id="gallery-a-p1", experiment="a", part="p1", state="cancelled")
    assert equal_record(str(tmp_path), TINY) == "gallery-b-p2"  # the cancelled source no longer counts


def test_list_runs_newest_first_and_skips_bad_records(tmp_path, result, caplog):
    first = save_run(tmp_path, result, started=1000.0, ended=1001.0)
    second = save_run(tmp_path, result, started=2000.0, ended=2001.0)
    damaged = [save_run(tmp_path, result) for _ in range(5)]
    # a truncated .npz
    npz = tmp_path / damaged[0] / "metrics.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    # garbage JSON
    (tmp_path / damaged[1] / "summary.json").write_text("{not json")
    # a half-written record (no metrics yet)
    (tmp_path / damaged[2] / "metrics.npz").unlink()
    # an unknown schema
    meta_path = tmp_path / damaged[3] / "summary.json"
    meta = json.loads(meta_path.read_text())
    meta["schema"] = 99
    meta_path.write_text(json.dumps(meta))
    # a config this version cannot read
    (tmp_path / damaged[4] / "config.json").write_text(json.dumps({"kind": "neuron", "no_such_field": 1}))
    # debris: a temporary folder of a save in progress, a stray file, a folder with an unsafe name
    (tmp_path / ".tmp-abc").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad name").mkdir()

    with caplog.at_level(logging.WARNING, logger="ipcore.results.records"):
        runs = list_runs(tmp_path)
    assert [r["run_id"] for r in runs] == [second, first]
    assert runs[0]["summary"] == json.loads(json.dumps(result.summary))
    assert runs[0]["config"]["kind"] == "neuron"
    for run_id in damaged:
        assert any(run_id in message for message in caplog.messages), run_id
    with pytest.raises(CorruptRecord):
        load_run(tmp_path, damaged[0])
    with pytest.raises(CorruptRecord, match="schema"):
        load_run(tmp_path, damaged[3])


def test_list_runs_of_a_missing_folder_is_empty(tmp_path):
    assert list_runs(tmp_path / "nowhere") == []


def test_a_crash_while_saving_leaves_no_record(tmp_path, result, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(records.np, "savez_compressed", crash)
    with pytest.raises(OSError, match="disk full"):
        save_run(tmp_path, result)
    assert record_folders(tmp_path) == []
    assert list_runs(tmp_path) == []


def test_failed_and_diverged_runs_keep_their_facts(tmp_path):
    summary = {"rules": [{"rule": "ip", "alpha": float("nan"), "nonfinite": True}], "seconds": 0.5}
    failed = RunResult(
        config=TINY, metrics={"trace/alpha": np.array([[1.0], [np.nan]])}, summary=summary, state="failed"
    )
    run_id = save_run(tmp_path, failed, error="RuntimeError: boom")
    record = load_run(tmp_path, run_id)
    assert record.meta["state"] == "failed" and record.meta["error"] == "RuntimeError: boom"
    assert record.meta["diverged"] is True
    assert record.summary["rules"][0]["alpha"] is None  # NaN stored as JSON null (strict JSON on disk)
    assert math.isnan(record.metrics["trace/alpha"][1, 0])
    assert json.loads((tmp_path / run_id / "summary.json").read_text())["seconds"] == 0.5


def test_bad_state_is_rejected(tmp_path, result):
    with pytest.raises(ConfigError, match="state"):
        save_run(tmp_path, result, state="finished")


def test_delete_run(tmp_path, result):
    keep, drop = save_run(tmp_path, result), save_run(tmp_path, result)
    delete_run(tmp_path, drop)
    assert record_folders(tmp_path) == [keep]
    with pytest.raises(RunNotFound):
        delete_run(tmp_path, drop)
    with pytest.raises(RunNotFound):
        load_run(tmp_path, drop)


def test_runs_dir_environment_override(tmp_path, monkeypatch, result):
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert records.default_runs_dir() == tmp_path / "elsewhere"
    run_id = save_run(None, result)
    assert [r["run_id"] for r in list_runs()] == [run_id]
    monkeypatch.delenv("IPCORE_RUNS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    assert records.default_runs_dir() == tmp_path / "data-home" / "ipcore" / "runs"  # never the checkout's records


def test_cli_runs_list_show_delete(tmp_path, result, capsys):
    run_id = save_run(tmp_path, result, name="cli")
    assert main(["runs", "list", "--runs-dir", str(tmp_path), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listing["runs"]] == [run_id]

    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert run_id in text and "H=" in text and "[cli]" in text

    assert main(["runs", "show", run_id, "--runs-dir", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"] == TINY.to_dict()
    assert shown["metrics"]["trace/hist"]["shape"] == list(result.metrics["trace/hist"].shape)
    assert shown["meta"]["state"] == "done"

    assert main(["runs", "show", run_id, "--runs-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "final numbers:" in text and "trace/alpha" in text and "iters = 120" in text

    assert main(["runs", "show", "../x", "--runs-dir", str(tmp_path)]) == 2
    assert "run_id" in capsys.readouterr().err
    assert main(["runs", "show", "missing", "--runs-dir", str(tmp_path)]) == 2  # a bad argument, like ../x
    assert "no run" in capsys.readouterr().err
    assert main(["runs", "delete", run_id, "--runs-dir", str(tmp_path)]) == 0
    assert list_runs(tmp_path) == []


def test_cli_neuron_save_stores_the_run(tmp_path, capsys):
    argv = ["neuron", "--n", "200", "--iters", "100", "--rules", "ip", "--quiet", "--json"]
    assert main([*argv, "--save", "--runs-dir", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    record = load_run(tmp_path, printed["run_id"])
    assert record.config == NeuronConfig(n=200, iters=100, rules=["ip"])
    assert record.summary["rules"] == printed["rules"]
    assert main([*argv, "--name", "named run", "--runs-dir", str(tmp_path)]) == 0  # --name implies --save
    named = json.loads(capsys.readouterr().out)["run_id"]
    assert "-named-run-" in named and load_run(tmp_path, named).meta["name"] == "named run"
    with pytest.raises(SystemExit) as exit_info:  # refused before anything runs
        main([*argv, "--name", "../escape", "--runs-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert len(list_runs(tmp_path)) == 2


def test_cli_train_save_stores_the_run(tmp_path, capsys):
    argv = ["train", "--dataset", "clusters", "--depth", "2", "--width", "8", "--subset", "300", "--device", "cpu"]
    assert main([*argv, "--json", "--name", "tiny clusters", "--runs-dir", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    record = load_run(tmp_path, printed["run_id"])
    assert record.meta["kind"] == "train" and record.meta["name"] == "tiny clusters"
    assert record.config.dataset == "clusters" and record.config.subset == 300
    assert [r["test_accuracy"] for r in record.summary["rules"]] == [r["test_accuracy"] for r in printed["rules"]]
    assert record.metrics["epoch/test_acc"].shape == (1, 2)


def test_listing_notices_changed_records(tmp_path, result):
    run_id = save_run(tmp_path, result, run_id="gallery-x-a")
    assert [r["state"] for r in list_runs(tmp_path)] == ["done"]
    listed = list_runs(tmp_path)
    listed[0]["summary"]["rules"] = []  # callers get their own copies
    assert list_runs(tmp_path)[0]["summary"]["rules"]
    cancelled = RunResult(config=TINY, metrics={"trace/iter": np.arange(2)}, summary={}, state="cancelled")
    save_run(tmp_path, cancelled, run_id=run_id)  # replaced in place
    assert [r["state"] for r in list_runs(tmp_path)] == ["cancelled"]
    (tmp_path / run_id / "summary.json").write_text("garbage")
    assert list_runs(tmp_path) == []


def edit_meta(root: Path, run_id: str, **changes) -> None:
    path = root / run_id / "summary.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": None},
        {"kind": "nope"},
        {"timestamp": "x"},
        {"timestamp": None},
        {"seconds": "slow"},
        {"name": 5},
        {"versions": ["torch"]},
        {"metrics_bytes": "big"},
        {"summary": {"rules": 3}},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_a_record_with_bad_metadata_hides_only_itself(tmp_path, result, caplog, capsys, changes):
    good = save_run(tmp_path, result, name="good")
    bad = save_run(tmp_path, result, name="bad")
    edit_meta(tmp_path, bad, **changes)
    with caplog.at_level(logging.WARNING, logger="ipcore.results.records"):
        runs = list_runs(tmp_path)
    assert [r["run_id"] for r in runs] == [good]
    assert all(type(r["timestamp"]) is float for r in runs)  # the app sorts by it
    assert any(bad in message and "summary.json" in message for message in caplog.messages)
    with pytest.raises(CorruptRecord, match=f"{bad}: summary.json"):
        load_run(tmp_path, bad)
    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0  # `"kind": null` crashed the table
    out = capsys.readouterr().out
    assert good in out and bad not in out
    assert main(["runs", "show", bad, "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and bad in err and "Traceback" not in err


def damage_compressed_data(npz: Path) -> None:
    """Overwrite the middle of the first member's deflated bytes, leaving the zip directory intact."""
    import zipfile

    with zipfile.ZipFile(npz) as archive:
        info = max(archive.infolist(), key=lambda i: i.compress_size)
    data = bytearray(npz.read_bytes())
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    middle = start + info.compress_size // 2
    data[middle - 8 : middle + 8] = b"\xff" * 16
    npz.write_bytes(bytes(data))


def test_corrupt_compressed_metrics_are_a_corrupt_record_not_a_zlib_traceback(tmp_path, result, capsys):
    run_id = save_run(tmp_path, result)
    damage_compressed_data(tmp_path / run_id / "metrics.npz")
    with pytest.raises(CorruptRecord, match=f"{run_id}: metrics.npz cannot be read"):
        load_run(tmp_path, run_id)
    assert main(["runs", "show", run_id, "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "metrics.npz cannot be read" in err and "Traceback" not in err


def test_symbolic_links_in_the_runs_folder_are_neither_listed_nor_followed(tmp_path, result):
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    outside = save_run(elsewhere, result)
    inside = save_run(runs, result)
    (runs / outside).symlink_to(elsewhere / outside)  # points outside the runs folder
    (runs / "alias-of-inside").symlink_to(runs / inside)  # points at another record
    linked_files = save_run(runs, result)
    summary = runs / linked_files / "summary.json"
    (elsewhere / "summary.json").write_bytes(summary.read_bytes())
    summary.unlink()
    summary.symlink_to(elsewhere / "summary.json")  # a record whose file is a link
    assert [r["run_id"] for r in list_runs(runs)] == [inside]
    for run_id in (outside, "alias-of-inside"):
        with pytest.raises(RunNotFound):
            load_run(runs, run_id)
        with pytest.raises(RunNotFound):
            delete_run(runs, run_id)
    with pytest.raises(CorruptRecord, match="symbolic link"):
        load_run(runs, linked_files)
    assert (elsewhere / outside).is_dir() and (runs / inside).is_dir()  # nothing deleted through a link
