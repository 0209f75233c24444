"""Plain JSON values from what runs produce (numpy arrays and scalars, non-finite floats, tuples): the one
conversion that records, the CLI's ``--json``, sweeps and the app's downloads share. Depends on numpy only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_ready(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays → Python, non-finite floats → None, tuples → lists."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        return json_ready(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)
