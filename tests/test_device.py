"""``ipcore.specs.device``: "no CUDA possible" said without torch must never contradict torch."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from ipcore.specs import device

ROOT = Path(__file__).resolve().parent.parent


def test_no_cuda_possible_agrees_with_torch():
    import torch

    if device.no_cuda_possible():
        assert not torch.cuda.is_available()
    assert device.cpu_count() >= 1


def test_a_driver_library_or_rocm_node_means_ask_torch(monkeypatch: pytest.MonkeyPatch):
    device.no_cuda_possible.cache_clear()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # the driver library loads
    monkeypatch.setattr(device.os.path, "exists", lambda path: False)
    assert device.no_cuda_possible() is False
    device.no_cuda_possible.cache_clear()

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert device.no_cuda_possible() is True
    device.no_cuda_possible.cache_clear()
    monkeypatch.setattr(device.os.path, "exists", lambda path: path == "/dev/kfd")  # an AMD card (ROCm)
    assert device.no_cuda_possible() is False
    device.no_cuda_possible.cache_clear()


def test_the_home_page_and_the_job_manager_need_no_torch_to_know_the_device():
    code = (
        "import sys; from ipcore.jobs.manager import default_max_concurrent; from ipcore.specs.device import "
        "no_cuda_possible; n = default_max_concurrent(); print(no_cuda_possible(), n, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})  # fmt: skip
    assert done.returncode == 0, done.stderr
    possible_none, jobs, torch_loaded = done.stdout.split()
    if possible_none == "True":
        assert (jobs, torch_loaded) == ("1", "False")
