"""What every test file shares: where the repository, the real datasets and the committed records are, and the
markers that skip a test (visibly, with the reason) when what it needs is absent.

Test files import these names (``from conftest import DATA, needs_mnist``); pytest puts this folder on the
import path before it collects them. The real datasets are read in place from ``../shared/datasets`` beside
the repository (``IPCORE_TEST_DATA`` points elsewhere), never copied.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
"""The repository."""

DATA = Path(os.environ.get("IPCORE_TEST_DATA") or ROOT.parent / "shared" / "datasets")
"""The real datasets (``MNIST/raw``, ``cifar10-jpg``)."""

CACHED = ROOT / "cached_runs"
"""The gallery's committed records."""

MNIST_RAW = DATA / "MNIST" / "raw"

needs_mnist = pytest.mark.skipif(
    not (MNIST_RAW / "train-images-idx3-ubyte").is_file(), reason=f"needs the real MNIST in {MNIST_RAW}"
)  # the files, not only the folder: a failed download leaves the folder empty
"""Integration tests on the real MNIST."""


@pytest.fixture(autouse=True, scope="session")
def runs_folder_of_the_session(tmp_path_factory):
    """Records a test saves without naming a folder land in a temporary one: never in the user's
    ``~/.local/share/ipcore/runs`` nor in the checkout's ``cached_runs/`` (the gallery's committed records)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("IPCORE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    yield
    patch.undo()


@pytest.fixture(params=["torch", "logistic"])
def tanh_kernel(request):
    """Each of the CPU's two float32 tanh kernels in turn (``ipcore.engine.activations.cpu_tanh_kernel``), pinned
    through ``IPCORE_TANH``; the process's own choice is measured again after the test."""
    from ipcore.engine.activations import pinned_tanh_kernel

    with pinned_tanh_kernel(request.param):
        yield request.param
