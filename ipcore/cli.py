"""Command line: ``python -m ipcore {neuron,train,runs,gallery} ...``.

Every subcommand validates through the config dataclasses; a bad value exits with status 2 and the message
naming the field, never a traceback. Progress goes to stderr; ``--json`` prints exactly one JSON object on
stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ipcore.config import ConfigError


class ProgressBar:
    """A one-line progress bar on stderr (redrawn at most ~10×/s): fraction, elapsed, ETA and a note."""

    def __init__(self, label: str, stream: Any = None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self.note = ""

    def __call__(self, fraction: float) -> None:
        now = time.perf_counter()
        if fraction < 1.0 and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = now - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else math.nan
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        eta_text = f"{eta:5.0f}s" if math.isfinite(eta) else "    ?"
        note = f" {self.note}" if self.note else ""
        self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {elapsed:5.0f}s ETA {eta_text}{note}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def parse_eta(text: str, field: str = "eta") -> dict[str, float]:
    """``"ip=1e-3,wd=0.1"`` → ``{"ip": 0.001, "wd": 0.1}``; malformed text is a ConfigError on ``field``."""
    etas: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        rule, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(field, f"expected rule=value pairs separated by commas (got {part!r})")
        try:
            etas[rule.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{field}.{rule.strip()}", f"must be a number (got {value!r})") from None
    return etas


def parse_rules(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def emit_json(obj: Any) -> None:
    """Exactly one JSON object on stdout (NaN/inf become null, so any JSON parser reads it)."""
    sys.stdout.write(json.dumps(_json_safe(obj)) + "\n")
    sys.stdout.flush()


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


AddArguments = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: list[tuple[str, str, AddArguments]] = []


def subcommand(name: str, help_text: str) -> Callable[[AddArguments], AddArguments]:
    """Register a subcommand: the decorated ``add(parser)`` adds its flags and returns its ``run(args)``."""

    def register(add: AddArguments) -> AddArguments:
        SUBCOMMANDS.append((name, help_text, add))
        return add

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ipcore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        run = add(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130


# ======================================================================================================
# neuron  (single-neuron simulator)
# ======================================================================================================


# ======================================================================================================
# train  (networks)
# ======================================================================================================


# ======================================================================================================
# runs  (stored run records)
# ======================================================================================================


# ======================================================================================================
# gallery  (the thesis's experiments)
# ======================================================================================================
