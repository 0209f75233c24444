"""Rules of the operator's own in the app, in a real browser (as tests/test_browser.py: ``bench/local_server.py``
on a free loopback port, headless Debian chromium): with ``IPCORE_RULE_MODULES`` naming examples/laplace_rule.py
the network lab offers ``ip_laplace`` and trains it beside ``ip`` in a job process; a broken file is reported on
the page without its server path while the built-in rules keep working."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from test_browser import OUTPUT, assert_no_exception, browser, open_page, settled  # noqa: E402, F401

from bench.local_server import CHROMIUM, local_server  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"),
]

EXAMPLE = ROOT / "examples" / "laplace_rule.py"
SETUP = "network_lab?dataset=clusters&rules=ip,ip_laplace&depth=2&width=8&epochs=2&seeds=2&device=cpu"


def test_the_network_lab_trains_the_operator_s_rule(tmp_path, browser) -> None:  # noqa: F811
    runs, no_data = tmp_path / "runs", tmp_path / "no-data"
    runs.mkdir()
    no_data.mkdir()
    env = {"IPCORE_RUNS_DIR": str(runs), "IPCORE_DATA": str(no_data), "IPCORE_RULE_MODULES": str(EXAMPLE)}
    OUTPUT.mkdir(exist_ok=True)
    with local_server(tmp_path / "streamlit.log", env) as url:
        page = open_page(browser, f"{url}/{SETUP}", "Network lab")
        assert_no_exception(page, "network lab")
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_text("ip_laplace — IP, Laplace target (example plug-in)").count() >= 1, (
            "the operator's rule is not among the chosen rules"
        )
        sidebar.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Finished in").first.wait_for(timeout=300_000)
        settled(page, timeout=300)  # the machine may be busy: the charts of the finished run are drawn last
        assert_no_exception(page, "network lab after training")
        page.screenshot(path=str(OUTPUT / "network-lab-custom-rule.png"), full_page=True)
        page.close()
    saved = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(saved) == 1, f"the finished run was not saved: {saved}"
    config = json.loads((saved[0] / "config.json").read_text())
    summary = json.loads((saved[0] / "summary.json").read_text())
    assert config["rules"] == ["ip", "ip_laplace"] and summary["state"] == "done"
    assert [r["rule"] for r in summary["summary"]["rules"]] == ["ip", "ip_laplace"]


def test_a_broken_rule_file_is_reported_without_its_path_and_the_lab_still_works(tmp_path, browser) -> None:  # noqa: F811
    broken = tmp_path / "secret_folder" / "broken_rules.py"
    broken.parent.mkdir()
    broken.write_text("import ipcore\nclass Oops(ipcore.Rule)\n    name = 'oops'\n")
    env = {"IPCORE_RUNS_DIR": str(tmp_path), "IPCORE_RULE_MODULES": str(broken)}
    with local_server(tmp_path / "streamlit.log", env) as url:
        page = open_page(browser, f"{url}/network_lab", "Network lab")
        alert = page.get_by_text("could not be loaded").first
        alert.wait_for()
        text = alert.inner_text()
        assert "syntax error at line 2" in text and "secret_folder" not in text and "<server path>" in text
        assert_no_exception(page, "network lab with a broken rule file")
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_role("button", name="Train", exact=True).count() == 1
        page.close()
    assert "broken_rules.py" in (tmp_path / "streamlit.log").read_text()  # the operator's log names the file
