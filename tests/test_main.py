"""``python -m ipcore``'s exit: the command's status, and the interpreter's duties done before ``os._exit``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ipcore.__main__ import exit_status

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_exit_status_follows_the_interpreters_rules(capsys):
    assert exit_status(None) == 0 and exit_status(3) == 3
    assert exit_status("no such run") == 1
    assert capsys.readouterr().err == "no such run\n"


def test_the_command_line_ends_with_its_status_after_threads_streams_and_exit_handlers():
    done = _python(
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread finished'))).start()\n"
        "sys.argv = ['ipcore', 'rules']\n"
        "from ipcore.__main__ import run\n"
        "print('before', end='')  # no newline: only an explicit flush writes it\n"
        "run()\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("before") and "ip" in done.stdout
    assert done.stdout.index("thread finished") < done.stdout.index("exit handler ran")
    bad = subprocess.run(
        [sys.executable, "-m", "ipcore", "train", "--epochs", "-3"], capture_output=True, text=True, cwd=ROOT
    )
    assert bad.returncode == 2 and "epochs" in bad.stderr and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "ipcore", "--no-such-flag"], capture_output=True, text=True, cwd=ROOT)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """``python -m ipcore rules | head -1``: the reader closes the pipe; no traceback, status 0 (SIGPIPE is
    ignored in Python, so the write raises BrokenPipeError)."""
    command = subprocess.Popen(
        [sys.executable, "-m", "ipcore", "rules"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    command.stdout.close()  # before the command writes: each of its writes meets a closed pipe
    err = command.stderr.read().decode()
    assert command.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err
