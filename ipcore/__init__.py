"""ipcore: intrinsic plasticity in single neurons and deep tanh networks — the engine (no UI imports)."""

__version__ = "0.1.0"
