"""Chapter 7 (``ipcore.gallery.beyond``) asks its questions of rules that had time to act: every part trains at
least 10 epochs of all of MNIST (≥ 3 000 steps of batch 200), each optimizer at three or more learning rates, IP
at an η where its α reaches its fixed point, and ReLU nets with the linear output people use."""

from __future__ import annotations

from collections import defaultdict

from ipcore.gallery import entries as gallery
from ipcore.gallery.assessment import claims_text

BT = [e for e in gallery.ENTRIES if e.id.startswith("bt-")]


def test_every_part_is_long_enough_for_the_rules_to_act():
    assert {e.id for e in BT} == {"bt-sgd", "bt-depth", "bt-logistic", "bt-relu", "bt-entropy"}
    for entry in BT:
        for part in entry.parts:
            config = entry.config(part)
            assert config.dataset == "mnist" and config.subset == 0, (entry.id, part)
            assert config.epochs >= 10 and config.epochs * 60_000 // config.batch_size >= 3000, (entry.id, part)
            assert config.seeds >= 10
            if "ip" in config.rules:
                assert config.etas()["ip"] == 1e-2, (entry.id, part)  # fw-eta: α reaches 2E[xy] at 1e-2


def test_three_learning_rates_per_optimizer_and_setting():
    for entry in BT:
        rates = defaultdict(set)
        for part in entry.parts:
            config = entry.config(part)
            setting = (config.optimizer, config.depth, config.activation, config.output)
            rates[setting].add(config.lr)
        main = {s: r for s, r in rates.items() if not (s[2] == "relu" and s[3] == "relu")}  # the thesis-output extra
        assert all(len(r) >= 3 for r in main.values()), (entry.id, rates)


def test_relu_nets_get_a_linear_output_and_the_thesis_output_is_kept_apart():
    entry = gallery.get_entry("bt-relu")
    outputs = {part: (entry.config(part).activation, entry.config(part).output) for part in entry.parts}
    assert all(
        out == "linear" for part, (act, out) in outputs.items() if act == "relu" and part != "relu-thesis-output"
    )
    assert outputs["relu-thesis-output"] == ("relu", "relu")
    assert all(out == "relu" for act, out in outputs.values() if act == "tanh")  # the thesis's tanh nets


def test_depth_entry_defines_training_by_accuracy_and_every_row_reports_fixed_point_distances():
    depth = gallery.get_entry("bt-depth")
    assert "test accuracy" in depth.claim and "90 %" in depth.claim
    assert ("test_acc", None) in depth.extra["summary_metrics"]
    for entry in BT:
        assert ("alpha_distance", 2) in entry.extra["summary_metrics"], entry.id
        assert ("beta_distance", 2) in entry.extra["summary_metrics"], entry.id


def test_missing_parts_say_so():
    """A part not yet computed is 'no record' in its claims, never a verdict from another setting's record."""
    entry = gallery.get_entry("bt-depth")
    lines, _, verdicts = claims_text(entry.extra["claims"], {})
    assert lines and all("no record" in line for line in lines)
    assert set(verdicts) <= {"missing"}


def test_chapter_7_cards_show_the_records_verdicts_and_profiles(tmp_path, monkeypatch):
    """Every chapter-7 part is computed: the figure table gives each entry its verdict from the committed records
    (the same as ``test_verdicts.EXPECTED``), and the cards draw their profiles across depth."""
    import json

    from streamlit.testing.v1 import AppTest

    from conftest import CACHED, ROOT

    if not any(CACHED.glob("gallery-bt-entropy-*")):
        import pytest

        pytest.skip("no committed chapter-7 records")
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("IPCORE_GALLERY_DIR", raising=False)
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.run()
    at.switch_page("../pages/gallery.py")
    at.query_params.update({"view": "figures", "chapter": "7"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value.set_index("figure")
    from test_verdicts import EXPECTED

    for entry_id in ("bt-sgd", "bt-depth", "bt-logistic", "bt-relu", "bt-entropy"):
        assert table.loc[entry_id, "verdict"] == EXPECTED[entry_id], entry_id
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "per-unit output entropy (nats) across depth (second half)" in titles
