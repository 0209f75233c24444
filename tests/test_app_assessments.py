"""The gallery's verdicts kept on disk between servers (``app.assessments``): JSON, atomic, recomputed when the
records, the code or the file change."""

from __future__ import annotations

import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from app import assessments  # noqa: E402
from ipcore.gallery.entries import ENTRIES, assess  # noqa: E402
from ipcore.results.records import list_runs, load_run  # noqa: E402

GALLERY = ROOT / "cached_runs"


def test_a_verdict_is_computed_once_then_read_from_disk(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"verdict": "partly", "measured": "α ≈ 1.2", "numbers": {"gap": float("nan"), "n": 3}, "parts": 2}

    signature = (("gallery-fig3-s0", "2026-12-07T10:00:00"),)
    first = assessments.cached_verdict("fig3", signature, compute, tmp_path)
    again = assessments.cached_verdict("fig3", signature, compute, tmp_path)
    assert len(calls) == 1 and first["verdict"] == again["verdict"] == "partly"
    assert again["numbers"] == {"gap": None, "n": 3}  # plain JSON: a NaN is stored as null
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["measured"] == "α ≈ 1.2"  # no temporary left
    # other records (a re-run part) or another entry: computed anew
    assessments.cached_verdict("fig3", (("gallery-fig3-s0", "2026-12-08T10:00:00"),), compute, tmp_path)
    assessments.cached_verdict("fig4", signature, compute, tmp_path)
    assert len(calls) == 3
    # a damaged or foreign file is not trusted
    files[0].write_text('{"verdict": 1}')
    assessments.cached_verdict("fig3", signature, compute, tmp_path)
    files[0].write_text("not json")
    assert assessments.cached_verdict("fig3", signature, compute, tmp_path)["verdict"] == "partly"
    assert len(calls) == 5


def test_the_stored_verdict_of_a_gallery_figure_is_the_assessments(tmp_path):
    metas = [m for m in list_runs(GALLERY) if m.get("experiment")]
    entry = next(e for e in ENTRIES if any(m["experiment"] == e.id and e.owns(m) for m in metas))
    mine = [m for m in metas if m["experiment"] == entry.id and entry.owns(m)]
    records = [load_run(GALLERY, m["run_id"]) for m in mine]
    signature = tuple(sorted((m["run_id"], str(m.get("created"))) for m in mine))
    fresh = assess(entry, records)
    assessments.cached_verdict(entry.id, signature, lambda: fresh, tmp_path)
    stored = assessments.cached_verdict(entry.id, signature, lambda: {"verdict": "wrong", "measured": ""}, tmp_path)
    assert (stored["verdict"], stored["measured"]) == (fresh["verdict"], fresh["measured"])
