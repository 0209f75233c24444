"""ipcore: intrinsic plasticity in single neurons and deep tanh networks — the engine (no UI imports)."""

import os

# OpenMP's default busy-wait makes an idle torch thread spin: on a small shared machine that slowed training
# steps 10–25× (see bench/bench_train.py). Passive waiting costs nothing measurable. Only effective when ipcore is
# imported before torch; a user's explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
