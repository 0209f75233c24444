"""The reproduction report: the gallery's stored records found per entry, and REPRODUCTION.md's table written
from them (one row per entry: the claim, our measurement, settings, data, verdict).

``write_report`` replaces only the generated blocks (the table between ``REPORT_START`` and ``REPORT_END``, and
docs/beyond.md's per-entry ``claims_table``s); the hand-written discussion around them is kept. The same records always give the same table (``tests/test_verdicts.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ipcore.gallery.assessment import assess
from ipcore.results.records import list_runs, load_config, load_run


def entry_records(runs_dir: str, entry: Any) -> list[Any]:
    """The stored records of an entry (one per computed part)."""
    ids = {entry.run_id(part) for part in entry.parts}
    return [load_run(runs_dir, item["run_id"]) for item in list_runs(runs_dir) if item["run_id"] in ids]


def _finished_parts(runs_dir: str, entry: Any, **overrides: Any) -> dict[str, bool]:
    """Every part with a finished record (state "done") → whether that record's config is the part's declared
    one (with ``overrides``, as ``gallery`` was asked to compute it), up to ``PLACE_FIELDS``."""
    ids = {entry.run_id(part): part for part in entry.parts}
    finished = {}
    for item in list_runs(runs_dir):
        if item["run_id"] not in ids or item["state"] != "done":
            continue
        part = ids[item["run_id"]]
        try:
            stored = load_config(runs_dir, item["run_id"]).to_dict()
        except (OSError, ValueError):
            finished[part] = False
            continue
        wanted = entry.config(part, **overrides).to_dict()
        finished[part] = _what(stored) == _what(wanted)
    return finished


def done_parts(runs_dir: str, entry: Any, **overrides: Any) -> set[str]:
    """Parts whose finished record holds the part's declared config (``gallery`` skips them when resuming). A
    record made before the entry was re-declared is *stale* (``stale_parts``) and is computed again, so a card
    never mixes records of an old declaration with its new text."""
    return {part for part, current in _finished_parts(runs_dir, entry, **overrides).items() if current}


def stale_parts(runs_dir: str, entry: Any, **overrides: Any) -> set[str]:
    """Parts whose finished record holds another config than the part declares (or an unreadable one)."""
    return {part for part, current in _finished_parts(runs_dir, entry, **overrides).items() if not current}


PLACE_FIELDS = ("data_root", "device")
"""Config fields that say where a run ran, not what it computed: ``equal_record`` ignores them."""


def equal_record(runs_dir: str, config: Any) -> str | None:
    """The id of a finished gallery record (any entry's) whose config equals ``config`` up to ``PLACE_FIELDS``,
    or None: ``gallery`` copies it instead of computing the same part twice."""
    wanted = _what(config.to_dict())
    for item in list_runs(runs_dir):
        if item["state"] != "done" or not item.get("experiment"):
            continue
        try:
            stored = load_config(runs_dir, item["run_id"]).to_dict()
        except (OSError, ValueError):
            continue
        if _what(stored) == wanted:
            return item["run_id"]
    return None


def _what(config: dict[str, Any]) -> dict[str, Any]:
    """A config's fields that say what was computed (``PLACE_FIELDS`` left out)."""
    return {k: v for k, v in config.items() if k not in PLACE_FIELDS}


def _settings(entry: Any, records: list[Any]) -> str:
    if not records:
        return "–"
    config = records[0].config
    if entry.kind == "neuron":
        seeds = len({r.config.seed for r in records})
        inputs = len(records) // max(seeds, 1)
        per = f" for each of {inputs} inputs" if inputs > 1 else ""
        return f"{seeds} seeds{per} × {config.iters} iterations, n = {config.n}"
    seeds = sorted({r.config.seeds for r in records})
    epochs = sorted({r.config.epochs for r in records})
    subset = {r.config.subset for r in records}
    devices = sorted({str(r.meta.get("device", "?")) for r in records})
    text = f"{'/'.join(map(str, seeds))} seeds, {'/'.join(map(str, epochs))} epochs"
    if subset != {0}:
        text += f", first {max(subset)} training samples"
    text += f", depth {'/'.join(str(d) for d in sorted({r.config.depth for r in records}))}"
    text += f", width {'/'.join(str(w) for w in sorted({r.config.width for r in records}))}"
    for record in records:
        if record.meta.get("state") != "done":
            done = len(record.metrics.get("epoch/epoch", []))
            text += (
                f"; {record.meta.get('part')} {record.meta.get('state')} after {done} of {record.config.epochs} epochs"
            )
    return text + f" ({', '.join(devices)})"


def _data(entry: Any) -> str:
    if entry.kind == "neuron":
        return "synthetic samples: " + ", ".join(entry.datasets)
    names = {"mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG re-encoding)"}
    return ", ".join(names.get(d, d) for d in entry.datasets)


REPORT_START, REPORT_END = "<!-- gallery-table:start -->", "<!-- gallery-table:end -->"


def report_table(runs_dir: str, entries: Sequence[Any]) -> str:
    """The REPRODUCTION.md table: one row per entry of ``entries``, from the stored records."""
    rows = [
        "| id | thesis claim | our measurement | seeds, epochs | data | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for entry in entries:
        records = entry_records(runs_dir, entry)
        result = assess(entry, records)
        cells = [entry.id, entry.claim, result["measured"], _settings(entry, records), _data(entry), result["verdict"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    shared = shared_records(runs_dir, entries)
    if shared:
        rows += ["", "Records shared between entries (bit-identical training losses of a rule, every seed and epoch: "
                 "the same runs, so their sub-claims are not independent evidence):", ""]  # fmt: skip
        rows += [f"- {line}" for line in shared]
    return "\n".join(rows)


def shared_records(runs_dir: str, entries: Sequence[Any]) -> list[str]:
    """Which entries rest on the same runs: a rule's members in two records whose recorded training losses (every
    epoch, every seed) are bit-identical — the same settings and seeds computed twice on a deterministic CPU. Their
    sub-claims are then not independent evidence. One line per group, e.g. "none: fig3.5 lr0.01 = fig3.8 mnist"."""
    import hashlib

    import numpy as np

    from ipcore.gallery.assessment import reader_of

    groups: dict[str, list[str]] = {}
    for entry in entries:
        if entry.kind != "train":
            continue
        for record in entry_records(runs_dir, entry):
            losses = record.metrics.get("epoch/train_loss")
            if losses is None or len(losses) == 0:
                continue
            losses = np.ascontiguousarray(np.asarray(losses, dtype=np.float64))
            for rule, seeds in reader_of(record).rules().items():
                digest = hashlib.sha256(losses[:, seeds.members].tobytes()).hexdigest()
                groups.setdefault(f"{rule}:{digest}", []).append(f"{entry.id} {record.meta.get('part')}")
    return [f"{key.split(':')[0]}: {' = '.join(names)}" for key, names in groups.items() if len(names) > 1]


def _number(value: Any, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:+.{digits}g}"


def claims_table(runs_dir: str, entry: Any) -> str:
    """An entry's rules per part (mean over the seeds that did not diverge of each ``summary_metrics`` row) and its
    sub-claims (paired mean difference with its 95 % interval, rank evidence, Holm-adjusted p, verdict), as two
    Markdown tables: docs/beyond.md's generated block for each chapter-7 entry."""
    from ipcore.gallery.assessment import reader_of
    from ipcore.gallery.beyond import TRAINS_ACCURACY
    from ipcore.results.reader import SEED_METRICS

    records = entry_records(runs_dir, entry)
    result = assess(entry, records)
    by_part = {r.meta.get("part"): r for r in records}
    metrics = entry.extra.get("summary_metrics", (("final_loss", None),))
    head = [SEED_METRICS[m].label.replace("|", "\\|") + ("" if layer is None else f" (layer {layer + 1 if layer >= 0 else 'last'})")
            for m, layer in metrics]  # fmt: skip
    rows = ["| part | rule | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    for part in entry.parts:
        if part not in by_part:
            rows.append(f"| {part} | *missing* |" + " |" * len(head))
            continue
        reader = reader_of(by_part[part])
        for rule in reader.rules():
            cells = []
            for metric, layer in metrics:
                values = np.array(list(reader.seed_values(rule, metric, layer, keep_collapsed=True).values()))
                if values.size == 0:
                    cells.append("–")
                elif metric == "test_acc":
                    trains = int((values >= TRAINS_ACCURACY).sum())
                    cells.append(
                        f"{100 * values.mean():.1f} % ({trains}/{values.size} ≥ {100 * TRAINS_ACCURACY:.0f} %)"
                    )
                else:
                    cells.append(f"{values.mean():.3g}")
            collapsed = reader.rule(rule).collapsed
            rows.append(
                f"| {part} | {rule}{f' ({collapsed} collapsed)' if collapsed else ''} | " + " | ".join(cells) + " |"
            )
    rows += ["", "| sub-claim | Δ (a − b), mean [95 % CI] | a on the claimed side | Wilcoxon p (Holm) | verdict |",
             "|---|---|---|---|---|"]  # fmt: skip
    for label, numbers in result["numbers"].items():
        if "verdict" not in numbers or numbers.get("n") is None:
            rows.append(f"| {label} | – | – | – | {numbers.get('verdict', 'missing')} |")
            continue
        rank = numbers.get("all_seeds") or numbers.get("rank") or {}
        interval = f"{_number(numbers.get('mean'))} [{_number(numbers.get('low'))}, {_number(numbers.get('high'))}]"
        inside = f"{rank.get('inside', '–')} of {rank.get('n', '–')}"
        p = numbers.get("all_p_holm", numbers.get("rank_p_holm"))
        p_text = "–" if p is None else f"{p:.2g}"
        rows.append(
            f"| {label.replace('|', chr(92) + '|')} | {interval} | {inside} | {p_text} | {numbers['verdict']} |"
        )
    rows += ["", f"Entry verdict: **{result['verdict']}**."]
    return "\n".join(rows)


def _marked(text: str, start: str, end: str, body: str) -> str | None:
    """``text`` with what stands between the markers ``start`` and ``end`` replaced by ``body`` (None: no markers)."""
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_report(runs_dir: str, path: str, entries: Sequence[Any]) -> None:
    """Replace the generated blocks in ``path`` (the hand-written text around them is kept): the gallery table
    between ``REPORT_START``/``REPORT_END``, and an entry's ``claims_table`` between ``<!-- claims:ID:start -->`` and
    ``<!-- claims:ID:end -->`` wherever such markers stand (docs/beyond.md). A file with neither gets the table."""
    target = Path(path)
    text = target.read_text() if target.exists() else f"# Reproduction report\n\n{REPORT_START}\n{REPORT_END}\n"
    found = False
    if (replaced := _marked(text, REPORT_START, REPORT_END, report_table(runs_dir, entries))) is not None:
        text, found = replaced, True
    for entry in entries:
        start, end = f"<!-- claims:{entry.id}:start -->", f"<!-- claims:{entry.id}:end -->"
        if start in text and (replaced := _marked(text, start, end, claims_table(runs_dir, entry))) is not None:
            text, found = replaced, True
    if not found:
        text = text.rstrip() + f"\n\n{REPORT_START}\n{report_table(runs_dir, entries)}\n{REPORT_END}\n"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)
