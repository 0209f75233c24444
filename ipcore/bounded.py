"""Run a computation of unknown cost in a worker process under a time limit, so the caller never waits longer.

Some ``scipy.stats`` distributions are slow beyond any bound for some parameters: ``studentized_range`` with
df = 10⁻⁵ spends 15 s in its median, ``levy_stable`` seconds per 10⁶ samples. Checking or previewing such a
distribution inside the server's page script would hold the page (and, with the interpreter lock, every other
page) for that long. ``call_with_time_limit`` runs the function in a process of its own (a fork of the caller)
and ends that process when the time is up: the caller gets
``TimeLimitExceeded`` after ``seconds`` whatever the function does. An exception inside the function comes back as
``WorkerError`` with its message (never a traceback on a page).

Inside a daemon process (a job process, which may not start children) the function runs in place: a job is
bounded by its own time limit and stop.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any


class TimeLimitExceeded(TimeoutError):
    """The function did not finish within its time limit (its process was ended)."""


class WorkerError(RuntimeError):
    """The function raised: ``message`` is the exception's type and text."""


def _worker(function: Callable[..., Any], args: tuple, connection: Any) -> None:
    from ipcore.errors import ConfigError

    try:
        connection.send(("ok", function(*args)))
    except ConfigError as exc:  # a field error stays one, for the caller to show as such
        connection.send(("config", exc.field, str(exc)[len(exc.field) + 2 :]))
    except BaseException as exc:  # everything goes back to the caller as a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        connection.send(("error", f"{type(exc).__name__}{': ' + text if text else ''}", traceback.format_exc()))
    finally:
        connection.close()


def _context() -> Any:
    """A plain fork of the caller: milliseconds, with scipy already imported (the fork server would run the
    server's page script in each new process first, and starting it imports torch, seconds outside any limit).
    The worker only computes a scipy function and answers through a pipe."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")  # pragma: no cover - platforms without fork


def call_with_time_limit(function: Callable[..., Any], args: tuple, seconds: float) -> Any:
    """``function(*args)`` in a worker process, at most ``seconds`` of waiting; its (picklable) result.

    ``function`` must be importable (a module-level function). Raises ``TimeLimitExceeded``, ``WorkerError``, or
    the ConfigError the function raised."""
    if multiprocessing.current_process().daemon:
        from ipcore.errors import ConfigError

        try:
            return function(*args)
        except ConfigError:
            raise
        except Exception as exc:
            raise WorkerError(f"{type(exc).__name__}: {exc}") from exc
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker, args=(function, args, sender), name="ipcore-bounded", daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise TimeLimitExceeded(f"not finished within {seconds:g} s")
        try:
            answer = receiver.recv()
        except EOFError:
            raise WorkerError(f"the worker ended without an answer (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(2.0)
        receiver.close()
    if answer[0] == "config":
        from ipcore.errors import ConfigError

        raise ConfigError(answer[1], answer[2])
    if answer[0] == "error":
        raise WorkerError(answer[1])
    return answer[1]
