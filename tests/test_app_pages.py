"""Every page driven through ``streamlit.testing.v1.AppTest``: renders, runs a neuron comparison, trains a tiny synthetic network, keeps the setup in the address and shows errors as messages. Every test writes its runs into a temporary ``IPCORE_RUNS_DIR``, never into the repo."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))

from app_helpers import (  # noqa: E402
    PAGES,
    SMALL_NEURON,
    TINY_TRAIN,
    button,
    charts_shown,
    finished,
    no_problems,
    open_app,
    run_until,
    spec_text,
    unescape,
)
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import export, lab_guide  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.config import NeuronConfig, TrainConfig  # noqa: E402
from ipcore.data import available_datasets  # noqa: E402
from ipcore.results.records import list_runs, save_run  # noqa: E402
from ipcore.training.loop import train  # noqa: E402
from ipcore.training.neuron import simulate  # noqa: E402

# --- the address holds the setup ----------------------------------------------------------------------


def test_parse_flat_keeps_valid_fields_and_names_the_bad_one() -> None:
    from app.state import parse_flat

    config, messages = parse_flat(TrainConfig, {"depth": "99", "width": "16", "rules": "ip,wd"})
    assert config.depth == TrainConfig().depth and config.width == 16 and config.rules == ["ip", "wd"]
    assert len(messages) == 1 and messages[0].startswith("depth:") and "32" in messages[0]
    config, messages = parse_flat(NeuronConfig, {"rules": "ip,nonsense", "n": "500"})
    assert config.n == 500 and config.rules == NeuronConfig().rules and "nonsense" in messages[0]


# --- pages through AppTest ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page: str, runs_dir: Path) -> None:
    at = open_app(page)
    no_problems(at)
    assert at.title, f"{page} has no title"
    if page == "home":
        assert charts_shown(at) == 1 and len(at.latex) >= 11  # the IP picture and every rule's equations


def test_address_restores_the_neuron_setup(runs_dir: Path) -> None:
    query = {"dist": "uniform", "center": "1.5", "width": "3.0", "n": "1000", "rules": "ip,bn_inc", "eta.ip": "0.002"}
    at = open_app("neuron_lab", query)
    no_problems(at)
    assert at.selectbox(key="neuron.dist").value == "uniform"
    assert at.number_input(key="neuron.center").value == 1.5 and at.number_input(key="neuron.width").value == 3.0
    assert at.multiselect(key="neuron.rules").value == ["ip", "bn_inc"]
    assert at.select_slider(key="neuron.eta.ip").value == 0.002
    assert at.query_params == query  # written back unchanged


def test_invalid_address_values_fall_back_with_a_message(runs_dir: Path) -> None:
    at = open_app("network_lab", {"depth": "99", "width": "16", "lr": "-1"})
    assert not at.exception
    warning = unescape(" ".join(w.value for w in at.warning))
    assert "depth: must be ≥ 1 and ≤ 32 (got 99)" in warning and "lr: must be > 0" in warning
    assert at.slider(key="net.depth").value == TrainConfig().depth
    assert at.number_input(key="net.width").value == 16


def test_quick_setups_fill_the_controls_and_the_address(runs_dir: Path) -> None:
    at = open_app("neuron_lab")
    button(at, "Use the thesis's example: N(5, 2²)").click().run()
    assert at.number_input(key="neuron.mu").value == 5.0 and at.query_params == {"mu": "5.0", "sigma": "2.0"}
    at = open_app("network_lab")
    at.button(key="net.demo.ip-eta").click().run()
    no_problems(at)
    assert at.multiselect(key="net.rules").value == ["ip", "none"] and at.query_params["eta.ip"] == "0.01"
    here = {d["name"].split(":")[0]: d for d in available_datasets()}
    assert at.selectbox(key="net.dataset").value == lab_guide.demo_dataset(here)  # MNIST when present
    look = " ".join(i.value for i in at.info)
    assert "IP acts at a larger η" in look and "Look for" in look  # the one line that says what to see
    assert not any("too short" in w.value for w in at.warning)  # η × steps = 3: long enough for IP to act


def test_bad_values_are_refused_with_a_message(runs_dir: Path) -> None:
    at = open_app("neuron_lab")
    at.selectbox(key="neuron.dist").set_value("other (scipy.stats)").run()
    at.text_input(key="neuron.scipy_name").set_value("gamma").run()
    at.text_input(key="neuron.params").set_value("a=two").run()
    assert any("params.a: must be a number" in unescape(e.value) for e in at.error)
    assert button(at, "Run").disabled
    at.text_input(key="neuron.params").set_value("a=2, scale=1.5").run()
    no_problems(at)
    assert not button(at, "Run").disabled and at.query_params["dist"] == "gamma"
    at.text_input(key="neuron.scipy_name").set_value("no_such_dist").run()
    assert (
        any("unknown distribution 'no_such_dist'" in unescape(e.value) for e in at.error) and button(at, "Run").disabled
    )
    assert not at.exception


def test_neuron_lab_runs_a_comparison_and_shows_its_charts(runs_dir: Path) -> None:
    at = open_app("neuron_lab", {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in SMALL_NEURON.items()})
    assert charts_shown(at) == 1  # the live density preview
    button(at, "Run").click()
    run_until(at, finished)
    no_problems(at)
    # preview, density heatmap, histogram, tanh over density, entropy, centre, α/β: the tanh's output drawn once
    # (its histogram carries the uniform target; a second "against its target" chart repeated the same curves)
    assert charts_shown(at) == 7
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert sum("Output histogram at iteration" in t for t in titles) == 1
    assert not any("against its target" in t for t in titles)
    entropy = next(c.proto.spec for c in at.get("plotly_chart") if "Output entropy" in c.proto.spec)
    assert "log 2" in entropy and "best a tanh can reach on this input (0.6851)" in entropy  # a Gaussian input
    summary = at.dataframe[0].value
    assert list(summary["rule"]) == ["ip", "wd", "infomax"]
    (saved,) = list_runs(runs_dir)
    assert saved["kind"] == "neuron" and saved["config"]["n"] == 1000 and saved["experiment"] is None
    at.select_slider(key="neuron.run.t").set_value(3).run()  # scrub the histogram back in time
    assert not at.exception


def test_a_logistic_neuron_shows_its_output_against_its_own_targets_once(runs_dir: Path) -> None:
    setup = {**SMALL_NEURON, "activation": "logistic", "rules": ["ip_logistic", "triesch_logistic"]}
    at = open_app("neuron_lab", {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in setup.items()})
    button(at, "Run").click()
    run_until(at, finished)
    no_problems(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert sum("Output density against its target" in t for t in titles) == 1  # on (0, 1), with Triesch's target
    assert not any("Output histogram at iteration" in t for t in titles)  # the tanh's [−1, 1] picture is not shown
    target = next(c.proto.spec for c in at.get("plotly_chart") if "against its target" in c.proto.spec)
    assert "Triesch" in target


def test_network_lab_trains_live_and_saves_the_run(runs_dir: Path) -> None:
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", query)
    no_problems(at)
    button(at, "Train").click().run()
    assert at.get("progress") or finished(at)  # the live panel is up right after the click
    run_until(at, finished)
    no_problems(at)
    # loss, accuracy, ∂y/∂u lines, entropy over time, heatmap, distance to the fixed point, profile across depth,
    # α/β over time, histograms, α/β per layer, entropy per layer
    assert charts_shown(at) == 11
    (saved,) = list_runs(runs_dir)
    assert saved["kind"] == "train" and saved["state"] == "done"
    # The session that made the run may delete it in the gallery; another visitor may not.
    at.switch_page("../pages/gallery.py")
    at.query_params.update({"view": "runs", "run": saved["run_id"]})
    assert "Delete this run" in [b.label for b in at.run().button]
    # … and the gallery lists it as one of "my runs" and opens it with the lab's charts.
    at = open_app("gallery", {"view": "runs", "run": saved["run_id"]})
    no_problems(at)
    assert "Delete this run" not in [b.label for b in at.button]
    assert saved["run_id"] in list(at.dataframe[0].value["run"])
    assert charts_shown(at) == 11  # the same eleven charts as the lab
    # "Load this setup into the lab" reopens the network lab with the stored run's setup.
    button(at, "Load this setup into the lab").click().run()
    no_problems(at)
    assert at.title[0].value == "Network lab"
    assert at.slider(key="net.depth").value == 3 and at.number_input(key="net.width").value == 8
    assert at.query_params["dataset"] == "clusters"


@pytest.mark.parametrize(("page", "query", "start", "session_key"), [
    ("network_lab", TINY_TRAIN, "Train", "net.job"), ("neuron_lab", SMALL_NEURON, "Run", "neuron.job"),
])  # fmt: skip
def test_a_bad_run_name_starts_nothing_and_says_why_and_the_setup_can_be_shared(
    runs_dir: Path, page: str, query: dict, start: str, session_key: str
) -> None:
    at = open_app(page, {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in query.items()})
    share = next(e for e in at.sidebar.expander if e.label == "share this setup")
    assert not share.code  # drawn only when opened (st.code would load the syntax highlighter on every visit)
    at.session_state["share_setup.open"] = True  # the browser's click on the expander
    share = next(e for e in at.run().sidebar.expander if e.label == "share this setup")
    shared = share.code[0].value  # the query that reopens this setup
    assert "seeds=" in shared or "rules=" in shared
    prefix = "net" if page == "network_lab" else "neuron"
    at.text_input(key=f"{prefix}.name").set_value("../../etc").run()
    button(at, start).click().run()
    assert any("could not start: name: must not contain path separators" in unescape(e.value) for e in at.error)
    assert session_key not in at.session_state and list_runs(runs_dir) == []  # nothing was submitted
    assert not at.exception


def test_stop_cancels_a_running_job(runs_dir: Path) -> None:
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", {**query, "epochs": "200", "subset": "0"})
    button(at, "Train").click().run()
    run_until(at, lambda a: any("running" in (p.proto.text or "") for p in a.get("progress")))
    button(at, "Stop").click().run()
    run_until(at, lambda a: any("Stopped after" in i.value for i in a.info))
    assert not at.exception and not at.error
    (saved,) = list_runs(runs_dir)
    assert saved["state"] == "cancelled"  # what was recorded is kept


def test_a_job_that_ends_while_its_page_is_drawn_is_shown_ended(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind a Stop whose page never said stopped: Stop's wait runs out, the page reads the job as
    running and chooses its live view, and the job ends before the live view reads it again. The live view then
    took the ended state as the one it had drawn, its progress header saw nothing change, and no rerun ever came:
    the page must draw the job ended within the same script run instead."""
    from app import jobs as app_jobs

    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", {**query, "epochs": "200", "subset": "0"})
    button(at, "Train").click().run()
    run_until(at, lambda a: any("running" in (p.proto.text or "") for p in a.get("progress")))
    job_id = at.session_state["net.job"]
    app_jobs.manager().cancel(job_id)
    assert app_jobs.manager().wait(job_id, timeout=60)["state"] == "cancelled"
    real_status, stale = app_jobs.status, [True]

    def status_read_before_the_end(wanted: str | None) -> dict | None:
        """The first read (the page's choice of view) still sees the job running; every later one, ended."""
        found = real_status(wanted)
        if wanted == job_id and found is not None and stale:
            stale.clear()
            return {**found, "state": "running", "ended": None}
        return found

    monkeypatch.setattr(app_jobs, "status", status_read_before_the_end)
    at.run()  # one script run, as the browser's last full rerun; no later one would come
    assert not stale, "the page never read the job's status"
    assert not at.exception and any("Stopped after" in i.value for i in at.info)


def test_a_failing_job_is_a_message_without_server_paths(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's folder that has gone missing: the run fails with a message naming the folder by its name,
    never by its path on the server."""
    secret = tmp_path / "operator-secret" / "gone"
    secret.mkdir(parents=True)  # offered and present when the page lists the datasets …
    monkeypatch.setenv("IPCORE_IMAGE_FOLDERS", f"photos={secret}")
    import streamlit

    streamlit.cache_data.clear()  # the dataset listing is cached per process
    at = open_app("network_lab", {"dataset": "folder:photos", "depth": "2"})
    assert at.selectbox(key="net.dataset").value == "folder:photos"
    secret.rmdir()  # … and gone when the run starts
    button(at, "Train").click().run()
    run_until(at, lambda a: any(e.value.startswith("The run failed:") for e in a.error))
    assert not at.exception
    (failed,) = [e.value for e in at.error if e.value.startswith("The run failed:")]
    assert "photos" in failed and "operator-secret" not in failed and str(tmp_path) not in failed


@pytest.mark.parametrize(
    "query, field",
    [
        ({"dataset": "imagefolder:/root"}, "dataset"),
        ({"dataset": "imagefolder:/tmp"}, "dataset"),
        ({"data_root": "/tmp/anywhere/deep/tree"}, "data_root"),
    ],
)
def test_the_address_never_names_a_server_folder(runs_dir: Path, query: dict, field: str) -> None:
    """A browser cannot make the server read, list or create folders: a path in the address is refused like
    an invalid value (its default used, the reason shown), and no widget asks for a path."""
    at = open_app("network_lab", {**query, "depth": "2"})
    assert not at.exception
    (warning,) = [unescape(w.value) for w in at.warning if "not valid" in w.value]
    assert f"- {field}:" in warning and "operator" in warning
    assert "imagefolder" not in at.query_params.get("dataset", "") and "data_root" not in at.query_params
    assert at.selectbox(key="net.dataset").value == "mnist"
    assert all("folder" not in (t.label or "").lower() for t in at.text_input)  # no path widget at all
    assert at.slider(key="net.depth").value == 2  # the valid rest of the address is kept


def test_user_text_is_shown_as_text_not_markdown(runs_dir: Path) -> None:
    """A link or an image in the address shows as its characters, escaped, inside the app's own warning."""
    payload = "![x](https://evil.example/p.png) [click](https://evil.example) **bold** :red[x] $x^2$"
    at = open_app("neuron_lab", {"dist": payload})
    (warning,) = [w.value for w in at.warning if "not valid" in w.value]
    assert payload in unescape(warning)  # the text itself is all there
    for markup in (r"!\[", r"\]\(", r"\*\*", r":red\[", r"\$", r"https:"):
        assert not re.search(r"(?<!\\)" + markup, warning), markup  # every Markdown special is escaped


def test_gallery_card_and_overlay(runs_dir: Path, neuron_run) -> None:
    from ipcore.gallery.entries import VERDICTS, get_entry

    entry = get_entry("fig5.2")
    for seed in (0, 1):
        result = simulate(entry.config(f"s{seed}", iters=400))
        save_run(runs_dir, result, experiment=entry.id, part=f"s{seed}", run_id=entry.run_id(f"s{seed}"))
    save_run(runs_dir, neuron_run, name="my neuron")
    at = open_app("gallery", {"view": "figures", "chapter": "5"})
    no_problems(at)
    table = at.dataframe[0].value.set_index("figure")
    assert table.loc["fig5.2", "verdict"] in VERDICTS
    assert table.loc["fig5.2", "parts"] == f"2 of {len(entry.parts)}" and table.loc["fig3.5", "verdict"] == "missing"
    markdown = " ".join(m.value for m in at.markdown)
    assert "**Measured:**" in markdown and entry.claim in markdown
    assert charts_shown(at) == 1  # the final histogram over the two samples
    next(b for b in at.get("button_group") if b.key == "card.fig5.2.spread").set_value("every seed").run()
    no_problems(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"ip seed 1"' in spec and '"ip seed 2"' in spec  # each sample as its own thin line
    at.toggle(key="card.fig5.2.log").set_value(True).run()
    assert '"type":"log"' in at.get("plotly_chart")[0].proto.spec.replace(" ", "")
    at = open_app("gallery", {"view": "compare"})
    no_problems(at)
    assert charts_shown(at) == 1  # two runs' entropy overlaid by default
    mine = next(m["run_id"] for m in list_runs(runs_dir) if not m.get("experiment"))
    at.multiselect(key="gallery.cmp.runs").set_value([entry.run_id("s0"), entry.run_id("s1"), mine]).run()
    no_problems(at)
    overlay = at.get("plotly_chart")[0].proto.spec
    assert '"fig5.2 s0: gaussian' in overlay and '"fig5.2 s1: gaussian' in overlay and '"my neuron: gaussian' in overlay
    assert at.query_params["cmp"].count(",") == 2  # the three runs are in the address


def test_gallery_shows_the_committed_records_whatever_the_runs_folder(runs_dir, monkeypatch) -> None:
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    committed = ROOT / "cached_runs"
    if not any(committed.glob("gallery-fig3.5-*")):
        pytest.skip("no committed gallery records")
    save_run(runs_dir, simulate(NeuronConfig(**SMALL_NEURON)), name="mine")
    at = open_app("gallery", {"view": "figures", "chapter": "3"})
    no_problems(at)
    table = at.dataframe[0].value.set_index("figure")
    assert table.loc["fig3.5", "verdict"] != "missing" and table.loc["fig3.5", "parts"] == "3 of 3"
    at = open_app("gallery", {"view": "runs"})
    no_problems(at)
    listed = " ".join(str(v) for df in at.dataframe for v in df.value.to_numpy().ravel())
    assert "gallery-fig3.5-lr0.01" in listed and "mine" in listed


def sweep_status(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if m.value.startswith("**Sweep "))


def test_lr_sweep_launches_a_grid_and_shows_heatmaps_per_rule(runs_dir: Path) -> None:
    at = open_app("lr_sweep")
    no_problems(at)
    assert at.selectbox(key="sweep.dataset").value == "clusters"  # its own dataset picker, a present default
    assert at.multiselect(key="sweep.eta.ip").value == [0.001, 0.01]  # the default grid sweeps η too
    at.slider(key="sweep.depth").set_value(2)
    at.number_input(key="sweep.width").set_value(8)
    at.number_input(key="sweep.subset").set_value(400)
    at.number_input(key="sweep.epochs").set_value(1)
    at.multiselect(key="sweep.lrs").set_value([0.001, 0.1])
    at.run()
    assert at.query_params["lr"] == "0.001,0.1" and at.query_params["depth"] == "2"  # the setup link
    button(at, "Launch sweep").click().run()
    run_until(at, lambda a: "4 of 4 grid points finished · done" in sweep_status(a))
    no_problems(at)
    heatmap = at.get("plotly_chart")[0].proto.spec
    assert '"heatmap"' in heatmap and "ip=0.001" in heatmap and "ip=0.01" in heatmap
    assert len(list_runs(runs_dir)) == 4  # one record per grid point
    at.radio(key="sweep.done.metric").set_value("grad_y_u").run()
    no_problems(at)
    assert "layer 2" in at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="sweep.done.row").set_value("ip=0.01").run()
    no_problems(at)
    assert charts_shown(at) >= 3  # the grid, its 1-D view, and the stored runs' 1-D view


def test_lr_sweep_setup_from_the_address_and_bad_values_reported(runs_dir: Path) -> None:
    at = open_app("lr_sweep", {"dataset": "spirals", "lr": "0.01,0.05", "eta.ip": "0.0001,0.001", "depth": "99"})
    assert at.selectbox(key="sweep.dataset").value == "spirals"
    assert at.multiselect(key="sweep.lrs").value == [0.01, 0.05]
    assert at.multiselect(key="sweep.eta.ip").value == [0.0001, 0.001]
    assert any("depth" in w.value for w in at.warning)  # reported, its default used, the rest kept
    assert not at.exception
    labels = at.multiselect(key="sweep.rules").options
    assert "ip — IP (Adam)" in labels  # readable rule chips
    assert not [t for t in at.text_input if "folder" in t.label or "path" in t.label]  # nothing names a path


def test_lr_sweep_from_records(runs_dir: Path) -> None:
    for lr in (0.003, 0.03):
        save_run(runs_dir, train(TrainConfig(**{**TINY_TRAIN, "lr": lr, "epochs": 1})), name=f"sweep lr={lr}")
    at = open_app("lr_sweep")
    no_problems(at)
    assert charts_shown(at) == 1
    table = at.dataframe[-1].value
    assert sorted(set(table["lr"])) == [0.003, 0.03] and set(table["rule"]) == {"ip", "none"}


def test_a_run_that_cannot_be_saved_says_so(runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs folder cannot be written: the finished run says it was not saved (without naming the server's
    folder) and its charts are still shown."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("IPCORE_RUNS_DIR", str(blocker / "runs"))
    query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in TINY_TRAIN.items()}
    at = open_app("network_lab", {**query, "epochs": "1"})
    button(at, "Train").click().run()
    run_until(at, lambda a: any("could not be saved" in w.value for w in a.warning))
    (warning,) = [unescape(w.value) for w in at.warning if "could not be saved" in w.value]
    assert str(tmp_path) not in warning and "<server path>" in warning
    assert charts_shown(at) >= 8 and not at.exception


def test_a_slow_distribution_gets_a_message_instead_of_a_preview(runs_dir: Path) -> None:
    """studentized_range takes ~0.1-0.3 s per sample: the preview gives up after its time budget with a message
    that says so, and the page stays usable (Run still possible: the job can be stopped at any time)."""
    at = open_app("neuron_lab", {"dist": "studentized_range", "params.k": "3", "params.df": "10", "n": "10000"})
    assert not at.exception
    assert any("too slow" in unescape(e.value) for e in at.error), [e.value for e in at.error]
    assert not button(at, "Run").disabled


# --- pages: offline defaults, demos, gallery lists and comparison, neuron-lab prompts ------------------


def test_offline_lab_opens_on_a_present_dataset_and_refuses_a_missing_one(runs_dir, tmp_path, monkeypatch) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("IPCORE_DATA", str(empty))
    import streamlit

    streamlit.cache_data.clear()  # the dataset listing is cached per process; this test changes the data folder
    at = open_app("network_lab")
    no_problems(at)
    here = {d["name"].split(":")[0]: d for d in available_datasets()}
    assert not here["mnist"]["available"]
    chosen = at.selectbox(key="net.dataset").value
    assert chosen != "mnist" and here[chosen]["available"] and not button(at, "Train").disabled
    at.selectbox(key="net.dataset").set_value("mnist").run()
    assert button(at, "Train").disabled
    warning = " ".join(w.value for w in at.warning)
    assert "not on this machine" in warning and "IPCORE_DATA" in warning and "MNIST/raw" in warning
    assert "--data-root" not in warning  # written for the app, not the command line
    assert not list_runs(runs_dir)  # nothing was started, so no failed run lands in "my runs"
    home = " ".join(m.value for m in open_app("home").markdown)
    assert "mnist**] not on this machine" in home and "IPCORE_DATA" in home and "--data-root" not in home


def test_gallery_hides_failed_runs_unless_asked(runs_dir: Path, neuron_run) -> None:
    save_run(runs_dir, neuron_run, name="good run")
    save_run(runs_dir, neuron_run, name="broken run", state="failed", error="dataset missing")
    at = open_app("gallery", {"view": "runs"})
    no_problems(at)
    listed = " ".join(str(v) for v in at.dataframe[0].value["name"])
    assert "good run" in listed and "broken run" not in listed
    at.toggle(key="gallery.failed").set_value(True).run()
    assert "broken run" in " ".join(str(v) for v in at.dataframe[0].value["name"])


def test_run_names_are_shown_as_text(runs_dir: Path, neuron_run) -> None:
    run_id = save_run(runs_dir, neuron_run, name="**bold** :red[x]")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    no_problems(at)
    assert any(r"\*\*bold\*\* \:red\[x\]" in c.value for c in at.caption)


def test_neuron_lab_prompts_for_a_scipy_name_and_previews_the_runs_sample(runs_dir: Path) -> None:
    at = open_app("neuron_lab", {"dist": "gaussian", "mu": "5", "sigma": "2", "n": "20000"})
    from ipcore.training.neuron import draw_sample

    median = np.median(draw_sample(NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, n=20000)))
    assert f"median ≈ {median:.3g}" in spec_text(at.get("plotly_chart")[0])  # the run's own sample
    at.selectbox(key="neuron.dist").set_value("other (scipy.stats)").run()
    assert not at.error and not at.exception  # nothing typed yet: a prompt, not an error
    assert any("scipy.stats" in i.value for i in at.info) and button(at, "Run").disabled


def test_lab_controls_log_alpha_and_spread(runs_dir: Path, train_run) -> None:
    run_id = save_run(runs_dir, train_run, name="controls")
    at = open_app("gallery", {"view": "runs", "run": run_id})
    no_problems(at)
    at.toggle(key="viewer.logalpha").set_value(True).run()
    spec = next(spec_text(c) for c in at.get("plotly_chart") if "α and β over training" in spec_text(c))
    assert '"type":"log"' in spec
    next(b for b in at.get("button_group") if b.key == "viewer.spread").set_value("every seed").run()
    no_problems(at)
    loss = next(c.proto.spec for c in at.get("plotly_chart") if "Training loss" in c.proto.spec)
    assert "thin lines = each seed" in loss and "ip seed 1" in loss


@pytest.mark.skipif(export.chromium_path() is None, reason="no chromium to print the card")
def test_a_gallery_card_exports_as_one_pdf(train_run) -> None:
    figures = [
        charts_training.loss_figure([("", train_run.metrics)]),
        charts_training.grad_heatmap_figure(train_run.metrics),
    ]
    page = export.card_html("fig3.5 <card>", ["The thesis: **not bold** & <b>x</b>"], figures)
    assert "&lt;card&gt;" in page and "**not bold** &amp; &lt;b&gt;" in page  # the card's text is shown as text
    assert page.count("<svg") >= 2  # every chart of the card
    pdf = export.card_pdf("fig3.5", ["The thesis: a claim"], figures)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000


def test_chart_files_are_named_after_the_chart_and_the_run(monkeypatch, train_run) -> None:
    from app import views

    names: list[str] = []
    monkeypatch.setattr(views.st, "plotly_chart", lambda *a, **k: None)
    monkeypatch.setattr(views.st, "download_button", lambda *a, **k: names.append(k["file_name"]))
    fig = charts_training.loss_figure([("", train_run.metrics)])
    views.chart(fig, "card.fig3.5.0", "fig3.5-loss")
    with views.files_named_after("gallery-fig4.4-mnist"):
        views.chart(fig, "viewer.loss", "loss")
    assert names == ["fig3.5-loss.csv", "fig3.5-loss.svg", "fig3.5-loss.png", "gallery-fig4.4-mnist-loss.csv",
                     "gallery-fig4.4-mnist-loss.svg", "gallery-fig4.4-mnist-loss.png"]  # fmt: skip


def test_a_cards_fixed_point_charts_are_drawn_when_opened(runs_dir, monkeypatch) -> None:
    """A card's per-part charts of the distance to each rule's fixed point wait in an expander: the browser
    draws each plotly chart in a fraction of a second of its CPU, and chapter 7 had 27 charts on one page."""
    monkeypatch.delenv("IPCORE_GALLERY_DIR")
    if not any((ROOT / "cached_runs").glob("gallery-nb-ip-*")):
        pytest.skip("no committed nb-ip records")
    at = open_app("gallery", {"view": "figures", "chapter": "3"})
    no_problems(at)

    def titles() -> list[str]:
        return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]

    assert not any(t.startswith("Distance to the rule's fixed point") for t in titles())
    assert not any("Name prefix" in m.value for m in at.markdown)  # no bare string of the page drawn ("magic")
    assert any("loss" in t.lower() for t in titles())  # the card's own charts are there
    label = next(e.label for e in at.expander if e.label.startswith("Distance to each rule's fixed point"))
    at.session_state["card.nb-ip.fixed"] = True  # the browser's click on the expander
    at.run()
    no_problems(at)
    opened = [t for t in titles() if t.startswith("Distance to the rule's fixed point")]
    assert len(opened) == int(label.split("(")[1].split()[0]) >= 1  # one per part, as the label says


def test_chart_pages_preload_the_plotly_chunk_right_after_their_heading() -> None:
    from app import lab

    name = lab.chart_module()
    assert name is not None and name.startswith("PlotlyChart.")
    for page in ("home", "gallery", "lr_sweep", "neuron_lab"):
        at = open_app(page)
        scripts = [h.proto.body for h in at.get("html") if name in h.proto.body]
        assert len(scripts) == 1, page
        assert f"new URL('static/js/{name}', document.baseURI)" in scripts[0]  # the installed file, never a path
