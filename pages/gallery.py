"""Gallery: the thesis's experiments re-run (one card per figure: claim, plot, our numbers, verdict), every stored
run — the user's own ("my runs") included — in a run viewer with the labs' charts, and two runs overlaid.

The page's own state lives in the address too: ``view`` (figures | runs | compare), ``run`` (the run shown in
the viewer), ``a`` and ``b`` (the overlaid pair).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import streamlit as st

from app import lab

lab.heading("Gallery")  # first, so the page shows before the records are read and the charts imported
lab.preload_charts()  # the plotly chunk loads in the browser while this script computes

import numpy as np  # noqa: E402

from app import PAGES_DIR, assessments, export, views  # noqa: E402
from app import card_figures as figure_cache  # noqa: E402
from app import jobs as app_jobs  # noqa: E402
from app.owner import owns_record  # noqa: E402
from app.text import code, plain, public_message, public_paths, public_record  # noqa: E402
from ipcore.charts import base as charts  # noqa: E402
from ipcore.charts import gallery as charts_gallery  # noqa: E402
from ipcore.charts import lab as charts_lab  # noqa: E402
from ipcore.charts import neuron as charts_neuron  # noqa: E402
from ipcore.charts import training as charts_training  # noqa: E402
from ipcore.config import ConfigError  # noqa: E402
from ipcore.gallery.beyond import CHAPTER as BEYOND_CHAPTER  # noqa: E402
from ipcore.jobs.serving import check_browser_config, plot_text  # noqa: E402
from ipcore.results.reader import neuron_final  # noqa: E402
from ipcore.results.records import CorruptRecord, RunNotFound, delete_run, record_origin  # noqa: E402

CHAPTERS = {3: "3 — IP in deep nets", 4: "4 — weighted decay", 5: "5 — the single neuron", 6: "6 — future work",
            7: "7 — beyond the thesis"}  # fmt: skip
VIEWS = {"figures": "Thesis figures", "runs": "All runs", "compare": "Compare runs"}
VERDICT_STYLE = {
    "reproduced": ("green", ":material/check_circle:"),
    "partly": ("orange", ":material/contrast:"),
    "inconclusive": ("gray", ":material/help:"),
    "contradicted": ("red", ":material/cancel:"),
    "missing": ("gray", ":material/hourglass_empty:"),
}
LAB_PAGES = {"train": PAGES_DIR / "network_lab.py", "neuron": PAGES_DIR / "neuron_lab.py"}


def gallery_entries() -> list[Any]:
    try:
        from ipcore.gallery.entries import ENTRIES
    except ImportError:  # the gallery definitions are optional: the page still lists and plots any record
        return []
    return list(ENTRIES)


def record_dataset(meta: dict) -> str:
    config = meta.get("config") or {}
    if config.get("kind") == "neuron":
        return f"{config.get('dist', '?')} input"
    return public_paths(config.get("dataset", "?"))  # an operator's imagefolder:/path is not a visitor's business


def record_rules(meta: dict) -> list[str]:
    return [str(r) for r in (meta.get("config") or {}).get("rules", [])]


def run_label(meta: dict) -> str:
    who = meta.get("name") or (f"{meta['experiment']} · {meta.get('part')}" if meta.get("experiment") else "")
    return f"{meta['run_id']}{' — ' + who if who and who not in meta['run_id'] else ''}"


def load_records(metas: Iterable[dict]) -> list[Any]:
    """RunRecords of ``metas``; unreadable ones are skipped with a message."""
    records = []
    for meta in metas:
        try:
            records.append(app_jobs.record(meta["run_id"]))
        except (RunNotFound, CorruptRecord, ConfigError, OSError) as error:
            st.warning(f"Run {plain(meta['run_id'])} could not be read: {public_message(error)}",
                       icon=":material/warning:")  # fmt: skip
    return records


@st.cache_data(show_spinner=False, max_entries=64)
def assessment(entry_id: str, signature: tuple) -> dict:
    """``ipcore.gallery.entries.assess`` of an entry's records (cached against the records' ids and times, in
    memory and on disk for the next server: ``app.assessments``)."""

    def compute() -> dict:
        from ipcore.gallery.entries import assess, get_entry

        return assess(get_entry(entry_id), [app_jobs.record(run_id) for run_id, _ in signature])

    return assessments.cached_verdict(entry_id, signature, compute)


def part_group(part: str) -> str:
    """ "uniform-s3" → "uniform"; "s3" → "all"; other parts are their own group."""
    head, sep, tail = part.rpartition("-s")
    if sep and tail.isdigit():
        return head
    if part.startswith("s") and part[1:].isdigit():
        return "all"
    return part


SPREAD_PLOTS = ("loss", "entropy", "histogram")  # card plots that pool seeds (a spread choice applies)
# Name prefix of a card's per-part charts of the distance to each rule's fixed point: drawn when the card's
# "distance to the fixed point" expander is opened (a chapter-7 card has up to nine; a browser draws each plotly
# chart in 0.1-0.3 s of its CPU, and the chapter's cards would stand waiting for them). A comment, not a
# docstring: a page script's bare string would be drawn on the page (Streamlit's "magic").
FIXED_POINT = "fixed-point-"


def entry_figures(entry: Any, records: list[Any], spread: str = "min–max",
                  fixed_points: bool = True) -> list[tuple[Any, str]]:  # fmt: skip
    """The card's plot(s) from its records, by the entry's plot kind; ``spread``: how pooled seeds are drawn;
    ``fixed_points``: with the per-part charts of the distance to each rule's fixed point (``FIXED_POINT``)."""
    by_part = sorted(((r.meta.get("part") or r.run_id, r) for r in records), key=lambda pr: _part_order(entry, pr))
    runs = [(part, r.metrics) for part, r in by_part]
    if entry.plot == "loss":
        if len(runs) == 1:
            figures = [(charts_training.loss_figure(runs, smoothing=0.9, max_points=400, spread=spread), "loss")]
        else:
            figures = [(charts_training.loss_panels_figure(runs, smoothing=0.9, spread=spread), "loss")]
        layer = entry.extra.get("fixed_point_layer")
        if layer is not None and fixed_points:  # how far each rule is from its own fixed point, one chart per part
            for part, metrics in runs:
                fig = charts_training.fixed_point_figure(metrics, [layer])
                fig.update_layout(
                    title_text=f"Distance to the rule's fixed point, hidden layer {layer + 1} — {plot_text(part)}"
                )
                figures.append((fig, f"{FIXED_POINT}{part}"))
        return figures
    if entry.plot == "layer_profile":  # chapter 7: per-layer quantities against depth, one chart per part
        from ipcore.charts import beyond as charts_beyond

        figures = []
        for column in entry.extra.get("profile_metrics", ("grad_y_u",)):
            fig = charts_beyond.layer_profile_figure(runs, column, "second half")
            figures.append((fig, f"depth-{column}"))
        if len(runs) == 1:
            return figures + [(charts_training.loss_figure(runs, smoothing=0.9, max_points=400, spread=spread), "loss")]
        return figures + [(charts_training.loss_panels_figure(runs, smoothing=0.9, spread=spread), "loss")]
    if entry.plot == "grad_y_u":
        layer = entry.layer or 0
        return [
            (charts_training.grad_lines_figure(runs, [layer]), f"dy-du-layer{layer + 1}"),
            (charts_training.grad_lines_figure(runs, [layer], "grad_y_x"), f"dy-dx-layer{layer + 1}"),
        ]
    groups: dict[str, list] = {}
    for part, metrics in runs:
        groups.setdefault(part_group(part), []).append((part, metrics))
    if entry.plot == "entropy":
        from ipcore.gallery.entries import input_entropy_bound

        configs = {part_group(part): r.config for part, r in by_part}
        out = []
        for group, members in groups.items():
            config = configs[group]
            bound = input_entropy_bound(config)["entropy_hist"] if config.dist in ("gaussian", "uniform") else None
            fig = charts_neuron.neuron_entropy_figure(members, aggregate=True, bound=bound, spread=spread)
            label = entry.extra.get("group_labels", {}).get(group, group)
            fig.update_layout(title_text=f"Output entropy vs iteration — {plot_text(label)} ({len(members)} samples)")
            out.append((fig, f"entropy-{group}"))
        return out
    if entry.plot == "histogram":
        return [
            (charts_neuron.neuron_final_histogram_figure(members, spread), f"histogram-{g}")
            for g, members in groups.items()
        ]
    if entry.plot == "beta_median":
        points = []
        for part, metrics in runs:
            beta = next(iter(neuron_final(metrics, "beta").values()))
            points.append({"label": part_group(part), "median": float(metrics["sample_median"]),
                           "mean": float(metrics["sample_mean"]), "beta": beta})  # fmt: skip
        return [(charts_gallery.beta_median_scatter(points), "beta-vs-median")]
    if entry.plot == "stability":
        from ipcore.gallery.assessment import stability_rows

        rows = stability_rows({part: record for part, record in by_part})
        return [(charts_gallery.stability_figure(rows), "stability")]
    return [(charts_training.loss_figure(runs), "loss")]


def card_figures(entry: Any, metas: list[dict], spread: str, fixed_points: bool) -> list[tuple[Any, str]]:
    """``entry_figures`` of the card's records, kept on disk for the next server (``app.card_figures``): a fresh
    server draws a chapter without reading its records."""
    signature = tuple(sorted((m["run_id"], str(m.get("created"))) for m in metas))
    path = figure_cache.figures_path(entry.id, signature, {"spread": spread, "fixed_points": fixed_points})
    stored = figure_cache.read(path)
    if stored is not None:
        return stored
    records = load_records(metas)
    figures = entry_figures(entry, records, spread, fixed_points)
    if len(records) == len(metas):  # without an unreadable record (said above) they are not kept: it may be fixed
        figure_cache.write(path, figures)
    return figures


def _part_order(entry: Any, item: tuple[str, Any]) -> tuple:
    part, record = item
    lr = getattr(record.config, "lr", None)
    order = list(entry.parts).index(part) if part in entry.parts else len(entry.parts)
    return (lr if lr is not None else 0.0, order, part)


def origin_text(meta: dict) -> str:
    """ "gallery experiment fig3.8 / cifar10" or "sweep NAME, grid point lr … η …" (a sweep is not the gallery)."""
    if record_origin(meta) == "sweep":
        return f"sweep {meta['experiment']}, grid point {meta.get('part')}"
    return f"gallery experiment {meta['experiment']} / {meta.get('part')}"


def open_button(meta_or_record: Any, key: str) -> None:
    """Show a run in the viewer below (sets ``run`` in the address)."""
    run_id = meta_or_record["run_id"] if isinstance(meta_or_record, dict) else meta_or_record.run_id
    if st.button("Open in the run viewer", key=key, icon=":material/open_in_new:"):
        st.query_params["run"] = run_id
        st.query_params["view"] = "runs"
        st.rerun()


def measured_rows(text: str) -> list[dict[str, str]]:
    """The assessment's measured text ("part: numbers; claim: interval → verdict; …") as table rows: one per
    part or sub-claim, split at the "; " that are not inside brackets (a part's dead-unit note has its own)."""
    pieces, depth, current = [], 0, ""
    for i, char in enumerate(text):
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(char, 0)
        if char == ";" and depth == 0 and text[i + 1 : i + 2] == " ":
            pieces.append(current.strip())
            current = ""
        else:
            current += char
    pieces.append(current.strip())
    rows = []
    for piece in filter(None, pieces):
        label, sep, rest = piece.partition(": ")
        what, arrow, verdict = (rest if sep else piece).rpartition(" → ")
        rows.append({"part or claim": label if sep else "", "measured": what if arrow else (rest if sep else piece),
                     "verdict": verdict if arrow else ""})  # fmt: skip
    return rows


def card(entry: Any, metas: list[dict], verdict: dict) -> None:
    """One thesis figure: title, claim, notes, verdict with our numbers, and the plot from its records."""
    with st.container(border=True):
        head, badge = st.columns([5, 1])
        head.markdown(f"#### {entry.title}")
        head.caption(f"{entry.id} · chapter {CHAPTERS.get(entry.chapter, entry.chapter)} · {entry.kind} · "
                     f"{', '.join(entry.datasets)} · rules {', '.join(entry.rules)}")  # fmt: skip
        ours = entry.chapter == BEYOND_CHAPTER  # our own hypotheses, not the thesis's claims
        st.markdown(f"> **{'Our hypothesis' if ours else 'The thesis'}:** {entry.claim}")
        if entry.notes:
            st.caption(f"{'Our settings' if ours else 'Our settings where the thesis is silent'}: {entry.notes}")
        if not metas:
            badge.badge("not computed", color="gray", icon=":material/hourglass_empty:")
            st.info(f"No record yet. Compute it with `python -m ipcore gallery --only {entry.id}` (results land in "
                    f"`{app_jobs.runs_dir()}`).", icon=":material/terminal:")  # fmt: skip
            return
        color, icon = VERDICT_STYLE.get(verdict["verdict"], ("gray", None))
        badge.badge(verdict["verdict"], color=color, icon=icon)
        claims = verdict.get("numbers", {})
        # the sub-claims have a table of their own below: here the parts' own numbers
        rows = [row for row in measured_rows(verdict["measured"]) if row["part or claim"] not in claims]
        if len(rows) > 1:
            st.markdown("**Measured:**")
            st.dataframe(rows, hide_index=True, width="stretch",
                         column_config={"measured": st.column_config.TextColumn(width="large")})  # fmt: skip
        elif rows and not claims:
            st.markdown(f"**Measured:** {plain(verdict['measured'])}")
        elif rows:
            st.markdown(f"**Measured:** {plain(rows[0]['part or claim'] + ': ' if rows[0]['part or claim'] else '')}"
                        f"{plain(rows[0]['measured'])}")  # fmt: skip
        claim_rows = charts_gallery.claim_rows(claims)
        if claim_rows:
            st.caption("Sub-claims, two analyses side by side: the seeds healthy under both rules (t-interval, "
                       "t-test p raw and Holm-corrected within this figure) and all seeds, a collapsed or diverged "
                       "member ranked worst (rank tests); a verdict that differs between them depends on the "
                       "exclusion and is never reproduced outright.")  # fmt: skip
            st.dataframe(claim_rows, hide_index=True, width="stretch", key=f"card.{entry.id}.claims")
        options = st.columns([1, 2, 2], vertical_alignment="bottom")
        spread = charts.SPREADS[0]
        if entry.plot in SPREAD_PLOTS:
            # Ten seeds per card: the interquartile band is not blown up by one stuck seed as min–max is.
            spread = views.spread_control(options[1], f"card.{entry.id}", default="interquartile")
        log_scale = options[0].toggle("log scale", key=f"card.{entry.id}.log",
                                      help="values that span decades (losses, counts)")  # fmt: skip

        def drawn(figures: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
            if log_scale:
                for fig, _ in figures:
                    fig.update_yaxes(type="log", range=None, autorange=True)
            return figures

        fixed_point_layer = entry.extra.get("fixed_point_layer") if entry.plot == "loss" else None
        main = drawn(card_figures(entry, metas, spread, fixed_points=False))
        for i, (fig, name) in enumerate(main):
            views.chart(fig, f"card.{entry.id}.{i}", f"{entry.id}-{name}")
        if fixed_point_layer is not None:
            label = (f"Distance to each rule's fixed point, hidden layer {fixed_point_layer + 1} "
                     f"({len(metas)} chart(s), one per part)")  # fmt: skip
            with st.expander(label, key=f"card.{entry.id}.fixed", on_change="rerun") as more:
                if more.open:
                    figures = card_figures(entry, metas, spread, fixed_points=True)
                    extra = drawn([f for f in figures if f[1].startswith(FIXED_POINT)])
                    for i, (fig, name) in enumerate(extra, start=len(main)):
                        views.chart(fig, f"card.{entry.id}.{i}", f"{entry.id}-{name}")

        def all_figures() -> list[Any]:  # the PDF has every chart of the card, drawn on click
            return [fig for fig, _ in drawn(card_figures(entry, metas, spread, fixed_points=True))]

        lines = [f"{entry.id} · chapter {CHAPTERS.get(entry.chapter, entry.chapter)} · {entry.kind} · "
                 f"{', '.join(entry.datasets)} · rules {', '.join(entry.rules)}",
                 f"{'Our hypothesis' if ours else 'The thesis'}: {entry.claim}",
                 f"Our settings where the thesis is silent: {entry.notes}" if entry.notes else "",
                 f"Verdict: {verdict['verdict']}. Measured: {verdict['measured']}"]  # fmt: skip
        st.download_button(
            "This card as one PDF",
            data=lambda: export.card_pdf(entry.title, lines, all_figures()),
            file_name=export.file_name(f"{entry.id}-card", "pdf"),
            mime="application/pdf",
            key=f"card.{entry.id}.pdf",
            icon=":material/picture_as_pdf:",
            on_click="ignore",
            help="the claim, the verdict, our numbers and every chart of this card, on A4",
        )
        parts = {run_label(m): m for m in metas}
        choice = st.selectbox("a part of this experiment", list(parts), key=f"card.{entry.id}.part")
        open_button(parts[choice], f"card.{entry.id}.open")


def figures_view(entries: list[Any], metas: list[dict], chapters: list[int], datasets: list[str],
                 rules: list[str]) -> None:  # fmt: skip
    """The reproduction table (every figure's verdict), then the cards of one chapter at a time."""
    shown = [
        e for e in entries
        if (not chapters or e.chapter in chapters)
        and (not datasets or any(any(d in ds for d in datasets) for ds in e.datasets))
        and (not rules or set(rules) & set(e.rules))
    ]  # fmt: skip
    if not entries:
        st.info("The gallery's experiment list (ipcore.gallery.entries) is not available; all stored runs are under "
                "*All runs*.")  # fmt: skip
        return
    if not shown:
        st.info("No thesis figure matches the filters.")
        return
    by_experiment: dict[str, list[dict]] = {}
    owners = {e.id: e for e in entries}
    for meta in metas:  # only an entry's own records (a sweep named like an entry is not one of its parts)
        entry = owners.get(meta.get("experiment") or "")
        if entry is not None and entry.owns(meta):
            by_experiment.setdefault(meta["experiment"], []).append(meta)
    verdicts = {e.id: entry_verdict(e, by_experiment.get(e.id, [])) for e in shown}
    done = sum(1 for e in shown if by_experiment.get(e.id))
    st.caption(f"{len(shown)} figure(s), {done} with records. The verdict compares our numbers with the thesis's "
               "claim; each card below shows the claim, the plot and the numbers.")  # fmt: skip
    table = [
        {"figure": e.id, "chapter": e.chapter, "title": e.title, "verdict": verdicts[e.id]["verdict"],
         "parts": f"{len({m.get('part') for m in by_experiment.get(e.id, [])} & set(e.parts))} of {len(e.parts)}",
         "measured": verdicts[e.id]["measured"]}
        for e in shown
    ]  # fmt: skip
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"measured": st.column_config.TextColumn(width="large")})  # fmt: skip
    present = sorted({e.chapter for e in shown})
    wanted = st.query_params.get("chapter", "")
    chapter = int(wanted) if wanted.isdigit() and int(wanted) in present else present[0]
    st.session_state["gallery.chapter"] = chapter
    st.segmented_control("chapter", present, format_func=lambda c: f"Chapter {CHAPTERS.get(c, c)}",
                         key="gallery.chapter", on_change=_chapter_changed)  # fmt: skip
    for entry in (e for e in shown if e.chapter == chapter):
        card(entry, by_experiment.get(entry.id, []), verdicts[entry.id])


def _chapter_changed() -> None:
    chapter = st.session_state.get("gallery.chapter")
    if chapter is not None:
        st.query_params["chapter"] = str(chapter)


def entry_verdict(entry: Any, metas: list[dict]) -> dict:
    """``assess`` for the entry's records; "missing" without records; a message if assessing fails."""
    if not metas:
        return {"verdict": "missing", "measured": "not computed yet"}
    signature = tuple(sorted((m["run_id"], str(m.get("created"))) for m in metas))
    try:
        return assessment(entry.id, signature)
    except Exception as error:  # an assessment bug must not hide the records
        return {"verdict": "missing", "measured": f"could not assess: {type(error).__name__}: {error}"}


def runs_table(metas: list[dict]) -> list[dict]:
    rows = []
    for meta in metas:
        config = meta.get("config") or {}
        rows.append({
            "run": meta["run_id"],
            "name": meta.get("name") or "",
            "mine": "" if record_origin(meta) == "gallery" else "✓",
            "kind": meta.get("kind"),
            "experiment": f"{meta.get('experiment') or ''} {meta.get('part') or ''}".strip(),
            "state": meta.get("state"),
            "data": record_dataset(meta),
            "rules": ", ".join(record_rules(meta)),
            "lr": config.get("lr"),
            "depth": config.get("depth"),
            "epochs": config.get("epochs"),
            "seeds": config.get("seeds"),
            "iters": config.get("iters"),
            "diverged": "✕" if meta.get("diverged") else "",
            "created": meta.get("created"),
            "seconds": meta.get("seconds"),
        })  # fmt: skip
    return rows


def runs_view(metas: list[dict]) -> None:
    mine_only = st.toggle("only my runs", key="gallery.mine")
    shown = [m for m in metas if not (mine_only and record_origin(m) == "gallery")]
    if not shown:
        st.info("No run here yet. Train one in the Network lab or run the Neuron lab; finished runs appear here.")
        return
    st.caption(f"{len(shown)} run(s), newest first. Select a row to open it in the viewer below.")
    st.session_state["gallery.shown"] = [m["run_id"] for m in shown]
    st.dataframe(runs_table(shown), hide_index=True, width="stretch", height=min(420, 38 + 35 * len(shown)),
                 on_select=_row_selected, selection_mode="single-row", key="gallery.table")  # fmt: skip


def _row_selected() -> None:
    """A row was (de)selected: show that run in the viewer."""
    rows = st.session_state["gallery.table"].selection.rows
    shown = st.session_state.get("gallery.shown", [])
    if rows and rows[0] < len(shown):
        st.query_params["run"] = shown[rows[0]]


def run_viewer(run_id: str) -> None:
    """One stored run with the lab's charts, its downloads, "load into the lab" and (own runs) delete."""
    try:
        record = app_jobs.record(run_id)
    except (RunNotFound, CorruptRecord, ConfigError, OSError) as error:
        views.engine_error(error, f"cannot open run {code(run_id)}")
        return
    meta = record.meta
    st.subheader(f"Run {code(run_id)}")
    st.caption(plain(readable_label({**meta, "config": record.config.to_dict()})))  # a record's meta has no config
    st.caption(
        f"{record.config.kind} · {meta.get('state')} · created {meta.get('created')} · {meta.get('seconds')} s on "
        f"{plain(meta.get('device'))}" + (f" · {origin_text(meta)}" if meta.get("experiment") else "")
    )
    if meta.get("error"):
        st.error(f"This run failed: {public_message(str(meta['error']))}", icon=":material/error:")
    buttons = st.columns(3)
    lab = LAB_PAGES.get(record.config.kind)
    # The data folder and device are the recording machine's; this machine uses its own.
    loadable = dataclasses.replace(record.config, **{k: "" for k in ("data_root",) if hasattr(record.config, k)})
    try:
        check_browser_config(loadable)
        why_not = None
    except ConfigError:  # an operator's run on a folder given by its path: the address must not carry the path
        why_not = "this run read an image folder the server's operator gave by its path; a browser cannot choose it"
    if lab is not None and buttons[0].button("Load this setup into the lab", icon=":material/science:",
                                             disabled=why_not is not None, help=why_not):  # fmt: skip
        setup = {k: v for k, v in loadable.to_flat().items() if k not in ("data_root", "device")}
        st.switch_page(str(lab), query_params=setup)
    with buttons[1]:
        views.run_downloads(public_record(record.config.to_dict()), public_record(record.summary), record.metrics,
                            run_id, f"viewer.{run_id}")  # fmt: skip
    # Only the browser that made a run may delete it: on a shared server, visitors must not remove each other's
    # runs (the operator can, with `python -m ipcore runs delete`). The browser's owner key is kept in a cookie
    # (app.owner), so a reload keeps it; the record stores the key's digest, so a server restart does too.
    own = owns_record(meta) or run_id in {job.get("run_id") for job in app_jobs.my_jobs()}
    if own and buttons[2].button("Delete this run", icon=":material/delete:"):
        try:
            delete_run(app_jobs.runs_dir(), run_id)
            st.query_params.pop("run", None)
            st.rerun()
        except (RunNotFound, ConfigError, OSError) as error:
            views.engine_error(error, "could not delete")
    with st.expander("config and summary"):
        st.json(public_record({"config": record.config.to_dict(), "summary": record.summary}), expanded=False)
    with views.files_named_after(run_id):
        if record.config.kind == "train":
            views.train_run_view(record.metrics, key="viewer", dataset=record.config.dataset)
        else:
            views.neuron_run_view(record.metrics, key="viewer")


def compare_view(metas: list[dict]) -> None:
    """Any number of runs of one kind on a shared axis (epochs for networks, iterations for single neurons):
    any recorded metric, any hidden layer, colour = rule, line style and marker = run. The chosen runs are in
    the address (``cmp=id1,id2,…``)."""
    if len(metas) < 2:
        st.info("Comparing needs at least two stored runs.")
        return
    by_id = {m["run_id"]: m for m in metas}
    kinds = sorted({m["kind"] for m in metas})
    wanted = [i for i in st.query_params.get("cmp", "").split(",") if i in by_id]
    legacy = [st.query_params.get(k) for k in ("a", "b") if st.query_params.get(k) in by_id]  # older links
    wanted = wanted or legacy
    kind_default = by_id[wanted[0]]["kind"] if wanted else ("train" if "train" in kinds else kinds[0])
    kind = st.segmented_control("kind of run", kinds, default=kind_default, key="gallery.cmp.kind",
                                format_func=lambda k: {"train": "networks", "neuron": "single neurons"}.get(k, k))  # fmt: skip
    kind = kind or kind_default
    options = [m["run_id"] for m in metas if m["kind"] == kind]
    labels = {m["run_id"]: readable_label(m) for m in metas}
    default = [i for i in wanted if i in options] or options[:2]
    # the widget's value lives in the session only (a default beside it makes Streamlit warn on every rerun)
    kept = [i for i in st.session_state.get("gallery.cmp.runs", default) if i in options]
    st.session_state["gallery.cmp.runs"] = kept if "gallery.cmp.runs" in st.session_state else default
    chosen = st.multiselect("runs to compare (any number)", options, key="gallery.cmp.runs",
                            format_func=lambda i: labels[i], select_all=False,  # no "Select all N matches" option
                            placeholder="type to find a run by its data, depth, lr, name or part")  # fmt: skip
    if chosen:
        st.query_params["cmp"] = ",".join(chosen)
    for key in ("a", "b"):
        st.query_params.pop(key, None)
    if not chosen:
        st.info("Choose the runs to compare.")
        return
    records = load_records([by_id[i] for i in chosen])
    if not records:
        return
    runs = [(labels[r.run_id], r.metrics) for r in records]
    metrics_here = charts_lab.comparable_metrics([m for _, m in runs])
    if not metrics_here:
        st.info("These runs have no recorded metric in common.")
        return
    top = st.columns([2, 1, 1, 2])
    metric = top[0].selectbox("metric", metrics_here, key="gallery.cmp.metric",
                              format_func=lambda k: f"{charts_lab.METRIC_TITLES.get(k, k)} ({k})")  # fmt: skip
    layer = 0
    if metric.startswith("layer/"):
        layers = min(int(np.asarray(m[metric]).shape[-1]) for _, m in runs)
        layer = top[1].number_input("hidden layer", 1, layers, min(3, layers), key="gallery.cmp.layer") - 1
    log_y = top[2].toggle("log scale", key="gallery.cmp.log")
    spread = views.spread_control(top[3], "gallery.cmp") if kind == "train" else charts.SPREADS[0]
    smoothing = 0.0
    if metric == "batch/loss":
        smoothing = st.slider("loss smoothing", 0.0, 0.99, 0.6, 0.01, key="gallery.cmp.smooth")
    fig = charts_lab.compare_figure(runs, metric, layer, spread=spread, log_y=log_y, smoothing=smoothing)
    name = f"compare-{metric.replace('/', '-')}" + (f"-layer{layer + 1}" if metric.startswith("layer/") else "")
    views.chart(fig, "cmp.metric", name)
    colours = "Colour = rule" if len(runs) == 1 else "Colour = run and rule (see the legend)"
    st.caption(f"{colours}; line style and marker = run. " + " · ".join(
        f"{views.DASH_NAMES[i % len(views.DASH_NAMES)]}: {views.code(label)}" for i, (label, _) in enumerate(runs)
    ))  # fmt: skip


def readable_label(meta: dict) -> str:
    """ "mnist · depth 7 · lr 0.015 · 1 ep" with the user's name or the gallery part, never only an id."""
    return charts_lab.run_label(meta.get("config") or {}, meta)


# --- page ---------------------------------------------------------------------------------------------

try:
    metas = app_jobs.runs()
except Exception as error:  # an unreadable runs folder must not break the page
    views.engine_error(error, "reading the run records")
    metas = []
entries = gallery_entries()

sb = st.sidebar
sb.header("Filter")
chapters = sb.multiselect("chapter", list(CHAPTERS), format_func=CHAPTERS.get, key="gallery.chapters")
all_datasets = sorted({d for e in entries for d in e.datasets} | {record_dataset(m) for m in metas})
datasets = sb.multiselect("dataset / input", all_datasets, key="gallery.datasets")
all_rules = sorted({r for e in entries for r in e.rules} | {r for m in metas for r in record_rules(m)})
rules = sb.multiselect("rule", all_rules, key="gallery.rules")
failed = sum(1 for m in metas if m.get("state") == "failed")
show_failed = sb.toggle(f"show failed runs ({failed})", key="gallery.failed", disabled=not failed,
                        help="runs that stopped with an error (e.g. a missing dataset) are left out of the lists")  # fmt: skip
if not show_failed:
    metas = [m for m in metas if m.get("state") != "failed"]
mine = sum(1 for m in metas if record_origin(m) != "gallery")
sb.caption(f"{len(metas)} stored run(s), {mine} of them yours.")


def _view_changed() -> None:
    st.query_params["view"] = st.session_state["gallery.view"] or "figures"


view = st.query_params.get("view", "figures")
view = view if view in VIEWS else "figures"
st.session_state["gallery.view"] = view  # the address is the source of truth (buttons below change it)
st.segmented_control("show", list(VIEWS), format_func=VIEWS.get, key="gallery.view", on_change=_view_changed,
                     label_visibility="collapsed")  # fmt: skip


def matches(meta: dict) -> bool:
    if chapters and meta.get("experiment"):
        chapter = next((e.chapter for e in entries if e.id == meta["experiment"]), None)
        if chapter not in chapters:
            return False
    if chapters and not meta.get("experiment"):
        return False
    if datasets and record_dataset(meta) not in datasets:
        return False
    return not rules or bool(set(rules) & set(record_rules(meta)))


filtered = [m for m in metas if matches(m)]
if view == "figures":
    figures_view(entries, metas, chapters, datasets, rules)
elif view == "runs":
    runs_view(filtered)
    if st.query_params.get("run"):
        st.divider()
        run_viewer(st.query_params["run"])
else:
    compare_view(filtered)
