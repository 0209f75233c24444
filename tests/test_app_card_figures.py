"""The gallery cards' charts kept on disk between servers (``app.card_figures``): plotly JSON, atomic, rebuilt when
the records, the card's choices, the code or the file change."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from app_helpers import no_problems, open_app  # noqa: E402

from app import card_figures  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.locations import cache_dir  # noqa: E402
from ipcore.results.records import list_runs, load_run  # noqa: E402

GALLERY = ROOT / "cached_runs"
SIGNATURE = (("gallery-fig3.5-lr0.01", "2026-12-07T10:00:00"),)
CHOICES = {"spread": "interquartile", "fixed_points": False}


def real_figures() -> list[tuple[object, str]]:
    meta = next((m for m in list_runs(GALLERY) if m.get("kind") == "train"), None)
    if meta is None:
        pytest.skip("no committed gallery records")
    record = load_run(GALLERY, meta["run_id"])
    runs = [(meta["run_id"], record.metrics)]
    return [
        (charts_training.loss_figure(runs, smoothing=0.9, max_points=400, spread="interquartile"), "loss"),
        (charts_training.fixed_point_figure(record.metrics, [2]), "fixed-point-x"),
    ]


def test_figures_are_stored_as_json_and_read_back_the_same(tmp_path) -> None:
    figures = real_figures()
    path = card_figures.figures_path("fig3.5", SIGNATURE, CHOICES, tmp_path)
    assert card_figures.read(path) is None  # nothing yet
    card_figures.write(path, figures)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    json.loads(path.read_text())  # plain JSON, no pickle
    stored = card_figures.read(path)
    assert [name for _, name in stored] == ["loss", "fixed-point-x"]
    assert [fig.to_json() for fig, _ in stored] == [fig.to_json() for fig, _ in figures]
    stored[0][0].update_yaxes(type="log")  # a caller may change what it got (the card's log-scale toggle) ...
    assert card_figures.read(path)[0][0].layout.yaxis.type != "log"  # ... and the next reader gets the stored one


def test_other_records_choices_or_code_are_another_file(tmp_path, monkeypatch) -> None:
    path = card_figures.figures_path("fig3.5", SIGNATURE, CHOICES, tmp_path)
    rerun = (("gallery-fig3.5-lr0.01", "2026-12-08T09:00:00"),)  # the part was computed again
    others = {
        card_figures.figures_path("fig3.5", rerun, CHOICES, tmp_path),
        card_figures.figures_path("fig3.5", SIGNATURE + (("gallery-fig3.5-lr0.1", "x"),), CHOICES, tmp_path),
        card_figures.figures_path("fig3.6", SIGNATURE, CHOICES, tmp_path),
        card_figures.figures_path("fig3.5", SIGNATURE, {**CHOICES, "spread": "min–max"}, tmp_path),
        card_figures.figures_path("fig3.5", SIGNATURE, {**CHOICES, "fixed_points": True}, tmp_path),
    }
    monkeypatch.setattr(card_figures, "code_version", lambda: "the chart code changed")
    others.add(card_figures.figures_path("fig3.5", SIGNATURE, CHOICES, tmp_path))
    assert path not in others and len(others) == 6


def test_the_code_version_follows_the_chart_code_and_the_gallery_page(tmp_path, monkeypatch) -> None:
    card_figures.code_version.cache_clear()
    before = card_figures.code_version()
    page = tmp_path / "gallery.py"
    page.write_text(card_figures.GALLERY_PAGE.read_text() + "\n# a changed chart\n")
    monkeypatch.setattr(card_figures, "GALLERY_PAGE", page)
    card_figures.code_version.cache_clear()
    try:
        assert card_figures.code_version() != before
    finally:
        card_figures.code_version.cache_clear()


def test_a_damaged_or_foreign_file_is_not_trusted_and_names_stay_in_the_folder(tmp_path) -> None:
    path = card_figures.figures_path("fig3.5", SIGNATURE, CHOICES, tmp_path)
    for text in ("not json", '{"data": []}', '[[{"data": 1}, "loss"]]', '[["x", "loss"]]'):
        path.write_text(text)
        assert card_figures.read(path) is None, text
    # what a browser chooses only enters the digest: the file is a hex name inside the folder
    hostile = card_figures.figures_path("../../etc", SIGNATURE, {"spread": "../../../x"}, tmp_path)
    assert hostile.parent == tmp_path and len(hostile.stem) == 64 and set(hostile.stem) <= set("0123456789abcdef")


def test_a_fresh_server_draws_the_chapter_from_the_kept_figures(runs_dir, monkeypatch) -> None:
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    if not any(GALLERY.glob("gallery-fig3.5-*")):
        pytest.skip("no committed gallery records")
    folder = cache_dir() / card_figures.FOLDER
    at = open_app("gallery", {"view": "figures", "chapter": "3"})
    no_problems(at)
    first = [c.proto.spec for c in at.get("plotly_chart")]
    kept = set(folder.glob("*.json"))
    assert len(kept) >= 5  # one file per card of the chapter
    again = open_app("gallery", {"view": "figures", "chapter": "3"})  # another session, the same figures
    no_problems(again)
    assert [c.proto.spec for c in again.get("plotly_chart")] == first
    assert set(folder.glob("*.json")) == kept  # read, not built anew
