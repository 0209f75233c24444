"""``bench/bench_load.py``'s priority helper: the watchers' browsers must really yield the CPU to the visitor's.

Playwright starts each browser in a session of its own; with the kernel's autogroups a thread's nice value ranks
it only inside its session's group, so renicing the threads alone left the watchers' browser an equal share of
the CPU against the visitor's (the visitor's page took twice its idle time). The group's own nice value fixes it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def bench_load():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "bench_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[2])


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="the kernel has no scheduler autogroups")
def test_lowest_priority_lowers_the_autogroup_of_a_process_in_its_own_session() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        before = autogroup_nice(child.pid)
        module = bench_load()
        module.lower_autogroup(Path(f"/proc/{child.pid}"), 19)
        assert autogroup_nice(child.pid) == 19 and before < 19
        module.lower_autogroup(Path(f"/proc/{child.pid}"), 5)  # never raised again
        assert autogroup_nice(child.pid) == 19
        module.lower_autogroup(Path("/proc/999999999"), 19)  # a process that has ended: nothing to do, no error
    finally:
        child.kill()
        child.wait()


def test_lowest_priority_touches_only_the_processes_the_benchmark_started() -> None:
    """On a shared machine another chromium (here: a ``sleep`` this test does not parent) keeps its priority."""
    import os

    mine = subprocess.Popen(["sleep", "60"], start_new_session=True)
    launcher = subprocess.run(
        ["setsid", "sh", "-c", "sleep 60 > /dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True
    )
    stranger = int(launcher.stdout.strip())  # its parent has exited: it is nobody's child here
    try:
        module = bench_load()
        before = os.getpriority(os.PRIO_PROCESS, stranger)
        assert before < 19
        assert module.started_by(mine.pid) and not module.started_by(stranger)
        module.lowest_priority("sleep", nice=19, cpus=set())
        assert os.getpriority(os.PRIO_PROCESS, mine.pid) == 19
        assert os.getpriority(os.PRIO_PROCESS, stranger) == before
    finally:
        mine.kill()
        mine.wait()
        os.kill(stranger, 9)
