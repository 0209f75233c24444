"""Fair share in the served app: the labs refuse a job over the budget and the sweep page a name it may not take,
each with a message, and nothing is queued."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import DATA, ROOT

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(folder))
    monkeypatch.setenv("IPCORE_GALLERY_DIR", str(folder))
    monkeypatch.setenv("IPCORE_DATA", os.environ.get("IPCORE_DATA") or str(DATA if DATA.is_dir() else tmp_path))
    monkeypatch.setenv("IPCORE_JOB_ISOLATION", "thread")
    return folder


def open_app(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page(f"../pages/{page}.py")
    at.query_params.update(query)
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    (match,) = [b for b in at.button if b.label == label]
    return match.click().run()


def shown_errors(at: AppTest) -> str:
    return " ".join(str(e.value) for e in at.error).replace("\\", "")  # as shown: Markdown unescaped


def test_the_network_lab_refuses_the_issues_job_with_its_cost(runs_dir: Path) -> None:
    query = {"dataset": "clusters", "depth": "32", "width": "2048", "epochs": "1000", "seeds": "1",
             "batch_size": "1", "rules": "ip"}  # fmt: skip
    at = click(open_app("network_lab", query), "Train")
    assert not at.exception, [e.value for e in at.exception]
    assert "floating-point operations" in shown_errors(at) and "epochs" in shown_errors(at)
    assert list(runs_dir.iterdir()) == []


def test_the_sweep_page_refuses_a_gallery_experiments_name(runs_dir: Path) -> None:
    at = open_app("lr_sweep", {"dataset": "spirals", "lr": "0.01", "depth": "1", "width": "4", "seeds": "1"})
    at.text_input(key="sweep.name").set_value("fig3.5")
    at = click(at, "Launch sweep")
    assert not at.exception, [e.value for e in at.exception]
    assert "belongs to the gallery" in shown_errors(at)
    assert list(runs_dir.iterdir()) == []
