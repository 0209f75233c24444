"""Jobs in processes of their own (``JobManager(isolation="process")``, what the app uses): the same rows and
records as a job in a thread, live rows while it runs, cancel, failures with their own message, a killed
process, the environment of the moment, and memory promises shared between job processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from ipcore.config import ConfigError, NeuronConfig, TrainConfig
from ipcore.jobs.manager import JobManager
from ipcore.results.records import load_run
from ipcore.training import resources

from conftest import wait_until

DEADLINE = 120.0


def train_config(**changes) -> TrainConfig:
    base = dict(dataset="clusters", depth=3, width=16, epochs=1, seeds=2, subset=600, batch_size=100, device="cpu")
    return TrainConfig(**(base | changes))


def job_processes() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("ipcore-job")]


def without_timing(summary: dict) -> dict:
    """The summary without its wall-clock figures (they differ between any two runs)."""
    timing = ("seconds", "samples_per_s", "steps_per_s")
    rules = [{k: v for k, v in rule.items() if k not in timing} for rule in summary["rules"]]
    return {k: v for k, v in summary.items() if k not in timing} | {"rules": rules}


@pytest.fixture
def manager(tmp_path):
    with JobManager(max_concurrent=1, runs_dir=tmp_path, isolation="process") as jm:
        yield jm
    wait_until(lambda: job_processes() == [], "job processes to end", 10)


def test_a_training_in_its_own_process_records_what_a_thread_records(manager, tmp_path, monkeypatch):
    monkeypatch.setenv("IPCORE_THREADS", "1")  # both ways on one thread: other counts round some sums differently
    config = train_config(epochs=2)
    with JobManager(max_concurrent=1, isolation="thread") as threaded:
        reference = threaded.wait(threaded.submit(config), DEADLINE)
        expected = threaded.snapshot(reference["job_id"])
    final = manager.wait(manager.submit(config, name="in a process"), DEADLINE)
    assert final["state"] == "done", final["error"]
    assert final["progress"] == 1.0
    assert without_timing(final["summary"]) == without_timing(reference["summary"])
    got = manager.snapshot(final["job_id"])
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    record = load_run(tmp_path, final["run_id"])
    assert record.config == config and record.meta["name"] == "in a process"
    for name in got:
        np.testing.assert_array_equal(record.metrics[name], got[name], err_msg=name)


def test_rows_and_progress_arrive_while_the_process_runs(manager):
    job = manager.submit(NeuronConfig(n=500, iters=40_000, record_every=50, rules=["ip", "wd"]))
    rows, progress = [], []
    while (status := manager.status(job))["state"] in ("queued", "running"):
        snap = manager.snapshot(job)
        if "trace/iter" in snap:
            rows.append(len(snap["trace/iter"]))
            progress.append(status["progress"])
        time.sleep(0.02)
    assert manager.wait(job, DEADLINE)["state"] == "done"
    assert rows == sorted(rows) and len(set(rows)) >= 3, rows  # seen growing, not only at the end
    assert progress == sorted(progress) and any(0 < p < 1 for p in progress)


def test_cancel_stops_the_process_and_keeps_what_it_recorded(manager, tmp_path):
    job = manager.submit(train_config(epochs=500, subset=400))
    wait_until(lambda: manager.snapshot(job).get("epoch/epoch", np.zeros(0)).size >= 1, "first epoch")
    assert len(job_processes()) == 1
    assert manager.cancel(job)
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "cancelled"
    record = load_run(tmp_path, final["run_id"])
    assert record.meta["state"] == "cancelled" and 1 <= len(record.metrics["epoch/epoch"]) < 500
    wait_until(lambda: job_processes() == [], "the job process to exit", 10)


def test_a_failure_is_its_own_message_and_the_next_job_runs(manager, tmp_path, monkeypatch):
    manager.wait(manager.submit(train_config()), DEADLINE)  # the fork server is running from here on
    monkeypatch.setenv("IPCORE_OFFLINE", "1")  # set after the fork server started: the job must still see it
    missing = tmp_path / "no-data-here"
    bad = manager.submit(train_config(dataset="mnist", data_root=str(missing)))
    good = manager.submit(train_config(seed=3))
    failed = manager.wait(bad, DEADLINE)
    assert failed["state"] == "failed"
    assert failed["error"].startswith("dataset: mnist is not available (downloads are off)")
    assert str(missing) in failed["error"] and "Traceback" not in failed["error"]
    assert manager.wait(good, DEADLINE)["state"] == "done"


def test_a_killed_job_process_fails_its_job_and_frees_the_slot(manager, tmp_path):
    job = manager.submit(train_config(epochs=1000))
    wait_until(lambda: manager.status(job)["progress"] > 0, "the training running")
    (process,) = job_processes()
    os.kill(process.pid, signal.SIGKILL)
    final = manager.wait(job, DEADLINE)
    assert final["state"] == "failed"
    assert final["error"].startswith("the job's process ended without a result (exit code -9)")
    assert load_run(tmp_path, final["run_id"]).meta["state"] == "failed"  # what it recorded is kept
    assert manager.wait(manager.submit(train_config()), DEADLINE)["state"] == "done"


def test_job_processes_are_told_what_the_others_were_promised(tmp_path):
    """Two job processes: the second's training counts the memory the first's was promised (its own process
    cannot see the first's promise otherwise)."""
    import torch

    from ipcore.data import load_dataset

    long_run = train_config(epochs=1000)
    needed = resources.estimated_memory(long_run, load_dataset("clusters", subset=600))
    with JobManager(max_concurrent=2, runs_dir=tmp_path, isolation="process") as manager:
        first = manager.submit(long_run)
        wait_until(lambda: manager.status(first)["progress"] > 0, "the first training running")
        assert manager._get(first).promised == ("cpu", needed)
        held = []
        original = manager._run

        def spy(job):
            with manager._lock:
                held.append({o.job_id: o.promised for o in manager._running if o is not job})
            return original(job)

        manager._run = spy
        second = manager.submit(long_run.replace(seed=5, epochs=1))
        assert manager.wait(second, DEADLINE)["state"] == "done"
        assert held == [{first: ("cpu", needed)}]
        manager.cancel(first)
        assert manager.wait(first, DEADLINE)["state"] == "cancelled"
    resources.set_memory_held_elsewhere({"cpu": (needed, 1)})
    try:
        assert resources.memory_held(torch.device("cpu")) == (needed, 1)
    finally:
        resources.set_memory_held_elsewhere({})
    assert resources.memory_held(torch.device("cpu")) == (0, 0)


def test_isolation_is_checked():
    with pytest.raises(ConfigError, match="isolation: must be one of thread, process"):
        JobManager(isolation="fiber")


SERVER = """
import signal, sys, time
from ipcore.config import TrainConfig
from ipcore.jobs.manager import JobManager

def main():
    manager = JobManager(runs_dir=sys.argv[1], isolation="process")
    # What Streamlit does on SIGTERM: stop serving, then the atexit hook stops the jobs and saves them.
    signal.signal(signal.SIGTERM, lambda *_: (manager.shutdown(timeout=60), sys.exit(0)))
    config = TrainConfig(dataset="clusters", depth=3, width=16, epochs=1000, seeds=2, subset=600, device="cpu")
    job = manager.submit(config)
    while manager.status(job)["progress"] <= 0:
        time.sleep(0.05)
    print("running", flush=True)
    time.sleep(600)

if __name__ == "__main__":
    main()
"""


def test_sigterm_to_the_servers_process_group_saves_its_jobs_as_cancelled(tmp_path):
    """A service manager stops the server with SIGTERM to its whole process group: the job process gets it too,
    and must end as cancelled with its rows (saved by the server), not die without a record."""
    import subprocess
    import sys
    from pathlib import Path

    from ipcore.results.records import list_runs

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
        start_new_session=True,
    )
    try:
        assert process.stdout.readline().strip() == b"running"
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err.decode()
    (meta,) = list_runs(tmp_path / "runs")
    assert meta["state"] == "cancelled", err.decode()
    assert load_run(tmp_path / "runs", meta["run_id"]).metrics["batch/loss"].shape[0] >= 1


def test_a_sweep_in_its_own_process_writes_the_records_run_sweep_writes(tmp_path):
    from ipcore.config import SweepConfig
    from ipcore.jobs.process import run_sweep_in_process
    from ipcore.results.records import list_runs
    from ipcore.training.sweep import run_sweep

    sweep = SweepConfig(dataset="clusters", rules=["ip", "none"], lr=[0.003, 0.03], depth=2, width=8, seeds=2,
                        subset=300, device="cpu")  # fmt: skip
    parts, progress = {}, []
    outcome = run_sweep_in_process(
        sweep, name="grid", runs_dir=str(tmp_path / "a"), on_part=parts.__setitem__, progress=progress.append
    )
    reference = run_sweep(sweep, name="grid", runs_dir=tmp_path / "b")
    assert outcome.backend == "local" and not outcome.interrupted and outcome.errors == []
    assert [parts[i] for i in sorted(parts)] == outcome.parts
    assert [p["run_id"] for p in outcome.parts] == [p["run_id"] for p in reference.parts]
    assert progress[-1] == 1.0 and progress == sorted(progress)
    for run_id in (p["run_id"] for p in outcome.parts):
        a, b = load_run(tmp_path / "a", run_id), load_run(tmp_path / "b", run_id)
        np.testing.assert_array_equal(a.metrics["epoch/test_acc"], b.metrics["epoch/test_acc"])
    assert len(list_runs(tmp_path / "a")) == len(sweep.points())


def test_a_job_process_leaves_a_core_to_the_server(monkeypatch):
    """Without IPCORE_THREADS a job process trains on every usable CPU but one (at least 1), whatever the load
    when it starts; the operator's setting wins."""
    from ipcore.jobs.process import job_threads

    monkeypatch.setattr(resources, "usable_cpus", lambda: 2)
    assert job_threads({}) == "1"
    monkeypatch.setattr(resources, "usable_cpus", lambda: 16)
    assert job_threads({}) == "15"
    monkeypatch.setattr(resources, "usable_cpus", lambda: 1)
    assert job_threads({}) == "1"
    assert job_threads({"IPCORE_THREADS": "4"}) == "4"


def test_a_job_process_never_waits_for_the_server_to_read():
    """The outbox queues what the job sends and a thread of its own sends it in batches: a server that does not
    read (busy drawing pages) cannot stall the training; everything arrives, in order, once it reads."""
    import threading

    from ipcore.jobs.process import Outbox, unbatched

    reading = threading.Event()
    received: list[tuple] = []

    class SlowServer:
        def send(self, message):
            reading.wait(DEADLINE)  # the pipe is full until the server reads
            received.append(message)

    outbox = Outbox(SlowServer())
    for index in range(3000):
        outbox.send(("append", "batch", {"step": index}))  # returns at once although nothing is read
    outbox.send(("end", "done", {}))
    assert received == []
    reading.set()
    outbox.close()
    messages = [message for batch in received for message in unbatched(batch)]
    assert [m[2]["step"] for m in messages[:-1]] == list(range(3000)) and messages[-1] == ("end", "done", {})
    assert 3 <= len(received) <= 3000 // Outbox.max_batch + 2  # batches, not one message each
    assert unbatched(("progress", 0.5)) == [("progress", 0.5)]

    class GoneServer:
        def send(self, message):
            raise BrokenPipeError("the server is gone")

    gone = Outbox(GoneServer())
    gone.send(("progress", 1.0))
    gone.close()  # drops what is left instead of failing the job's exit


@pytest.mark.parametrize("setting, lower_by", [(None, 10), ("3", 3), ("0", 0)])
def test_a_job_process_runs_below_the_servers_priority(manager, monkeypatch, setting, lower_by):
    """The pages come first: a job process runs IPCORE_JOB_NICE (default 10) below the server's priority, every
    thread of it included (its torch threads start after the change)."""
    if setting is None:
        monkeypatch.delenv("IPCORE_JOB_NICE", raising=False)
    else:
        monkeypatch.setenv("IPCORE_JOB_NICE", setting)
    job = manager.submit(train_config(epochs=1000))
    wait_until(lambda: manager.status(job)["progress"] > 0, "the training running")
    (process,) = job_processes()
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + lower_by)
    threads = [int(task) for task in os.listdir(f"/proc/{process.pid}/task")]
    assert {os.getpriority(os.PRIO_PROCESS, tid) for tid in threads} == {expected}
    manager.cancel(job)
    assert manager.wait(job, DEADLINE)["state"] == "cancelled"


@pytest.mark.parametrize("setting", ["20", "-1", "low"])
def test_a_bad_job_priority_fails_the_job_with_the_allowed_range(manager, monkeypatch, setting):
    monkeypatch.setenv("IPCORE_JOB_NICE", setting)
    failed = manager.wait(manager.submit(train_config()), DEADLINE)
    assert failed["state"] == "failed"
    assert failed["error"].startswith(f"IPCORE_JOB_NICE: must be a whole number from 0 to 19 (got '{setting}')")
    assert "Traceback" not in failed["error"]


def test_a_job_process_keeps_off_the_last_cpu_unless_threads_are_set(manager, monkeypatch):
    """Without IPCORE_THREADS a job process (every thread of it) runs on every CPU but the last, which the pages
    keep; with it, where the server runs."""
    usable = sorted(os.sched_getaffinity(0))
    for threads, expected in [(None, set(usable[:-1]) or set(usable)), ("1", set(usable))]:
        if threads is None:
            monkeypatch.delenv("IPCORE_THREADS", raising=False)
        else:
            monkeypatch.setenv("IPCORE_THREADS", threads)
        job = manager.submit(train_config(epochs=1000))
        wait_until(lambda job=job: manager.status(job)["progress"] > 0, "the training running")
        (process,) = job_processes()
        tasks = [int(task) for task in os.listdir(f"/proc/{process.pid}/task")]
        assert all(os.sched_getaffinity(tid) == expected for tid in tasks), threads
        manager.cancel(job)
        assert manager.wait(job, DEADLINE)["state"] == "cancelled"
        wait_until(lambda: job_processes() == [], "the job process to end", 10)


def test_a_job_process_does_not_run_the_servers_main_script(manager, tmp_path, monkeypatch):
    """Streamlit puts the page script it ran last in sys.modules["__main__"]; a new process under forkserver or
    spawn would run that page again (bare, before its training). A job process must not."""
    import sys
    import types

    marker = tmp_path / "ran"
    page = tmp_path / "page.py"
    page.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('the page ran')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(page)
    fake_main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    assert manager.wait(manager.submit(train_config()), DEADLINE)["state"] == "done"
    assert not marker.exists()
    # another process started from the same interpreter still gets the usual preparation
    data = multiprocessing.spawn.get_preparation_data("another")
    assert data["init_main_from_path"] == str(page)


def test_a_job_process_computes_tanh_with_the_servers_kernel(manager, monkeypatch):
    """Without IPCORE_TANH each process would time the two float32 tanh kernels itself; a job takes the server's
    choice instead, so that it rounds as the same training in the server does. Here the server is made to choose
    the kernel this machine would not, which a job measuring for itself would not pick."""
    from ipcore.engine import activations

    monkeypatch.delenv(activations.TANH_KERNEL_ENV, raising=False)
    measured = activations._measure_cpu_tanh()
    other = "torch" if measured == "logistic" else "logistic"
    monkeypatch.setattr(activations, "_measure_cpu_tanh", lambda: other)
    activations.cpu_tanh_kernel.cache_clear()
    try:
        final = manager.wait(manager.submit(train_config()), DEADLINE)
        assert final["state"] == "done", final["error"]
        assert final["summary"]["tanh_kernel"] == other
    finally:
        activations.cpu_tanh_kernel.cache_clear()
