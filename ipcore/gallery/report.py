"""The reproduction report: the gallery's stored records found per entry, and REPRODUCTION.md's table written
from them (one row per entry: the claim, our measurement, settings, data, verdict).

``write_report`` replaces only the table between ``REPORT_START`` and ``REPORT_END``; the hand-written
discussion around it is kept. The same records always give the same table (``tests/test_verdicts.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipcore.gallery.assessment import assess
from ipcore.results.records import list_runs, load_run


def entry_records(runs_dir: str, entry: Any) -> list[Any]:
    """The stored records of an entry (one per computed part)."""
    ids = {entry.run_id(part) for part in entry.parts}
    return [load_run(runs_dir, item["run_id"]) for item in list_runs(runs_dir) if item["run_id"] in ids]


def done_parts(runs_dir: str, entry: Any) -> set[str]:
    """Parts whose record exists and finished (state "done"): ``gallery`` skips them when resuming."""
    ids = {entry.run_id(part): part for part in entry.parts}
    return {ids[item["run_id"]] for item in list_runs(runs_dir) if item["run_id"] in ids and item["state"] == "done"}


PLACE_FIELDS = ("data_root", "device")
"""Config fields that say where a run ran, not what it computed: ``equal_record`` ignores them."""


def equal_record(runs_dir: str, config: Any) -> str | None:
    """The id of a finished gallery record (any entry's) whose config equals ``config`` up to ``PLACE_FIELDS``,
    or None: ``gallery`` copies it instead of computing the same part twice."""
    wanted = {k: v for k, v in config.to_dict().items() if k not in PLACE_FIELDS}
    for item in list_runs(runs_dir):
        if item["state"] != "done" or not item.get("experiment"):
            continue
        try:
            stored = load_run(runs_dir, item["run_id"]).config.to_dict()
        except (OSError, ValueError):
            continue
        if {k: v for k, v in stored.items() if k not in PLACE_FIELDS} == wanted:
            return item["run_id"]
    return None


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


def write_report(runs_dir: str, path: str, entries: Sequence[Any]) -> None:
    """Replace the table between the markers in ``path`` (the hand-written discussion around it is kept)."""
    target = Path(path)
    table = f"{REPORT_START}\n{report_table(runs_dir, entries)}\n{REPORT_END}"
    text = target.read_text() if target.exists() else f"# Reproduction report\n\n{REPORT_START}\n{REPORT_END}\n"
    if REPORT_START in text and REPORT_END in text:
        head, rest = text.split(REPORT_START, 1)
        _, tail = rest.split(REPORT_END, 1)
        text = head + table + tail
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)
