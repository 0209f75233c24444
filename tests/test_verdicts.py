"""Every gallery verdict, pinned against the committed records: a verdict cannot change silently. Each entry's
sub-claims are paired comparisons on the seeds healthy under both rules (``ipcore.assessment``); the expected
values below are what the records in ``cached_runs/`` give. Changing a record, a claim or the statistics
changes them on purpose, and this file says so in review."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ipcore import assessment, gallery
from ipcore.stats import equivalence_verdict, interval_verdict, paired_difference, tanh_entropy_bound

from conftest import CACHED

EXPECTED = {
    "fig3.3": "inconclusive",
    "fig3.4": "reproduced",
    "fig3.5": "reproduced",
    "fig3.6": "partly",
    "fig3.7": "reproduced",
    "fig3.8": "partly",
    "fig4.1": "partly",
    "fig4.2": "partly",
    "fig4.3": "reproduced",
    "fig4.4": "reproduced",
    "fig4.5": "reproduced",
    "fig5.1": "reproduced",
    "fig5.2": "reproduced",
    "lemma5.1": "partly",
    "fw-cov": "partly",
    "fw-hard": "partly",
    "fw-stability": "partly",
    "fw-eta": "partly",
    "nb-ip": "partly",  # its CIFAR-10 parts await a GPU
    "bt-sgd": "missing",  # chapter 7 re-declared (issue 27): parts not yet recomputed are missing
    "bt-depth": "missing",
    "bt-logistic": "missing",
    "bt-relu": "partly",
    "bt-entropy": "partly",
}

SUB_VERDICTS = {  # the sub-claims whose verdict differs from their entry's, or that the issue singled out
    "fig3.6": {"lr 0.0006: standard below IP": "contradicted", "lr 0.001: IP below standard": "reproduced"},
    "fig3.8": {"mnist: IP below Infomax": "contradicted", "cifar10: IP below Infomax": "reproduced",
               "mnist: incremental BN comparable to IP (±5 %)": "inconclusive"},
    "fig4.1": {"mnist: WD's loss at most half the standard's (thesis: about a quarter)": "inconclusive",
               "cifar10: WD below standard after the first epoch": "reproduced",
               "cifar10: WD below standard at the end": "contradicted"},
    "fig4.2": {"lr 0.003: WD below standard at the end": "contradicted"},
    "fw-cov": {"IP: covariance target's loss above 2E[xy]'s": "inconclusive",
               "WD: covariance target's loss above 2E[xy]'s": "contradicted"},
    "fw-hard": {"mnist: hard IP within 5 % of batch norm": "contradicted",
                "mnist: hard IP no worse than incremental BN (5 %)": "inconclusive"},
    "fw-stability": {"ip vs infomax": "reproduced", "wd vs infomax": "inconclusive"},
    "fw-eta": {"η 0.0001: ip below standard": "inconclusive", "η 0.01: ip below standard": "reproduced",
               "ip at η 0.01 below ip at η 1e-4": "reproduced", "bn_inc at η 0.001 below bn_inc at η 1e-4": "reproduced"},
    "lemma5.1": {"gaussian": "reproduced", "laplace": "reproduced", "lognormal": "contradicted",
                 "gamma": "contradicted"},
    "nb-ip": {"mnist lr 0.012: notebook IP below text IP": "reproduced",
              "mnist lr 0.01: notebook IP's α further from 1 (layer 3)": "reproduced",
              "mnist lr 0.003: notebook IP below standard": "inconclusive",
              "mnist lr 0.003: notebook IP below text IP": "contradicted",
              "cifar10 lr 0.0006: notebook IP below standard": "missing"},
    "bt-entropy": {"lr 0.01: WD's per-unit entropy above IP's": "inconclusive",
                   "lr 0.001: WD's per-unit entropy above IP's": "contradicted",
                   "lr 0.01: WD's per-unit entropy above standard's": "reproduced"},
    "bt-relu": {"lr 0.01: ReLU standard below tanh standard": "reproduced",
                "lr 0.01: ReLU standard below tanh WD": "inconclusive",
                "lr 0.001: ReLU standard below tanh standard": "missing"},
}  # fmt: skip


@pytest.fixture(scope="module")
def assessed() -> dict[str, dict]:
    if not CACHED.is_dir():
        pytest.skip("no cached_runs folder")
    return {e.id: gallery.assess(e, gallery.entry_records(str(CACHED), e)) for e in gallery.ENTRIES}


def test_every_entry_has_its_pinned_verdict(assessed):
    assert {k: v["verdict"] for k, v in assessed.items()} == EXPECTED


@pytest.mark.parametrize("entry_id", sorted(SUB_VERDICTS))
def test_pinned_sub_claims(assessed, entry_id):
    numbers = assessed[entry_id]["numbers"]
    for label, verdict in SUB_VERDICTS[entry_id].items():
        assert numbers[label]["verdict"] == verdict, label


def test_collapsed_seed_is_left_out_of_the_cifar10_comparisons(assessed):
    """fig3.8's CIFAR-10 seed 5 sits at chance for ip, bn_inc and none: with it left out the order of the final
    losses is bn_inc < ip < infomax (the issue's audit), and the comparisons stand on 9 paired seeds."""
    numbers = assessed["fig3.8"]["numbers"]
    assert numbers["cifar10: IP below Infomax"]["n"] == 9
    assert "9 of 10 seeds; 1 collapsed" in assessed["fig3.8"]["measured"]
    record = next(
        r for r in gallery.entry_records(str(CACHED), gallery.get_entry("fig3.8")) if r.meta["part"] == "cifar10"
    )
    means = {
        r: np.mean(list(gallery.seed_values(record, r, "final_loss").values())) for r in ("ip", "bn_inc", "infomax")
    }
    assert means["bn_inc"] < means["ip"] < means["infomax"]


def test_chapter_7_claims_keep_collapsed_seeds_and_measure_a_rules_help_against_its_baseline(assessed):
    """Chapter 7's sub-claims are the same ``Claim`` as the thesis's with ``keep_collapsed`` (failing to learn at
    all is the outcome its questions are about). "Helps more under SGD than under Adam" is, per seed, (standard's
    final loss − the rule's) under SGD minus the same under Adam. A computed part's interval is the paired one of
    its per-seed values."""
    for entry in (e for e in gallery.ENTRIES if e.id.startswith("bt-")):
        assert all(claim.keep_collapsed for claim in entry.extra["claims"]), entry.id
    sgd = gallery.get_entry("bt-sgd")
    helps = [c for c in sgd.extra["claims"] if "helps more" in c.label]
    assert helps and all(c.baseline == "none" and c.part_b.startswith("adam-") for c in helps)

    entry = gallery.get_entry("bt-entropy")
    by_part = {r.meta["part"]: r for r in gallery.entry_records(str(CACHED), entry)}
    if "lr0.01" not in by_part:
        pytest.skip("bt-entropy lr0.01 not computed")
    claim = next(c for c in entry.extra["claims"] if c.label == "lr 0.01: WD's per-unit entropy above standard's")
    wd = gallery.seed_values(by_part["lr0.01"], "wd", "entropy_unit", layer=None, keep_collapsed=True)
    none = gallery.seed_values(by_part["lr0.01"], "none", "entropy_unit", layer=None, keep_collapsed=True)
    seeds = sorted(set(wd) & set(none))
    expected = paired_difference(np.array([wd[s] for s in seeds]), np.array([none[s] for s in seeds]))
    result = assessment.evaluate_claim(claim, by_part)
    assert result["n"] == len(seeds) == 10 and result["mean"] == pytest.approx(expected["mean"], rel=1e-12)
    assert result["low"] == pytest.approx(expected["low"], rel=1e-12)


def test_fig5_entropies_are_compared_with_the_tanh_bound_beside_log_2(assessed):
    measured = assessed["fig5.1"]["measured"] + assessed["fig5.2"]["measured"]
    assert "log 2 = 0.6931" in measured and "0.6851 nats" in measured and "uniform on [−1, 3]" in measured
    assert "N(1, 2²)" in measured
    bound = assessed["fig5.2"]["numbers"]["bound"]
    assert bound["entropy_hist"] == pytest.approx(0.685, abs=5e-4)
    assert bound["alpha_over_sigma"] == pytest.approx(1.14, abs=0.01)


def test_beta_reports_absolute_distances_and_lies_between_median_and_mean(assessed):
    numbers = assessed["lemma5.1"]["numbers"]
    for name in ("lognormal", "gamma"):
        assert numbers[name]["between"] == 10
        assert numbers[name]["abs_beta_minus_median"] > 0.1
    assert "mean |β − median|" in assessed["lemma5.1"]["measured"]


def test_the_stability_criterion_can_fail():
    """A rule that never breaks while Infomax does is reproduced; the reverse is contradicted."""
    entry = gallery.get_entry("fw-stability")
    records = gallery.entry_records(str(CACHED), entry)
    by_part = {r.meta["part"]: r for r in records}
    _, _, numbers = assessment.assess_stability(entry, by_part)
    assert numbers["ip vs infomax"]["breaks_at"] == math.inf and numbers["ip vs infomax"]["infomax_breaks_at"] == 10
    assert numbers["wd vs infomax"]["breaks_at"] == 10


def test_paired_interval_and_verdicts_match_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 0.1, 10)
    b = a + rng.normal(0.05, 0.02, 10)
    result = paired_difference(a, b)
    d = a - b
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (result["low"], result["high"]) == pytest.approx((low, high))
    assert result["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert interval_verdict(result["low"], result["high"], "<") == "reproduced"
    assert interval_verdict(result["low"], result["high"], ">") == "contradicted"
    assert interval_verdict(-0.1, 0.1, "<") == "inconclusive"
    assert interval_verdict(0.0, 0.0, "<") == "inconclusive"
    assert equivalence_verdict(-0.01, 0.01, 0.02) == "reproduced"
    assert equivalence_verdict(0.03, 0.05, 0.02) == "contradicted"
    assert equivalence_verdict(0.01, 0.05, 0.02) == "inconclusive"
    assert paired_difference([1.0], [0.5])["high"] == math.inf  # one seed: nothing to conclude


def test_entropy_bound_of_a_gaussian_is_below_log_2_and_scale_free():
    one, other = tanh_entropy_bound(stats.norm(0, 1)), tanh_entropy_bound(stats.norm(5, 2))
    assert one["entropy"] == pytest.approx(other["entropy"], abs=1e-6)
    assert one["entropy"] < one["entropy_hist"] < math.log(2)
    assert one["entropy"] == pytest.approx(0.6836, abs=2e-4)
    # a direct check of the true value at the optimum: Monte Carlo of H(x) − log α + E[log(1 − y²)]
    x = np.random.default_rng(0).normal(size=2_000_000)
    alpha = one["alpha"]
    estimate = stats.norm.entropy() - math.log(alpha) + np.mean(np.log1p(-(np.tanh(x / alpha) ** 2)))
    assert estimate == pytest.approx(one["entropy"], abs=3e-3)


def test_gallery_page_shows_the_verdicts_and_the_entropy_bound(monkeypatch):
    """The committed gallery, chapter 5: the table carries the pinned verdicts, fig5.1's entropy charts draw
    the tanh bound beside log 2, and the cards name the thesis's inputs."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("IPCORE_RUNS_DIR", str(CACHED))
    monkeypatch.setenv("IPCORE_GALLERY_DIR", str(CACHED))
    at = AppTest.from_file(str(CACHED.parent / "app" / "main.py"), default_timeout=180)
    at.run()
    at.switch_page("../pages/gallery.py")
    at.query_params.update({"view": "figures", "chapter": "5"})
    at.run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("figure")
    assert {fid: table.loc[fid, "verdict"] for fid in EXPECTED} == EXPECTED
    figures = [c.proto.spec for c in at.get("plotly_chart")]
    bounded = [spec for spec in figures if "best a tanh can reach" in spec and "log 2" in spec]
    assert len(bounded) == 2  # fig5.1: uniform on [−1, 3] and N(1, 2²)
    markdown = " ".join(m.value for m in at.markdown)
    assert "uniform of width 4 centred on 1 (on [−1, 3])" in markdown and "N(1, 2²)" in markdown


def test_fw_eta_records_show_the_rules_far_from_their_fixed_point_at_the_thesis_eta():
    """At η 1e-4 the third hidden layer's |α − 2E[xy]| (IP) grows during training instead of shrinking; at η 1e-2
    it ends below its start. The standard net is the same in every part (CPU runs are deterministic)."""
    entry = gallery.get_entry("fw-eta")
    by_part = {r.meta["part"]: r for r in gallery.entry_records(str(CACHED), entry)}
    assert set(by_part) == set(entry.parts)

    def ip_distance(part: str) -> np.ndarray:
        metrics = by_part[part].metrics
        ip = np.asarray(metrics["members_rule"]) == "ip"
        return np.asarray(metrics["layer/alpha_distance"])[:, ip, 2].mean(1)

    slow, fast = ip_distance("eta0.0001"), ip_distance("eta0.01")
    assert slow[-1] > 5 * slow[0]
    assert fast[-1] < fast[0]
    losses = [gallery.seed_values(by_part[p], "none", "final_loss") for p in entry.parts]
    assert losses[0] == losses[1] == losses[2]
    assert by_part["eta0.01"].config.seeds == gallery.ETA_SWEEP_SEEDS and by_part["eta0.01"].config.device == "cpu"


def test_the_committed_report_is_the_table_the_records_give(tmp_path):
    """REPRODUCTION.md's table is regenerated from the committed records (``gallery --report``): a change of
    records, claims or statistics without regenerating it fails here. ``write_report`` keeps the discussion."""
    report = CACHED.parent / "REPRODUCTION.md"
    text = report.read_text()
    table = text.split(gallery.REPORT_START, 1)[1].split(gallery.REPORT_END, 1)[0].strip()
    assert table == gallery.report_table(str(CACHED))
    copy = tmp_path / "report.md"
    copy.write_text(text.replace(table, "old table"))
    gallery.write_report(str(CACHED), str(copy))
    assert copy.read_text() == text
