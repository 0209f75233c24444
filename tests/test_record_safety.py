"""The smaller holes of issue 28 (item 8), one test each: damaged records, the viewer's caption, the owner's
Delete button, the command line's data root, repeated --eta, runs delete/show, and an overflowing neuron input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from app_helpers import open_app, spec_text  # noqa: E402

from conftest import ROOT

sys.path.insert(0, str(ROOT))


from ipcore import cli  # noqa: E402
from ipcore.config import ConfigError, NeuronConfig, SweepConfig, TrainConfig  # noqa: E402
from ipcore.data import data_root  # noqa: E402
from ipcore.jobs.manager import JobManager  # noqa: E402
from ipcore.results.records import (  # noqa: E402
    CorruptRecord,
    list_runs,
    load_run,
    metric_shape_problem,
    owner_digest,
    save_run,
)
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.neuron import preview_density, simulate  # noqa: E402

TINY_TRAIN = {"dataset": "clusters", "rules": ["ip", "none"], "depth": 3, "width": 8, "epochs": 2, "seeds": 2,
              "subset": 400, "batch_size": 100, "device": "cpu"}  # fmt: skip
TINY_NEURON = {"dist": "gaussian", "mu": 3.0, "sigma": 1.0, "n": 400, "iters": 60, "record_every": 10,
               "rules": ["ip", "wd"]}  # fmt: skip


@pytest.fixture(scope="module")
def train_run():
    return train(TrainConfig(**TINY_TRAIN))


@pytest.fixture(scope="module")
def neuron_run():
    return simulate(NeuronConfig(**TINY_NEURON))


def rewrite_metrics(runs_dir: Path, run_id: str, change) -> None:
    """Replace a stored record's metrics by ``change(metrics)`` (a damaged or hand-made record)."""
    path = runs_dir / run_id / "metrics.npz"
    with np.load(path, allow_pickle=False) as archive:
        metrics = {k: archive[k] for k in archive.files}
    change(metrics)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **metrics)


# --- damaged records: wrong metric shapes, kind mismatch ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "shape_of"),
    [
        ("train", "batch/loss", lambda m: m["batch/loss"][:, :1]),  # one member instead of all
        ("train", "layer/grad_y_u", lambda m: m["layer/grad_y_u"][:-1]),  # a row short of layer/step
        ("train", "epoch/test_acc", lambda m: m["epoch/test_acc"][:, 0]),  # one dimension missing
        ("neuron", "trace/entropy", lambda m: m["trace/entropy"][:, :1]),  # one rule instead of two
        ("neuron", "trace/hist", lambda m: m["trace/hist"][:, :, 0]),
    ],
)
def test_wrong_metric_shapes_are_a_corrupt_record(tmp_path, train_run, neuron_run, kind, name, shape_of) -> None:
    run = train_run if kind == "train" else neuron_run
    assert metric_shape_problem(kind, run.metrics) is None
    run_id = save_run(tmp_path, run)
    rewrite_metrics(tmp_path, run_id, lambda m: m.__setitem__(name, shape_of(m)))
    with pytest.raises(CorruptRecord, match=name.replace("/", "/")):
        load_run(tmp_path, run_id)


def test_every_committed_record_has_readable_shapes() -> None:
    from conftest import CACHED

    for meta in list_runs(CACHED):
        load_run(CACHED, meta["run_id"])  # raises CorruptRecord on a shape problem


def test_the_viewer_and_compare_survive_a_record_with_wrong_shapes(runs_dir, train_run) -> None:
    good = save_run(runs_dir, train_run, name="good")
    bad = save_run(runs_dir, train_run, name="bad shapes")
    rewrite_metrics(runs_dir, bad, lambda m: m.__setitem__("batch/loss", m["batch/loss"][:, :1]))
    at = open_app("gallery", {"view": "runs", "run": bad})
    assert not at.exception and any("cannot open run" in e.value for e in at.error)  # was an IndexError
    at = open_app("gallery", {"view": "compare", "cmp": f"{bad},{good}"})
    assert not at.exception
    assert any("could not be read" in w.value and "batch/loss" in w.value for w in at.warning)


def test_a_kind_mismatch_between_summary_and_config_is_a_corrupt_record(tmp_path, neuron_run) -> None:
    run_id = save_run(tmp_path, neuron_run)
    summary = tmp_path / run_id / "summary.json"
    meta = json.loads(summary.read_text())
    meta["kind"] = "train"  # config.json still holds a neuron config
    summary.write_text(json.dumps(meta))
    with pytest.raises(CorruptRecord, match="kind"):
        load_run(tmp_path, run_id)
    assert list_runs(tmp_path) == []  # skipped in the listing too


# --- the run viewer: its caption and the owner's Delete button ---------------------------------------------


def test_the_viewer_caption_describes_the_run(runs_dir, train_run) -> None:
    run_id = save_run(runs_dir, train_run, name="described")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    captions = " ".join(c.value for c in at.caption)
    assert "clusters · depth 3" in captions and "2 ep" in captions and "? · depth ?" not in captions


def test_the_owner_keeps_delete_after_a_reload_and_no_one_else_gets_it(runs_dir, neuron_run) -> None:
    key, stranger = "a" * 32, "b" * 32
    manager = JobManager(runs_dir=str(runs_dir), isolation="thread")
    try:
        job = manager.submit(NeuronConfig(**TINY_NEURON), name="mine", owner=key)
        run_id = manager.wait(job, timeout=120)["run_id"]
    finally:
        manager.shutdown(timeout=20)
    assert load_run(runs_dir, run_id).meta["extra"]["owner"] == owner_digest(key)  # the digest, never the key
    assert key not in (runs_dir / run_id / "summary.json").read_text()
    # A new session (a reload, or a server restart: this job manager is not the app's) with the same key.
    at = open_app("gallery", {"view": "runs", "run": run_id}, owner=key)
    assert any(b.label == "Delete this run" for b in at.button)
    at = open_app("gallery", {"view": "runs", "run": run_id}, owner=stranger)
    assert not any(b.label == "Delete this run" for b in at.button)


# --- the command line -----------------------------------------------------------------------------------------


def test_the_filesystem_root_is_no_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["train", "--data-root", "/", "--dataset", "mnist", "--epochs", "1"]) == 2  # no /MNIST/raw
    with pytest.raises(ConfigError) as error:
        TrainConfig(data_root="/")
    assert error.value.field == "data_root"
    monkeypatch.setenv("IPCORE_DATA", "/")
    with pytest.raises(ConfigError, match="IPCORE_DATA"):
        data_root()


def parsed(command: str, *flags: str):
    parser = cli.build_parser()
    args = parser.parse_args([command, *flags])
    cls = {"train": TrainConfig, "neuron": NeuronConfig, "sweep": SweepConfig}[command]
    return cli.config_from_args(cls, args)


def test_a_repeated_eta_keeps_every_value() -> None:
    assert parsed("neuron", "--eta", "ip=1e-3", "--eta", "wd=0.1").eta == {"ip": 1e-3, "wd": 0.1}
    assert parsed("train", "--rules", "ip,wd", "--eta", "ip=1e-3", "--eta", "wd=0.1").eta == {"ip": 1e-3, "wd": 0.1}
    sweep = parsed("sweep", "--rules", "ip,wd", "--eta", "ip=1e-4", "--eta", "ip=1e-3", "--eta", "wd=0.1")
    assert sweep.eta == {"ip": [1e-4, 1e-3], "wd": [0.1]}
    with pytest.raises(ConfigError) as error:
        parsed("neuron", "--eta", "ip=1e-3", "--eta", "ip=2e-3")
    assert error.value.field == "eta.ip"


def test_runs_delete_deletes_every_existing_id_and_show_of_a_missing_one_exits_2(tmp_path, neuron_run) -> None:
    good, good2 = save_run(tmp_path, neuron_run), save_run(tmp_path, neuron_run)
    keep = save_run(tmp_path, neuron_run)
    status = cli.main(["runs", "delete", "--runs-dir", str(tmp_path), good, "missing", good2])
    assert status == 2 and [m["run_id"] for m in list_runs(tmp_path)] == [keep]
    assert cli.main(["runs", "show", "--runs-dir", str(tmp_path), "missing"]) == 2
    assert cli.main(["runs", "show", "--runs-dir", str(tmp_path), keep]) == 0


# --- an input that overflows ----------------------------------------------------------------------------------


def test_a_huge_neuron_input_is_an_error_not_an_inf_preview(runs_dir) -> None:
    with pytest.raises(ConfigError) as error:
        NeuronConfig(mu=1e308)
    assert error.value.field == "mu" and "1e+06" in str(error.value)
    with pytest.raises(ConfigError) as error:
        preview_density(NeuronConfig(dist="norm", params={"loc": 1e300}))
    assert error.value.field == "params"
    at = open_app("neuron_lab", {"dist": "gaussian", "mu": "1e308"})
    assert not at.exception
    specs = [spec_text(c) for c in at.get("plotly_chart")]  # decoded: plotly may write "≈" as \\u2248
    assert not any("inf" in spec for spec in specs if "median ≈" in spec)
    assert any("mu" in w.value for w in at.warning)  # the address's value is refused, and said so
