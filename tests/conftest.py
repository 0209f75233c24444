"""What every test file shares: where the repository, the real datasets and the committed records are, and the
markers that skip a test (visibly, with the reason) when what it needs is absent.

Test files import these names (``from conftest import DATA, needs_mnist``); pytest puts this folder on the
import path before it collects them. The real datasets are read in place from ``../shared/datasets`` beside
the repository (``IPCORE_TEST_DATA`` points elsewhere), never copied.
"""

from __future__ import annotations

import os
import re
import time
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
    ``~/.local/share/ipcore/runs`` nor in the checkout's ``cached_runs/`` (the gallery's committed records). The
    cache (kept verdicts, remembered scipy settings, plotly.js, decoded images) is a temporary folder too, so a
    test never reads what an earlier session or the user's own servers left in ``~/.cache/ipcore``."""
    patch = pytest.MonkeyPatch()
    patch.setenv("IPCORE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    patch.setenv("IPCORE_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


@pytest.fixture(params=["torch", "logistic"])
def tanh_kernel(request):
    """Each of the CPU's two float32 tanh kernels in turn (``ipcore.engine.activations.cpu_tanh_kernel``), pinned
    through ``IPCORE_TANH``; the process's own choice is measured again after the test."""
    from ipcore.engine.activations import pinned_tanh_kernel

    with pinned_tanh_kernel(request.param):
        yield request.param


# --- the quick tier -----------------------------------------------------------------------------------

SLOW_SIGNS = re.compile(
    r"open_app\(|AppTest|subprocess|sys\.executable|multiprocessing|JobManager\(|\bray\.|"
    r"needs_mnist|\bDATA\b"
)
"""What makes a test slow, read from its source: it renders a page script (Streamlit's AppTest), starts a
process (the CLI, a job process, Ray) or reads a real dataset. Such tests are marked ``slow`` at collection, so
``python -m pytest -m "not slow"`` is the quick tier of the edit–test loop; ``python -m pytest`` runs them all."""


SLOW_FILES = {
    "test_jobs.py",
    "test_job_process.py",
    "test_sweep_ray.py",
    "test_custom_rules_ray.py",
    "test_gallery.py",
}
"""Files whose every test starts job processes, Ray or the CLI (often through a fixture)."""
SLOW_TESTS = {
    "test_printed_forms_never_settle_and_the_corrected_ones_do",  # 12 000 float64 rule updates in Python
    "test_triesch_drives_the_output_to_its_gaussian_target",
    "test_fashion_mnist_from_the_debian_package",  # reads a real dataset
    "test_the_committed_report_is_the_table_the_records_give",  # assesses every committed record twice
    "test_neuron_fixed_point_of_the_thesis_inputs",  # 10 000-iteration neuron runs
    "test_gallery_entry_compares_the_notebooks_rule_with_the_texts_at_figs_3_5_and_3_6",
    "test_export_svg_png_named_after_the_chart",  # kaleido drives chromium
    "test_a_gallery_card_exports_as_one_pdf",
    "test_a_job_process_loads_the_rule_files_its_parent_loaded",  # starts a job process
}
SLOW_FIXTURES = {"gaussian_5_2"}  # the thesis's full-size neuron comparison: 4 rules × 10 000 iterations
"""Tests measured slow (seconds alone, minutes on a loaded machine) that their source does not give away."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import inspect

    sources: dict[object, str] = {}

    def source(function: object) -> str:
        if function not in sources:
            try:
                sources[function] = inspect.getsource(function)
            except (OSError, TypeError):
                sources[function] = ""
        return sources[function]

    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("slow"):
            continue
        if (
            item.path.name in SLOW_FILES
            or function.__name__ in SLOW_TESTS
            or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.slow)
            continue
        text = source(function)
        # one level of helpers: a test that calls run_cli(...) is as slow as run_cli
        helpers = [getattr(item.module, name, None) for name in set(re.findall(r"\b(\w+)\(", text))]
        text += "".join(source(h) for h in helpers if inspect.isfunction(h) and h is not function)
        if SLOW_SIGNS.search(text):
            item.add_marker(pytest.mark.slow)


# --- the app's runs and runs folder (tests/test_app_*.py) ----------------------------------------


@pytest.fixture(scope="module")
def train_run():
    """A real, tiny network run on the synthetic clusters task (seconds on a CPU)."""
    from app_helpers import TINY_TRAIN

    from ipcore.config import TrainConfig
    from ipcore.training.loop import train

    return train(TrainConfig(**TINY_TRAIN))


@pytest.fixture(scope="module")
def neuron_run():
    from app_helpers import SMALL_NEURON

    from ipcore.config import NeuronConfig
    from ipcore.training.neuron import simulate

    return simulate(NeuronConfig(**SMALL_NEURON))


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh runs folder for the app, and a fixed data folder so the app never changes the environment."""
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(folder))
    monkeypatch.setenv("IPCORE_GALLERY_DIR", str(folder))  # isolated from the committed gallery records
    monkeypatch.setenv("IPCORE_DATA", os.environ.get("IPCORE_DATA") or str(DATA if DATA.is_dir() else tmp_path))
    return folder


def wait_until(predicate, what: str, timeout: float = 120.0, every: float = 0.01) -> None:
    """Look at ``predicate()`` every ``every`` seconds until it holds; AssertionError naming ``what`` after
    ``timeout`` seconds (a bound on a wait, never a timing target)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.fixture(scope="module")
def ray_cluster():
    """A real two-node Ray cluster (``ray.cluster_utils.Cluster``: a head and one worker node, one CPU each),
    started once per test module that asks for it; its workers import ipcore from this checkout."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), previous) if p)
    if ray.is_initialized():
        ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    try:
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
