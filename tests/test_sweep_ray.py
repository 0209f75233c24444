"""The Ray backend on a real two-node Ray cluster (``ray.cluster_utils.Cluster``, one CPU per node, started once
for this module): parts spread over both nodes, the numbers equal the local backend's, and a worker killed
mid-part is retried with every record present exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from ipcore.config import SweepConfig  # noqa: E402
from ipcore.results.records import list_runs, load_run, read_meta  # noqa: E402
from ipcore.training.sweep import run_sweep  # noqa: E402


def sweep_config(**changes) -> SweepConfig:
    base = dict(
        dataset="clusters",
        rules=["ip", "none"],
        lr=[0.003, 0.01, 0.03, 0.1],
        depth=2,
        width=8,
        epochs=2,
        seeds=2,
        batch_size=50,
        subset=400,
        device="cpu",
    )
    base.update(changes)
    return SweepConfig(**base)


def test_parts_spread_over_both_nodes_and_equal_the_local_backend(ray_cluster, tmp_path):
    sweep = sweep_config()
    remote = run_sweep(sweep, name="on-ray", runs_dir=tmp_path / "ray", backend="ray")
    local = run_sweep(sweep, name="here", runs_dir=tmp_path / "local", backend="local")
    assert not remote.errors and not remote.interrupted
    assert remote.backend == "ray" and len(remote.parts) == 4
    nodes = set()
    for mine, theirs in zip(remote.parts, local.parts, strict=True):
        assert mine["lr"] == theirs["lr"] and mine["eta"] == theirs["eta"]
        meta = read_meta(tmp_path / "ray" / mine["run_id"])
        assert meta["extra"]["backend"] == "ray" and meta["state"] == "done"
        nodes.add(meta["extra"]["ray_node"])
        for a, b in zip(mine["rules"], theirs["rules"], strict=True):
            assert a["rule"] == b["rule"] and a["diverged"] == b["diverged"]
            assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-5)
            assert a["test_accuracy"] == pytest.approx(b["test_accuracy"], abs=1e-6)
        ours = load_run(tmp_path / "ray", mine["run_id"]).metrics
        here = load_run(tmp_path / "local", theirs["run_id"]).metrics
        np.testing.assert_allclose(ours["epoch/train_loss"], here["epoch/train_loss"], rtol=1e-4, atol=1e-5)
    assert len(nodes) == 2, "every part ran on the same node"


def test_workers_loading_data_from_their_own_data_root_give_the_same_numbers(ray_cluster, tmp_path):
    sweep = sweep_config(lr=[0.01, 0.03], epochs=1)
    remote = run_sweep(sweep, name="node-data", runs_dir=tmp_path / "ray", backend="ray", data_source="node")
    local = run_sweep(sweep, name="here", runs_dir=tmp_path / "local", backend="local")
    assert not remote.errors
    for mine, theirs in zip(remote.parts, local.parts, strict=True):
        for a, b in zip(mine["rules"], theirs["rules"], strict=True):
            assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-5)


def test_stopping_cancels_the_remaining_tasks_keeps_finished_points_and_a_rerun_resumes(ray_cluster, tmp_path):
    sweep = sweep_config(lr=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3], epochs=4, subset=1000)
    seen: list[int] = []
    stopped = run_sweep(
        sweep, name="stop", runs_dir=tmp_path, backend="ray", on_part=lambda i, e: seen.append(i),
        should_stop=lambda: len(seen) >= 1,
    )  # fmt: skip
    assert stopped.interrupted and 1 <= len(seen) < 6
    kept = list_runs(tmp_path)
    assert len(kept) == len(seen) and all(r["state"] == "done" for r in kept)
    resumed = run_sweep(sweep, name="stop", runs_dir=tmp_path, backend="ray")
    assert not resumed.interrupted and all(p is not None for p in resumed.parts)
    runs = list_runs(tmp_path)
    assert len(runs) == 6 and len({r["run_id"] for r in runs}) == 6


def _running_part_pids() -> list[int]:
    """Ray worker processes now executing a sweep part (Ray titles them ``ray::sweep_part``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if command.startswith(b"ray::sweep_part"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker process through /proc")
def test_a_worker_killed_mid_part_is_retried_and_every_record_is_written_once(ray_cluster, tmp_path):
    sweep = sweep_config(lr=[0.003, 0.01, 0.03], epochs=40, subset=2000)  # parts of a few seconds each
    outcome: dict = {}
    worker = threading.Thread(
        target=lambda: outcome.setdefault("result", run_sweep(sweep, name="killed", runs_dir=tmp_path, backend="ray"))
    )
    worker.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and worker.is_alive():
        pids = _running_part_pids()
        if pids:
            time.sleep(0.5)  # mid-part: past start-up, before the end
            if pids[0] in _running_part_pids():
                os.kill(pids[0], signal.SIGKILL)
                killed = pids[0]
        time.sleep(0.1)
    worker.join(timeout=300)
    assert killed is not None, "no running part was found to kill"
    result = outcome["result"]
    assert not result.errors and not result.interrupted
    assert all(part is not None for part in result.parts)
    runs = list_runs(tmp_path)
    assert sorted(r["run_id"] for r in runs) == sorted(p["run_id"] for p in result.parts)
    assert all(r["state"] == "done" for r in runs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_gallery_parts_computed_on_ray_are_saved_as_gallery_records(ray_cluster, tmp_path, capsys):
    from ipcore import cli
    from ipcore.gallery import entries as gallery

    argv = ["gallery", "--only", "fig5.2", "--iters", "200", "--runs-dir", str(tmp_path), "--backend", "ray"]
    assert cli.main([*argv, "--json"]) == 0
    entry = gallery.get_entry("fig5.2")
    assert gallery.done_parts(str(tmp_path), entry, iters=200) == set(entry.parts)
    runs = list_runs(tmp_path)
    assert len(runs) == len(entry.parts) and all(r["state"] == "done" for r in runs)
    nodes = {read_meta(tmp_path / r["run_id"])["extra"]["ray_node"] for r in runs}
    assert len(nodes) == 2
    capsys.readouterr()
    assert cli.main(argv) == 0  # resumable: nothing left to compute
    assert len(list_runs(tmp_path)) == len(entry.parts)
