"""torch's intra-op thread count while runs are in progress.

torch's count is one process-wide setting, so concurrent runs (the app's jobs are threads) must share it: the
first run to enter sets it, and the count from before is restored when the last one leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_users = 0
_before = 0


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads (0 leaves the count alone); see the module docstring for concurrency."""
    global _users, _before
    if count <= 0:
        yield
        return
    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(count)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)
