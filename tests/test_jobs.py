"""The job manager: background runs with live snapshots, cancel, a bounded queue, failures, no thread leaks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ipcore.config import ConfigError, NeuronConfig
from ipcore.jobs import manager as jobs_module
from ipcore.jobs.manager import JobManager, UnknownJob
from ipcore.results.records import list_runs, load_run

from conftest import DATA, needs_mnist, wait_until

# A neuron run that would take hours: only ever stopped by cancel (progress is reported every 100 iterations).
ENDLESS = NeuronConfig(n=200, iters=10_000_000, record_every=100, rules=["ip"])
# About a second of work with a few hundred recorded rows.
MEDIUM = NeuronConfig(n=500, iters=10_000, record_every=50, rules=["ip", "wd"])
TINY = NeuronConfig(n=100, iters=50, record_every=10, rules=["ip"])
DEADLINE = 60.0


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ipcore-job")]


@pytest.fixture
def manager(tmp_path):
    with JobManager(max_concurrent=1, runs_dir=tmp_path) as jm:
        yield jm
    assert job_threads() == []


def test_submit_progress_done_record_equals_last_snapshot(manager, tmp_path):
    job = manager.submit(MEDIUM, name="medium", owner="alice")
    progress, rows = [], []
    while (status := manager.status(job))["state"] in ("queued", "running"):
        progress.append(status["progress"])
        snap = manager.snapshot(job)
        if "trace/iter" in snap:
            rows.append(len(snap["trace/iter"]))
        time.sleep(0.01)
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "done" and final["error"] is None and final["progress"] == 1.0
    assert progress == sorted(progress) and any(0 < p < 1 for p in progress)
    assert rows == sorted(rows) and rows[0] < rows[-1] <= MEDIUM.iters // MEDIUM.record_every + 1
    assert final["kind"] == "neuron" and final["owner"] == "alice" and final["name"] == "medium"
    assert final["elapsed_s"] > 0 and final["remaining_s"] == 0.0
    assert final["summary"]["iters"] == MEDIUM.iters

    last = manager.snapshot(job)
    assert len(last["trace/iter"]) == MEDIUM.iters // MEDIUM.record_every + 1
    record = load_run(tmp_path, final["run_id"])
    assert record.config == MEDIUM and record.meta["state"] == "done" and record.meta["name"] == "medium"
    assert sorted(record.metrics) == sorted(last)
    for name in last:
        assert record.metrics[name].dtype == last[name].dtype, name
        np.testing.assert_array_equal(record.metrics[name], last[name], err_msg=name)
    assert job_threads() == []


def test_cancel_mid_way_keeps_the_record_and_ends_the_thread(manager, tmp_path):
    job = manager.submit(ENDLESS)
    wait_until(lambda: manager.status(job)["progress"] > 0 and manager.snapshot(job)["trace/iter"].size > 2, "rows")
    assert len(job_threads()) == 1
    assert manager.cancel(job) is True
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "cancelled" and final["error"] is None
    assert 0 < final["progress"] < 1
    assert job_threads() == []
    assert manager.cancel(job) is False  # already ended

    record = load_run(tmp_path, final["run_id"])
    assert record.meta["state"] == "cancelled"
    iters = record.metrics["trace/iter"]
    assert 2 < len(iters) and iters[-1] < ENDLESS.iters
    assert record.summary["iters"] == iters[-1]  # the last recorded row is where it stopped
    np.testing.assert_array_equal(manager.snapshot(job)["trace/alpha"], record.metrics["trace/alpha"])


def test_queue_honours_max_concurrent_and_submission_order(tmp_path):
    with JobManager(max_concurrent=2, runs_dir=None) as manager:
        ids = [manager.submit(ENDLESS, owner=f"user{i % 2}") for i in range(4)]
        wait_until(lambda: all(manager.status(j)["progress"] > 0 for j in ids[:2]), "two jobs running")
        states = [manager.status(j)["state"] for j in ids]
        assert states == ["running", "running", "queued", "queued"]
        assert [manager.status(j)["queue_position"] for j in ids[2:]] == [0, 1]
        assert [manager.status(j)["running_jobs"] for j in ids[2:]] == [2, 2]  # what the third waits for
        assert manager.snapshot(ids[3]) == {}
        assert len(job_threads()) == 2
        assert [s["job_id"] for s in manager.jobs(owner="user0")] == [ids[0], ids[2]]

        manager.cancel(ids[0])  # frees a slot: the third starts, not the fourth
        manager.wait(ids[0], DEADLINE)
        wait_until(lambda: manager.status(ids[2])["state"] == "running", "third job started")
        assert manager.status(ids[3])["state"] == "queued"
        assert sum(s["state"] == "running" for s in manager.jobs()) == 2

        manager.cancel(ids[3])  # a queued job never starts and leaves no metrics
        assert manager.status(ids[3])["state"] == "cancelled"
        for job in ids[1:3]:
            manager.cancel(job)
            assert manager.wait(job, DEADLINE)["state"] == "cancelled"
        assert manager.status(ids[3])["started"] is None
        assert [s["run_id"] for s in manager.jobs()] == [None] * 4  # no runs_dir: nothing saved
    assert job_threads() == []
    assert list_runs(tmp_path) == []


def test_twenty_snapshots_during_a_run_are_consistent(manager):
    job = manager.submit(ENDLESS)
    wait_until(lambda: manager.status(job)["progress"] > 0, "job running")
    lengths: list[int] = []
    deadline = time.monotonic() + DEADLINE
    # At least twenty snapshots, and on until the job has recorded more rows (a loaded machine may be slow).
    while len(lengths) < 20 or (lengths[-1] == lengths[0] and time.monotonic() < deadline):
        snap = manager.snapshot(job)
        columns = {name: len(value) for name, value in snap.items() if name.startswith("trace/")}
        assert len(set(columns.values())) == 1, columns
        assert snap["trace/hist"].shape[1:] == (1, 100)
        assert not snap["trace/alpha"].flags.writeable  # shared between readers: read-only
        lengths.append(next(iter(columns.values())))
        time.sleep(0.01)
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0]
    manager.cancel(job)
    assert manager.wait(job, DEADLINE)["state"] == "cancelled"


def test_snapshots_are_shared_while_nothing_changed(manager):
    job = manager.submit(TINY)
    manager.wait(job, DEADLINE)
    first, second = manager.snapshot(job), manager.snapshot(job)
    assert first is not second and first["trace/alpha"] is second["trace/alpha"]
    with pytest.raises(ValueError):
        first["trace/alpha"][0, 0] = 5.0


def test_many_reader_threads_share_one_manager(manager):
    job = manager.submit(MEDIUM)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while manager.status(job)["state"] in ("queued", "running"):
                snap = manager.snapshot(job)
                lengths = {len(v) for k, v in snap.items() if k.startswith("trace/")}
                assert len(lengths) <= 1
                manager.jobs()
                time.sleep(0.002)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(DEADLINE)
    assert errors == []
    assert manager.wait(job, DEADLINE)["state"] == "done"


def test_a_failing_job_reports_its_error_and_the_next_job_runs(manager, tmp_path, monkeypatch):
    real_run_config = jobs_module.run_config

    def run_then_fail(config, progress=None, should_stop=None, log=None):
        if config.seed == 13:  # records a little, then runs out of memory
            log.set_static(rules=np.array(config.rules))
            log.append("trace", iter=0, alpha=np.ones(1))
            raise MemoryError("cannot allocate 12 GiB")
        return real_run_config(config, progress=progress, should_stop=should_stop, log=log)

    monkeypatch.setattr(jobs_module, "run_config", run_then_fail)
    bad = manager.submit(TINY.replace(seed=13), name="doomed")
    good = manager.submit(TINY)
    failed = manager.wait(bad, DEADLINE)
    assert failed["state"] == "failed"
    assert failed["error"] == "out of memory (MemoryError): cannot allocate 12 GiB"
    assert "Traceback" not in failed["error"]
    assert manager.wait(good, DEADLINE)["state"] == "done"

    record = load_run(tmp_path, failed["run_id"])  # failed runs are kept too, with what they recorded
    assert record.meta["state"] == "failed" and record.meta["error"] == failed["error"]
    assert record.metrics["trace/iter"].tolist() == [0]
    assert {r["state"] for r in list_runs(tmp_path)} == {"failed", "done"}


def test_a_job_whose_log_is_broken_still_fails_cleanly(manager, tmp_path, monkeypatch):
    def broken(config, progress=None, should_stop=None, log=None):
        log.append("trace", alpha=np.ones(2))
        log.append("trace", alpha=np.ones(3))  # rows that cannot be stacked
        raise RuntimeError("boom")

    monkeypatch.setattr(jobs_module, "run_config", broken)
    first = manager.wait(manager.submit(TINY), DEADLINE)
    assert first["state"] == "failed" and first["error"] == "RuntimeError: boom"
    assert manager.snapshot(first["job_id"]) == {}
    assert load_run(tmp_path, first["run_id"]).metrics == {}
    monkeypatch.undo()
    assert manager.wait(manager.submit(TINY), DEADLINE)["state"] == "done"


def test_a_record_that_cannot_be_saved_is_reported_in_the_status(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with JobManager(max_concurrent=1, runs_dir=tmp_path / "afile" / "runs") as manager:
        status = manager.wait(manager.submit(TINY), DEADLINE)
        assert status["state"] == "done" and status["error"] is None and status["run_id"] is None
        assert status["save_error"].startswith(f"the run's record could not be saved in {tmp_path / 'afile'}")
        assert "Not a directory" in status["save_error"]
        assert manager.snapshot(status["job_id"])["trace/iter"].size  # the results are still readable
    with JobManager(max_concurrent=1, runs_dir=tmp_path / "runs") as manager:
        saved = manager.wait(manager.submit(TINY), DEADLINE)
        assert saved["save_error"] is None and saved["run_id"]
    with JobManager(max_concurrent=1) as manager:  # no records kept: nothing failed to save
        assert manager.wait(manager.submit(TINY), DEADLINE)["save_error"] is None


@pytest.mark.parametrize("escape", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_a_job_ends_it_and_frees_its_slot(tmp_path, monkeypatch, escape):
    real_run_config = jobs_module.run_config

    def run_then_escape(config, progress=None, should_stop=None, log=None):
        if config.seed == 13:
            raise escape("stop everything")
        return real_run_config(config, progress=progress, should_stop=should_stop, log=log)

    monkeypatch.setattr(jobs_module, "run_config", run_then_escape)
    manager = JobManager(max_concurrent=1, runs_dir=tmp_path)
    try:
        bad = manager.submit(TINY.replace(seed=13))
        good = manager.submit(TINY)  # queued behind it: runs only once the slot is freed
        failed = manager.wait(bad, 20)
        assert failed["state"] == "failed" and failed["error"] == f"{escape.__name__}: stop everything"
        assert manager.wait(good, DEADLINE)["state"] == "done"
        assert load_run(tmp_path, failed["run_id"]).meta["state"] == "failed"
    finally:
        manager.shutdown(timeout=5)  # a stuck job would make a plain shutdown wait forever
    assert job_threads() == []


def test_old_finished_jobs_are_forgotten(tmp_path):
    with JobManager(max_concurrent=1, keep_finished=2) as manager:
        ids = [manager.submit(TINY) for _ in range(4)]
        for job in ids:
            manager.wait(job, DEADLINE)
        assert [s["job_id"] for s in manager.jobs()] == ids[2:]
        with pytest.raises(UnknownJob):
            manager.status(ids[0])
        manager.forget(ids[2])
        assert [s["job_id"] for s in manager.jobs()] == ids[3:]


def test_shutdown_stops_everything_and_refuses_new_work():
    manager = JobManager(max_concurrent=1)
    running, queued = manager.submit(ENDLESS), manager.submit(ENDLESS)
    wait_until(lambda: manager.status(running)["progress"] > 0, "job running")
    manager.shutdown(timeout=DEADLINE)
    assert manager.status(running)["state"] == "cancelled"
    assert manager.status(queued)["state"] == "cancelled"
    assert job_threads() == []
    with pytest.raises(RuntimeError, match="shut down"):
        manager.submit(TINY)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ConfigError, match="max_concurrent"):
        JobManager(max_concurrent=0)
    with JobManager() as manager:
        assert manager.max_concurrent >= 1
        with pytest.raises(ConfigError, match="name"):
            manager.submit(TINY, name="../escape")
        with pytest.raises(ConfigError, match="kind"):
            manager.submit({"kind": "nope"})
        with pytest.raises(TypeError):
            manager.submit("neuron")
        with pytest.raises(UnknownJob):
            manager.snapshot("job0-000000")
        job = manager.submit(TINY.to_dict())  # a config dict works too
        assert manager.wait(job, DEADLINE)["state"] == "done"


# --- network training through the manager (synthetic data: no download, seconds) ------------------------


def train_config(**changes):
    from ipcore.config import TrainConfig

    base = dict(dataset="clusters", depth=3, width=16, epochs=1, seeds=2, subset=600, batch_size=100, device="cpu")
    return TrainConfig(**(base | changes))


def test_training_job_runs_and_its_record_matches_the_last_snapshot(manager, tmp_path):
    config = train_config(epochs=2)
    job = manager.submit(config, name="clusters quick")
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "done", final["error"]
    assert final["kind"] == "train" and [r["rule"] for r in final["summary"]["rules"]] == ["ip", "none"]
    last = manager.snapshot(job)
    assert last["epoch/test_acc"].shape == (2, 4)  # 2 epochs × (2 rules · 2 seeds)
    record = load_run(tmp_path, final["run_id"])
    assert record.config == config and record.meta["kind"] == "train" and record.meta["device"] == "cpu"
    assert sorted(record.metrics) == sorted(last)
    for name in last:
        np.testing.assert_array_equal(record.metrics[name], last[name], err_msg=name)
    assert record.metrics["hist/hist"].dtype == np.float16
    assert list(record.metrics["members_rule"]) == ["ip", "ip", "none", "none"]


def test_cancelling_a_training_keeps_its_epochs_so_far(manager, tmp_path):
    job = manager.submit(train_config(epochs=500, subset=400))
    wait_until(lambda: manager.snapshot(job).get("epoch/epoch", np.zeros(0)).size >= 1, "first epoch")
    manager.cancel(job)
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "cancelled" and job_threads() == []
    record = load_run(tmp_path, final["run_id"])
    assert record.meta["state"] == "cancelled"
    epochs = len(record.metrics["epoch/epoch"])
    assert 1 <= epochs < 500
    lengths = {len(v) for k, v in record.metrics.items() if k.startswith("layer/")}
    assert len(lengths) == 1


def test_a_missing_dataset_fails_the_job_with_its_message_and_the_next_runs(manager, tmp_path, monkeypatch):
    monkeypatch.setenv("IPCORE_OFFLINE", "1")  # never try to download in tests
    missing = tmp_path / "no-data-here"
    bad = manager.submit(train_config(dataset="mnist", data_root=str(missing)))
    good = manager.submit(train_config())
    failed = manager.wait(bad, DEADLINE)
    assert failed["state"] == "failed"
    assert "mnist" in failed["error"] and str(missing) in failed["error"] and "Traceback" not in failed["error"]
    assert manager.wait(good, DEADLINE)["state"] == "done"
    assert load_run(tmp_path, failed["run_id"]).meta["error"] == failed["error"]


@pytest.mark.slow
@needs_mnist
def test_a_real_mnist_training_job_is_saved_and_reloads(manager, tmp_path):
    config = train_config(dataset="mnist", data_root=str(DATA), subset=1000, seeds=1, epochs=1, batch_size=200)
    final = manager.wait(manager.submit(config), DEADLINE)
    assert final["state"] == "done", final["error"]
    record = load_run(tmp_path, final["run_id"])
    assert record.config.data_root == str(DATA)
    accuracy = record.metrics["epoch/test_acc"]
    assert accuracy.shape == (1, 2) and np.all(accuracy > 0.2)  # 10 classes: chance is 0.1
    np.testing.assert_array_equal(manager.snapshot(manager.jobs()[-1]["job_id"])["epoch/test_acc"], accuracy)


class _RestackingLog:
    """The naive reference: keep every row, stack them all on each snapshot."""

    def __init__(self):
        self.tables, self.static = {}, {}

    def append(self, table, **row):
        for column, value in row.items():
            self.tables.setdefault(table, {}).setdefault(column, []).append(np.asarray(value))

    def set_static(self, **arrays):
        self.static.update({k: np.asarray(v) for k, v in arrays.items()})

    def snapshot(self):
        out = dict(self.static)
        for table, columns in self.tables.items():
            out.update({f"{table}/{c}": np.stack(v) for c, v in columns.items()})
        return out


def test_incremental_snapshots_equal_stacking_every_row():
    from ipcore.results.metrics_log import MetricsLog

    rng = np.random.default_rng(0)
    base, stacking = _RestackingLog(), MetricsLog()
    earlier = []
    for i in range(300):
        row = {
            "iter": i,
            "alpha": rng.random(3),
            "hist": rng.random((3, 10)).astype(np.float32),
            "flag": i % 2 == 0,
            "value": i if i < 150 else i + 0.5,  # int rows, then float rows: promoted like np.stack does
        }
        base.append("trace", **row)
        stacking.append("trace", **row)
        if i % 7 == 0:
            base.append("sparse", step=i)
            stacking.append("sparse", step=i)
            earlier.append((i, stacking.snapshot()))
        if i == 20:
            base.set_static(rules=np.array(["ip", "wd", "none"]))
            stacking.set_static(rules=np.array(["ip", "wd", "none"]))
    expected, got = base.snapshot(), stacking.snapshot()
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    for i, snap in earlier:  # earlier snapshots are untouched by later rows and buffer growth
        assert snap["trace/iter"].tolist() == list(range(i + 1))
        np.testing.assert_array_equal(snap["trace/hist"], expected["trace/hist"][: i + 1])
    stacking.append("trace", iter=0, alpha=np.ones(4), hist=np.ones((3, 10)), flag=True, value=1.0)
    with pytest.raises(ValueError, match="shape"):
        stacking.snapshot()


def test_concurrent_trainings_count_the_memory_the_running_ones_hold(tmp_path, monkeypatch):
    """One training fits the (fake, small) free memory, two do not: the second is refused while the first runs,
    with a message naming its size, what is free and what the other holds; once the first ended, it fits."""
    import torch

    from ipcore.data import load_dataset
    from ipcore.training import resources

    long_run = train_config(epochs=1000)  # runs until cancelled
    needed = resources.estimated_memory(long_run, load_dataset("clusters", subset=600))
    free = int(1.5 * needed / resources.MEMORY_HEADROOM)  # room for one and a half of them
    monkeypatch.setattr(resources, "available_memory", lambda device: free)
    with JobManager(max_concurrent=2, runs_dir=tmp_path) as manager:
        first = manager.submit(long_run)
        wait_until(lambda: manager.status(first)["progress"] > 0, "the first training running")
        assert resources.memory_held(torch.device("cpu")) == (needed, 1)  # seen from this (another) thread
        second = manager.wait(manager.submit(long_run.replace(seed=5)), DEADLINE)
        assert second["state"] == "failed"
        size = f"{needed / 2**20:.0f} MiB"
        assert f"need about {size}, but cpu has {free / 2**20:.0f} MiB free" in second["error"]
        assert f"free and 1 other run in progress here holds {size}; use fewer" in second["error"]
        assert manager.status(first)["state"] == "running"  # the refused job did not disturb the first
        manager.cancel(first)
        assert manager.wait(first, DEADLINE)["state"] == "cancelled"
        assert resources.memory_held(torch.device("cpu")) == (0, 0)  # given back when it ended
        third = manager.wait(manager.submit(train_config()), DEADLINE)
        assert third["state"] == "done", third["error"]
