"""``python -m ipcore …``: the command line (``ipcore.cli``), ended without the interpreter's teardown.

Tearing down an interpreter that has imported torch takes about 0.4 s of CPU after the command is done (measured
on the 2-core machine this was built on: 1.95 s for ``import torch`` as a whole process, 1.5 s with this exit),
which a short command pays every time. So once the command has returned its exit status, this does what the
interpreter would do that matters — waits for threads that are not daemons, flushes the standard streams, runs
the ``atexit`` handlers (Ray's shutdown, logging, multiprocessing's cleanup) — and then leaves with
``os._exit``. An exception that escapes the command still takes the ordinary way out, with its traceback.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from ipcore.cli import main


def exit_status(code: object) -> int:
    """The process exit status of a ``SystemExit`` code: None → 0, an int → itself, anything else is printed
    to standard error and gives 1 (as the interpreter does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run() -> None:
    try:
        status = main()
    except SystemExit as stop:  # argparse's errors and --help
        status = exit_status(stop.code)
    except BrokenPipeError:  # the reader stopped early (`… | head`): what it wanted was written
        status = 0
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that closed the pipe (`| head`), or a closed stream
            pass
    atexit._run_exitfuncs()
    os._exit(exit_status(status))


if __name__ == "__main__":
    run()
