"""Whether this machine can have a CUDA device at all, answered without importing torch.

Importing torch takes 3–7 s of a core; a page that only says "CPU only" or picks how many jobs run at once should
not pay that. ``torch.cuda.is_available()`` needs the NVIDIA driver's library (``libcuda.so.1``), or on AMD cards
ROCm's kernel driver (``/dev/kfd``): where neither exists, torch cannot see a GPU, and ``no_cuda_possible`` says so
in a millisecond. Where one exists the answer is torch's own (the callers import it then).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys


@functools.cache
def no_cuda_possible() -> bool:
    """True when torch certainly sees no CUDA (or ROCm) device here: no driver library and no ROCm device node.
    False means "maybe": ask ``torch.cuda.is_available()`` (always so off Linux). Loading the library does not
    initialise CUDA."""
    if sys.platform != "linux":  # Windows loads nvcuda.dll, not libcuda.so.1: only torch can tell there
        return False
    if os.path.exists("/dev/kfd"):
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
