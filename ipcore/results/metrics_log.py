"""A thread-safe, append-only metrics log that a running job writes and any reader snapshots.

Metrics are grouped in *tables*; one ``append`` adds a whole row to a table under a lock, so a snapshot
never sees one column of a table longer than another. A snapshot stacks only the rows added since the previous
one: each column keeps a growing buffer (capacity doubles) that new rows are copied into once, and a snapshot
returns read-only views of the filled prefix. Rows never change once written, so earlier snapshots stay valid,
and a reader polling a long run costs O(new rows), not O(all rows) under the GIL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ipcore.config import Config


@dataclass
class RunResult:
    """What a run returns (and what a record stores): its config, the recorded metrics as plain arrays, the
    JSON-ready summary, and its state: "done", "cancelled" (stopped early, what was recorded kept) or
    "failed" (the metrics recorded before the error)."""

    config: Config
    metrics: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)
    state: str = "done"


class MetricsLog:
    """Tables of rows (``append``) plus fixed arrays (``set_static``); ``snapshot`` gives plain arrays.

    Snapshot keys are ``"table/column"`` for table columns (stacked: ``[rows, ...]``) and the static names
    as given.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, dict[str, list[np.ndarray]]] = {}
        self._static: dict[str, np.ndarray] = {}
        self.version = 0  # bumps on every write, so a reader can tell whether anything changed
        self._stack_lock = threading.Lock()  # one snapshot at a time updates the stacked buffers
        self._buffers: dict[str, dict[str, np.ndarray]] = {}
        self._filled: dict[str, int] = {}

    def set_static(self, **arrays: Any) -> None:
        with self._lock:
            for name, value in arrays.items():
                self._static[name] = np.asarray(value)
            self.version += 1

    def append(self, table: str, **row: Any) -> None:
        """Add one row to ``table``; every row of a table must carry the same columns."""
        values = {name: np.asarray(value) for name, value in row.items()}
        with self._lock:
            columns = self._tables.get(table)
            if columns is None:
                columns = self._tables[table] = {name: [] for name in values}
            elif set(columns) != set(values):
                raise ValueError(f"table {table!r} has columns {sorted(columns)}, got {sorted(values)}")
            for name, value in values.items():
                columns[name].append(value)
            self.version += 1

    def rows(self, table: str) -> int:
        with self._lock:
            columns = self._tables.get(table)
            return len(next(iter(columns.values()))) if columns else 0

    def snapshot(self) -> dict[str, np.ndarray]:
        """Every table column stacked (read-only views), plus the static arrays; consistent across a table's
        columns. Costs O(rows added since the previous snapshot)."""
        with self._stack_lock:
            with self._lock:
                static = dict(self._static)
                new_rows = {
                    table: {c: values[self._filled.get(table, 0) :] for c, values in columns.items()}
                    for table, columns in self._tables.items()
                }
            out: dict[str, np.ndarray] = dict(static)
            for table, columns in new_rows.items():
                start = self._filled.get(table, 0)
                buffers = self._buffers.setdefault(table, {})
                count = start
                for column, rows in columns.items():
                    buffers[column] = _append_rows(buffers.get(column), start, rows)
                    count = start + len(rows)
                    view = buffers[column][:count]
                    view.flags.writeable = False
                    out[f"{table}/{column}"] = view
                self._filled[table] = count
            return out


def _append_rows(buffer: np.ndarray | None, start: int, rows: list[np.ndarray]) -> np.ndarray:
    """Copy ``rows`` into ``buffer`` from index ``start``, growing it (×2) or widening its dtype as needed."""
    if not rows:
        return buffer if buffer is not None else np.zeros((0,))
    block = np.stack(rows)
    if buffer is None or buffer.shape[1:] != block.shape[1:] and start == 0:
        buffer = np.empty((max(16, 2 * len(rows)), *block.shape[1:]), dtype=block.dtype)
    elif block.shape[1:] != buffer.shape[1:]:
        raise ValueError(f"row shape changed from {buffer.shape[1:]} to {block.shape[1:]}")
    dtype = np.result_type(buffer.dtype, block.dtype)
    needed = start + len(rows)
    if needed > len(buffer) or dtype != buffer.dtype:
        grown = np.empty((max(needed, 2 * len(buffer)), *buffer.shape[1:]), dtype=dtype)
        grown[:start] = buffer[:start]
        buffer = grown
    buffer[start:needed] = block
    return buffer
