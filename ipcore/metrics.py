"""A thread-safe, append-only metrics log that a running job writes and any reader snapshots.

Metrics are grouped in *tables*; one ``append`` adds a whole row to a table under a lock, so a snapshot
never sees one column of a table longer than another. Snapshots copy the row lists under the lock (cheap:
list copies) and stack them outside it, so readers barely delay the writer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np


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
        """Every table column stacked, plus the static arrays; consistent across a table's columns."""
        with self._lock:
            tables = {t: {c: list(v) for c, v in cols.items()} for t, cols in self._tables.items()}
            static = dict(self._static)
        out: dict[str, np.ndarray] = dict(static)
        for table, columns in tables.items():
            for column, values in columns.items():
                out[f"{table}/{column}"] = np.stack(values) if values else np.zeros((0,))
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MetricsLog:
        """Rebuild a log from a snapshot (used when a stored run is reopened)."""
        log = cls()
        tables: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            if "/" in key:
                table, column = key.split("/", 1)
                tables.setdefault(table, {})[column] = value
            else:
                log._static[key] = np.asarray(value)
        for table, columns in tables.items():
            n = len(next(iter(columns.values())))
            log._tables[table] = {c: [v[i] for i in range(n)] for c, v in columns.items()}
        return log
