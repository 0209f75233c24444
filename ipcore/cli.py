"""ipcore from the command line: the single neuron, network training, stored runs and the thesis gallery.

Usage: ``python -m ipcore {neuron,train,sweep,runs,gallery,rules} ...``. The flags of ``neuron``, ``train`` and
``sweep`` are generated from the config declarations (``ipcore.config``): one flag per field, its help, range and
default from the field's ``FieldSpec``.

Every subcommand validates through the config dataclasses; a bad value exits with status 2 and the message
naming the field, never a traceback. Progress goes to stderr; ``--json`` prints exactly one JSON object on
stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import threading
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ipcore.config import (
    Config,
    ConfigError,
    IpcoreWarning,
    NeuronConfig,
    SweepConfig,
    TrainConfig,
    field_spec,
    field_type,
    parse_pairs,
    parse_value_lists,
)
from ipcore.results.health import no_healthy_text
from ipcore.results.records import json_ready

RUNS_PAGE = 20  # `runs list` shows this many runs per page
HEALTH_KEYS = ("collapsed", "collapsed_seeds", "diverged", "diverged_seeds")  # `runs show`: from the metrics


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


def parse_rules(text: str) -> list[str]:
    return [r.strip() for r in text.split(",") if r.strip()]


def emit_json(obj: Any) -> None:
    """Exactly one JSON object on stdout (NaN/inf become null, so any JSON parser reads it)."""
    sys.stdout.write(json.dumps(json_ready(obj)) + "\n")
    sys.stdout.flush()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_help(cls: type[Config], f: dataclasses.Field) -> str:
    """The flag's help from the field's declaration: what it is, the allowed range, the default."""
    spec = field_spec(cls, f.name)
    allowed = spec.range_text()
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    text = spec.help + (f"; {allowed}" if allowed and allowed not in spec.help else "")
    shown = _default_text(default) if default not in ("", {}, []) else ""
    return text + (f" (default {shown})" if shown and "(default" not in spec.help else "")


def add_config_flags(p: argparse.ArgumentParser, cls: type[Config]) -> None:
    """One flag per field of ``cls`` (``--eta-decay`` for ``eta_decay``), its help from the field's declaration.
    Values stay text: the config converts and validates them, so every error names its field."""
    for f in dataclasses.fields(cls):
        kind = field_type(cls, f.name)
        repeated = typing.get_origin(kind) is dict  # --eta ip=… --eta wd=…: every occurrence counts
        p.add_argument(_flag(f.name), action="append" if repeated else "store", help=_flag_help(cls, f))


def config_from_args(cls: type[Config], args: argparse.Namespace) -> Any:
    """The validated config for the flags given (``add_config_flags``); the others keep the config's defaults.
    Mappings are ``key=value`` pairs (η per rule) or ``key=v1,v2`` lists (a sweep's η values); their flag may be
    repeated, and every occurrence counts: a sweep's lists of one key are joined, and a key given two different
    single values is a ConfigError on ``field.key`` (never a silent choice of the last)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        text = getattr(args, f.name, None)
        if text is None:
            continue
        kind = field_type(cls, f.name)
        if typing.get_origin(kind) is dict:
            if typing.get_origin(typing.get_args(kind)[1]) is list:
                merged: dict[str, list[float]] = {}
                for part in text:
                    for key, numbers in parse_value_lists(part, f.name).items():
                        merged[key] = list(dict.fromkeys([*merged.get(key, []), *numbers]))
                text = merged
            else:
                pairs: dict[str, float] = {}
                for part in text:
                    for key, number in parse_pairs(part, f.name, field_spec(cls, f.name).key_name).items():
                        if key in pairs and pairs[key] != number:
                            raise ConfigError(
                                f"{f.name}.{key}", f"given twice with different values ({pairs[key]:g} and {number:g})"
                            )
                        pairs[key] = number
                text = pairs
        values[f.name] = text
    return cls.from_dict(values)


AddArguments = Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: list[tuple[str, str, AddArguments]] = []


def subcommand(name: str, help_text: str) -> Callable[[AddArguments], AddArguments]:
    """Register a subcommand: the decorated ``add(parser)`` adds its flags and returns its ``run(args)``."""

    def register(add: AddArguments) -> AddArguments:
        SUBCOMMANDS.append((name, help_text, add))
        return add

    return register


def build_parser() -> argparse.ArgumentParser:
    prog = "ipcore" if Path(sys.argv[0]).name == "ipcore" else "python -m ipcore"  # the console script, or -m
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        run = add(p)
        p.add_argument(
            "--rules-module",
            action="append",
            default=[],
            metavar="PATH",
            help="a Python file that registers rules of your own (ipcore.register_rule); repeatable. "
            "$IPCORE_RULE_MODULES (paths joined by ':') is loaded too",
        )
        p.set_defaults(run=run)
    return parser


def load_rule_modules(paths: Sequence[str]) -> None:
    """Load ``$IPCORE_RULE_MODULES`` and the ``--rules-module`` files before any config is validated (a bad
    file is a ``RuleError``, a ``ConfigError``: exit status 2 and the file named). Torch is imported only when
    there is a file to load."""
    from ipcore.specs.rules import env_rule_modules

    todo = list(dict.fromkeys([*env_rule_modules(), *paths]))
    if todo:
        from ipcore.engine.custom_rules import load_rule_modules as load

        load(todo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores the previous showwarning afterwards
            show_other = warnings.showwarning

            def show(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
                if issubclass(category, IpcoreWarning):  # ours: a plain line, like the errors
                    sys.stderr.write(f"warning: {message}\n")
                else:
                    show_other(message, category, *rest, **kw)

            warnings.showwarning = show
            load_rule_modules(getattr(args, "rules_module", []))
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


@subcommand("neuron", "A single tanh neuron: intrinsic rules drive its output toward uniform (thesis §5.2).")
def _add_neuron(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    add_config_flags(p, NeuronConfig)
    p.add_argument("--json", action="store_true", help="print one JSON object with the final values on stdout")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr, nor the warning for a run too short to act"
    )
    add_save_arguments(p)
    return _run_neuron


def warn_if_too_short(config: NeuronConfig | TrainConfig) -> None:
    """Before a run: ``warning: …`` on stderr for each rule too short-lived here to act (``ipcore.specs.reach``, the
    app's notice beside its Train button), so a run that will look like ``none`` is not taken as IP's verdict."""
    from ipcore.specs.reach import too_short

    for note in too_short(config):
        sys.stderr.write(f"warning: {note}\n")


def neuron_config_from_args(args: argparse.Namespace) -> NeuronConfig:
    """The validated NeuronConfig for the flags given; the others keep the config's defaults."""
    return config_from_args(NeuronConfig, args)


def _run_neuron(args: argparse.Namespace) -> int:
    from ipcore.training.neuron import simulate

    config = neuron_config_from_args(args)
    if not args.quiet:
        warn_if_too_short(config)
    # Ctrl-C or SIGTERM ends the run early but keeps (prints and saves) what was computed so far.
    with StopOnSignals() as signals:
        bar = None if args.quiet else ProgressBar(f"neuron {len(config.rules)} rules × {config.iters} iterations")
        result = simulate(config, progress=bar, should_stop=signals.stop.is_set)
    if result.state == "cancelled" and bar is not None:
        sys.stderr.write("\n")
    summary = {**result.summary, "state": result.state, "config": config.to_dict()}
    run_id, save_error = save_if_requested(args, result)
    if run_id:
        summary["run_id"] = run_id
    if save_error:
        summary["save_error"] = save_error
    if args.json:
        emit_json(summary)
    else:
        print(_neuron_table(summary))
    sys.stdout.flush()
    if save_error:
        return report_save_error(save_error)
    return (signals.code or 130) if result.state == "cancelled" else 0


def _neuron_table(summary: dict[str, Any]) -> str:
    """The final values as a readable table (what ``--json`` prints, for people)."""
    config, sample = summary["config"], summary["sample"]

    def number(value: float | None, spec: str = ".4g") -> str:
        return "nan" if value is None else format(value, spec)

    cancelled = " (cancelled)" if summary["state"] == "cancelled" else ""
    lines = [
        f"sample: {config['dist']}, n = {sample['n']}, median {sample['median']:.4g}, mean {sample['mean']:.4g}",
        f"{summary['iters']} iterations in {summary['seconds']:.2f} s{cancelled}",
        "",
        f"{'rule':10s} {'η':>8s} {'α':>9s} {'β':>9s} {'E[y]':>9s} {'entropy':>8s} {'α ≤ 0':>6s}",
    ]
    for entry in summary["rules"]:
        eta = f"{entry['eta']:g}" if entry["eta"] else "—"
        lines.append(
            f"{entry['rule']:10s} {eta:>8s} {number(entry['alpha']):>9s} {number(entry['beta']):>9s} "
            f"{number(entry['mean_y'], '.4f'):>9s} {number(entry['entropy'], '.4f'):>8s} "
            f"{entry['alpha_nonpositive']:>6d}" + ("  α or β not finite" if entry.get("nonfinite") else "")
        )
    maximum = "log 2" if config.get("activation", "tanh") == "tanh" else "log 1"
    lines.append(
        f"entropy in nats from a 100-bin histogram of y on [−1, 1]; the maximum, {maximum} = "
        f"{summary['rules'][0]['entropy_max']:.4f}, is a uniform output"
    )
    return "\n".join(lines)


# ======================================================================================================
# train  (networks)
# ======================================================================================================


@subcommand("train", "Train tanh MLPs with intrinsic rules; every rule × seed in lockstep (thesis §3.2–3.3, ch. 4).")
def _add_train(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    add_config_flags(p, TrainConfig)
    p.add_argument("--list-datasets", action="store_true", help="show which datasets are available and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr, nor the warning for a run too short to act"
    )
    add_save_arguments(p)
    return _run_train


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

    from ipcore.data import available_datasets
    from ipcore.results.metrics_log import MetricsLog
    from ipcore.training.loop import train

    if args.list_datasets:
        listing = available_datasets(args.data_root)
        if args.json:
            emit_json({"datasets": listing})
        else:
            for item in listing:
                where = item["location"] or ("—" if item["available"] else f"missing: {item['how']}")
                print(
                    f"{item['name']:17s} {'yes' if item['available'] else 'no ':3s}  {item['description']}\n"
                    f"{'':22s}{where}"
                )
        return 0
    config = config_from_args(TrainConfig, args)
    if not args.quiet:
        warn_if_too_short(config)

    class TrainingLog(MetricsLog):
        """Remembers the latest loss row and the run's sizes, so the bar can show them cheaply."""

        latest: dict[str, Any] | None = None
        sizes: dict[str, Any] = {}

        def append(self, table: str, **row: Any) -> None:
            super().append(table, **row)
            if table == "batch":
                self.latest = row

        def set_static(self, **arrays: Any) -> None:
            super().set_static(**arrays)
            self.sizes = {**self.sizes, **arrays}

    log = TrainingLog()
    bar = ProgressBar("train")
    first: list[float] = []

    def progress(fraction: float) -> None:
        if args.quiet:
            return
        now = time.perf_counter()
        if not first:
            first.extend([now, fraction])
        sizes = log.sizes
        if "total_steps" in sizes:
            members = len(sizes["members_rule"])
            per_step = int(sizes["batch_size"]) * members
            steps = fraction * int(sizes["total_steps"])
            epoch = min(config.epochs, int(steps // int(sizes["steps_per_epoch"])) + 1)
            rate = (fraction - first[1]) * int(sizes["total_steps"]) * per_step / max(now - first[0], 1e-9)
            note = f"epoch {epoch}/{config.epochs}"
            if log.latest is not None:
                losses = np.asarray(log.latest["loss"], dtype=np.float64)
                finite = losses[np.isfinite(losses)]
                note += f"  loss {finite.mean():.4f}" if finite.size else "  loss nan"
            if rate > 0:
                note += f"  {rate:,.0f} samples/s"
            bar.note = note
        bar(fraction)

    # Ctrl-C or SIGTERM ends the run early but keeps (prints and saves, as cancelled) what was recorded so far.
    with StopOnSignals() as signals:
        result = train(config, progress=progress, should_stop=signals.stop.is_set, log=log)
    code = (signals.code or 130) if result.state == "cancelled" else 0
    if result.state == "cancelled":
        sys.stderr.write("\ninterrupted: the results cover the steps done so far\n")
    run_id, save_error = save_if_requested(args, result)
    if save_error:
        code = SAVE_FAILED
    if args.json:
        extra = {"run_id": run_id} if run_id else {"save_error": save_error} if save_error else {}
        emit_json({**result.summary, **extra})
        if save_error:
            report_save_error(save_error)
        return code
    summary = result.summary
    print(f"{summary['dataset']} on {summary['device']}: {summary['steps']} steps, {summary['seconds']:.1f} s")
    print(f"{'rule':10s} {'train loss':>10s} {'test acc':>9s} {'diverged':>9s} {'collapsed':>9s}  mean ∂y/∂u per layer")
    for entry in summary["rules"]:

        def number(value: float | None, digits: int) -> str:
            return "—" if value is None else f"{value:.{digits}f}"

        grads = " ".join(number(g, 3) for g in entry["grad_y_u"] or [])
        print(
            f"{entry['rule']:10s} {number(entry['final_train_loss'], 4):>10s} "
            f"{number(entry['test_accuracy'], 4):>9s} {entry['diverged']:>4d}/{config.seeds:<4d} "
            f"{entry['collapsed']:>4d}/{config.seeds:<4d}  {grads}"
        )
    sys.stdout.flush()
    if save_error:
        report_save_error(save_error)
    return code


# ======================================================================================================
# runs  (stored run records)
# ======================================================================================================


def _run_name(text: str) -> str:
    """argparse type of ``--name``: checked before the run starts, so a bad name never wastes a run."""
    from ipcore.results.records import check_name

    try:
        return check_name(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_save_arguments(p: argparse.ArgumentParser) -> None:
    """``--save``, ``--name`` and ``--runs-dir`` for a subcommand that produces a run (neuron, train)."""
    p.add_argument("--save", action="store_true", help="store the run as a record (see `runs list`)")
    p.add_argument("--name", type=_run_name, default=None, help="a name for the stored run (implies --save)")
    p.add_argument(
        "--runs-dir", default=None, help="records folder (default $IPCORE_RUNS_DIR, else ~/.local/share/ipcore/runs)"
    )


SAVE_FAILED = 1
"""Exit status of ``neuron``/``train`` when ``--save`` was asked for but the record could not be written (the
results are still printed first; stderr says why). It takes precedence over the 130/143 of an interrupted run."""


def save_if_requested(args: argparse.Namespace, result: Any) -> tuple[str | None, str | None]:
    """Store ``result`` when ``--save`` or ``--name`` was given: ``(run_id, None)`` (reported on stderr), or
    ``(None, why)`` when the record could not be written — the caller still prints the results, then
    ``report_save_error``. ``(None, None)`` when nothing was asked for."""
    if not (getattr(args, "save", False) or getattr(args, "name", None)):
        return None, None
    from ipcore.results.records import default_runs_dir, save_run

    runs_dir = args.runs_dir or default_runs_dir()
    try:
        run_id = save_run(runs_dir, result, name=args.name)
    except Exception as error:  # an unwritable folder, a full disk …: the results must still be printed
        why = f"{type(error).__name__}: {error}" if isinstance(error, OSError) else str(error) or type(error).__name__
        return None, f"the run's record could not be saved in {runs_dir}: {why}"
    sys.stderr.write(f"saved run {run_id} ({result.state}) in {runs_dir}\n")
    return run_id, None


def report_save_error(save_error: str) -> int:
    """Say on stderr that the record was not saved (after the results were printed); returns SAVE_FAILED."""
    sys.stderr.write(f"error: save: {save_error}; only the results printed above are kept\n")
    return SAVE_FAILED


class StopOnSignals:
    """While active, Ctrl-C (SIGINT) and SIGTERM (a time limit, a killed batch job) set ``stop`` instead of
    killing the process, so the run ends early and keeps — prints and saves as cancelled — what it recorded.
    ``code`` is then the conventional 128 + signal number (130, 143)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.code = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.code = self.code or 128 + signum
        self.stop.set()

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def _record_health(runs_dir: Path, entry: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """``ipcore.results.health.rule_health`` of a network record's metrics (None: not a network run, or unreadable)."""
    from ipcore.results.health import rule_health
    from ipcore.results.records import CorruptRecord, read_metrics

    if entry.get("kind") != "train":
        return None
    try:
        return rule_health(read_metrics(runs_dir / entry["run_id"]), (entry.get("config") or {}).get("dataset"))
    except (CorruptRecord, KeyError, ValueError, OSError):
        return None


def _headline(summary: dict[str, Any], health: dict[str, dict[str, Any]] | None = None) -> str:
    """One line of final numbers per run: test accuracy (networks) or output entropy (single neuron), and how
    many seeds collapsed or diverged (``health``: ``ipcore.results.health.rule_health``, else the summary's counts)."""
    parts = []
    for rule in summary.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        if isinstance(rule.get("test_accuracy"), (int, float)):
            value = f"{100 * rule['test_accuracy']:.1f}%"
        elif isinstance(rule.get("entropy"), (int, float)):
            value = f"H={rule['entropy']:.3f}"
        else:
            value = "—"
        counts = (health or {}).get(rule.get("rule")) or rule
        flags = [f"{counts.get('collapsed')} collapsed" if isinstance(counts.get("collapsed"), int) and counts.get("collapsed") else "",
                 f"{counts.get('diverged')} diverged" if isinstance(counts.get("diverged"), int) and counts.get("diverged") else "",
                 "diverged" if rule.get("nonfinite") else ""]  # fmt: skip
        flag = "".join(f" ({f})" for f in flags if f)
        parts.append(f"{rule.get('rule', '?')} {value}{flag}")
    return ", ".join(parts)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "—"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _print_table(rows: list[dict[str, Any]]) -> None:
    columns = [c for c in dict.fromkeys(k for row in rows for k in row) if c != "entropy_max"]
    cells = [[_format_value(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


@subcommand("runs", "List, show and delete stored run records (gallery and your own).")
def _add_runs(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    actions = p.add_subparsers(dest="runs_command", required=True)
    listing = actions.add_parser("list", help="stored runs, newest first (unreadable records are skipped)")
    listing.add_argument("--kind", default="", help="only this kind (neuron, train)")
    listing.add_argument("--gallery", action="store_true", help="only gallery records")
    listing.add_argument("--mine", action="store_true", help="only your own runs (not gallery)")
    listing.add_argument("--limit", type=int, default=RUNS_PAGE,
                         help=f"runs per page (default {RUNS_PAGE}; 0: every run on one page)")  # fmt: skip
    listing.add_argument("--page", type=int, default=1, help="which page of --limit runs, newest first (default 1)")
    show = actions.add_parser("show", help="one run: config, summary, final numbers, metric names and shapes")
    show.add_argument("run_id")
    delete = actions.add_parser("delete", help="delete stored runs")
    delete.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    for action in (listing, show, delete):
        action.add_argument(
            "--runs-dir",
            default=None,
            help="records folder (default $IPCORE_RUNS_DIR, else ~/.local/share/ipcore/runs)",
        )
    for action in (listing, show):
        action.add_argument("--json", action="store_true", help="print one JSON object")
    return _run_runs


def _run_runs(args: argparse.Namespace) -> int:
    from ipcore.results import records

    runs_dir = args.runs_dir or records.default_runs_dir()
    try:
        if args.runs_command == "list":
            return _runs_list(args, runs_dir)
        if args.runs_command == "show":
            return _runs_show(args, runs_dir)
        return _runs_delete(args, runs_dir)
    except records.RunNotFound as error:  # a run id that names no record is a bad argument, like a bad value
        sys.stderr.write(f"error: {error}\n")
        return 2
    except records.CorruptRecord as error:
        sys.stderr.write(f"error: {error}\n")
        return 1


def _runs_delete(args: argparse.Namespace, runs_dir: Any) -> int:
    """Delete every run named that exists; each missing one is an error line. Exit status 2 if any was missing
    (or not a valid id), else 0: one bad id never stops the others from being deleted."""
    from ipcore.results import records

    missing = 0
    for run_id in dict.fromkeys(args.run_ids):
        try:
            records.delete_run(runs_dir, run_id)
            sys.stderr.write(f"deleted {run_id}\n")
        except (records.RunNotFound, ConfigError) as error:
            sys.stderr.write(f"error: {error}\n")
            missing += 1
    return 2 if missing else 0


def _runs_list(args: argparse.Namespace, runs_dir: Any) -> int:
    from ipcore.results.records import list_runs

    entries = list_runs(runs_dir)
    if args.kind:
        entries = [e for e in entries if e["kind"] == args.kind]
    if args.gallery:
        entries = [e for e in entries if e["run_id"].startswith("gallery-")]
    if args.mine:
        entries = [e for e in entries if not e["run_id"].startswith("gallery-")]
    if args.limit < 0 or args.page < 1:
        sys.stderr.write("error: --limit must be ≥ 0 (0: all) and --page ≥ 1\n")
        return 2
    total = len(entries)
    if args.limit > 0:
        pages = max(1, -(-total // args.limit))
        if args.page > pages:
            sys.stderr.write(f"error: --page {args.page} is past the last page ({pages} of {args.limit} runs)\n")
            return 2
        first = (args.page - 1) * args.limit
        entries = entries[first : first + args.limit]
    if args.json:
        emit_json({"runs_dir": str(runs_dir), "runs": entries, "total": total})
        return 0
    if not entries:
        sys.stderr.write(f"no runs in {runs_dir}\n")
        return 0
    for entry in entries:  # the health of old records, whose summaries predate "collapsed", from their metrics
        entry["health"] = _record_health(Path(runs_dir), entry)
    width = max(len(e["run_id"]) for e in entries)
    print(f"{'RUN ID'.ljust(width)}  {'KIND':6s}  {'STATE':9s}  {'ENDED':19s}  {'SECONDS':>8s}  RESULT")
    for e in entries:
        ended = str(e.get("ended") or "")[:19].replace("T", " ")
        name = f"  [{e['name']}]" if e.get("name") else ""
        print(
            f"{e['run_id'].ljust(width)}  {e['kind']:6s}  {e['state']:9s}  {ended:19s}  "
            f"{e.get('seconds', 0):8.1f}  {_headline(e['summary'], e.get('health'))}{name}"
        )
    if len(entries) < total:
        first = (args.page - 1) * args.limit
        more = f"--page {args.page + 1} for the next, " if first + len(entries) < total else ""
        sys.stderr.write(f"runs {first + 1}-{first + len(entries)} of {total}, newest first; {more}--limit 0 for all\n")
    return 0


def _runs_show(args: argparse.Namespace, runs_dir: Any) -> int:
    from ipcore.results.records import load_run

    record = load_run(runs_dir, args.run_id)
    shapes = {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in record.metrics.items()}
    meta = {k: v for k, v in record.meta.items() if k not in ("summary", "metrics_index")}
    health = None
    if record.config.kind == "train":
        from ipcore.results.health import rule_health

        health = rule_health(record.metrics, record.config.dataset)
    if args.json:
        emit_json(
            {"run_id": record.run_id, "meta": meta, "config": record.config.to_dict(), "summary": record.summary}
            | {"health": health, "metrics": shapes}
        )
        return 0
    m = record.meta
    title = f"run {record.run_id}  ({m['kind']}, {m['state']})"
    print(title + (f"  name: {m['name']}" if m.get("name") else ""))
    if m.get("experiment"):
        from ipcore.results.records import record_origin

        if record_origin(m) == "sweep":
            print(f"sweep {m['experiment']}, grid point {m.get('part')}")
        else:
            print(f"gallery experiment {m['experiment']}, part {m.get('part')}")
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    print(f"ran {m.get('started')} → {m.get('ended')} ({m.get('seconds', 0):.1f} s) on {m.get('device')}; {versions}")
    if m.get("error"):
        print(f"error: {m['error']}")
    print("config:")
    for key, value in record.config.to_dict().items():
        print(f"  {key} = {_format_value(value)}")
    rules = [r for r in record.summary.get("rules") or [] if isinstance(r, dict)]
    if health:
        rules = [
            r | {k: health[r.get("rule")][k] for k in HEALTH_KEYS} if r.get("rule") in health else r for r in rules
        ]
        print("health (ipcore.results.health: collapsed = at chance level at the last epoch):")
        for rule, counts in health.items():
            seeds = (
                f" (seed{'s' if len(counts['collapsed_seeds']) > 1 else ''} {', '.join(map(str, counts['collapsed_seeds']))})"
                if counts["collapsed_seeds"]
                else ""
            )
            print(f"  {rule}: {counts['healthy']} of {counts['seeds']} seeds healthy; {counts['collapsed']} collapsed"
                  f"{seeds}, {counts['diverged']} diverged")  # fmt: skip
    if rules:
        print("final numbers:")
        _print_table(rules)
    others = {k: v for k, v in record.summary.items() if k not in ("rules", "config")}
    for key, value in others.items():
        print(f"{key}: {_format_value(value)}")
    print(f"metrics ({m.get('metrics_bytes', 0) / 1024:.1f} KiB compressed):")
    width = max((len(n) for n in shapes), default=0)
    shape_width = max((len(str(tuple(i["shape"]))) for i in shapes.values()), default=0)
    for name, info in shapes.items():
        print(f"  {name.ljust(width)}  {str(tuple(info['shape'])).ljust(shape_width)}  {record.metrics[name].dtype}")
    return 0


# ======================================================================================================
# rules  (the registry)
# ======================================================================================================


@subcommand("rules", "List the intrinsic rules: name, title, default η (network / single neuron), options, source.")
def _add_rules(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return _run_rules


def _run_rules(args: argparse.Namespace) -> int:
    from ipcore.engine.rules import RULES

    listing = [
        {
            "name": name,
            "title": cls.title,
            "eta_network": cls.spec.default_eta_network,
            "eta_neuron": cls.spec.default_eta_neuron,
            "weighted_decay": cls.spec.weighted_decay,
            "options": dict(cls.spec.options),
            "source": cls.source,
            "equation": cls.equation,
        }
        for name, cls in RULES.items()
    ]
    if args.json:
        emit_json({"rules": listing})
        return 0
    width = max(len(r["name"]) for r in listing)
    for rule in listing:
        eta = "—" if rule["eta_network"] is None else f"{rule['eta_network']:g} / {rule['eta_neuron']:g}"
        options = ", ".join(f"--{field.replace('_', '-')}" for field in rule["options"].values())
        print(
            f"{rule['name'].ljust(width)}  η {eta:15s} {rule['title']}" + (f"  [options: {options}]" if options else "")
        )
        print(f"{'':{width}}  {rule['source']}")
    return 0


# ======================================================================================================
# gallery  (the thesis's experiments)
# ======================================================================================================


@subcommand("gallery", "Re-run the thesis's experiments into run records (skips finished parts; resumable).")
def _add_gallery(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    p.add_argument("--list", action="store_true", help="list the entries and how many parts are computed")
    p.add_argument("--list-parts", action="store_true", help="print 'ID PART' for every part still to compute")
    p.add_argument("--only", default="", help="entry ids, comma-separated (default: all)")
    p.add_argument("--part", default="", help="compute only this part of the entry")
    p.add_argument("--seeds", type=int, default=None, help="override the number of seeds (networks)")
    p.add_argument("--epochs", type=int, default=None, help="override the epochs (quick looks)")
    p.add_argument("--subset", type=int, default=None, help="train on the first N samples (quick looks)")
    p.add_argument("--iters", type=int, default=None, help="override single-neuron iterations (quick looks)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N")
    p.add_argument("--data-root", default=None, help="dataset folder (default $IPCORE_DATA, else ~/.cache/ipcore)")
    p.add_argument(
        "--runs-dir",
        default=None,
        help="the gallery's records folder (default $IPCORE_GALLERY_DIR, else the checkout's cached_runs/, else "
        "$IPCORE_RUNS_DIR or ~/.local/share/ipcore/runs)",
    )
    p.add_argument("--force", action="store_true", help="recompute parts that are already done")
    p.add_argument(
        "--report",
        default="",
        metavar="PATH",
        help="only rewrite the generated tables in PATH (REPRODUCTION.md, docs/beyond.md)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with what was done")
    p.add_argument(
        "--backend", choices=("local", "ray"), default="local", help="local (default) or ray: each part a task"
    )
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default $RAY_ADDRESS, else a local Ray)")
    return _run_gallery


def _run_gallery(args: argparse.Namespace) -> int:
    from ipcore.gallery import entries as gallery
    from ipcore.locations import gallery_dir
    from ipcore.results.records import copy_run, save_run
    from ipcore.training.runner import run_config

    runs_dir = args.runs_dir or gallery_dir()
    try:
        entries = [gallery.get_entry(e) for e in parse_rules(args.only)] if args.only else gallery.ENTRIES
    except KeyError as error:
        raise ConfigError("only", str(error.args[0])) from None
    if args.part and len(entries) != 1:
        raise ConfigError("part", "give exactly one entry with --only when choosing a part")
    if args.part and args.part not in entries[0].parts:
        raise ConfigError("part", f"unknown part {args.part!r}; parts: {', '.join(entries[0].parts)}")

    if args.report:
        gallery.write_report(str(runs_dir), args.report)
        sys.stderr.write(f"wrote the tables generated from {runs_dir} into {args.report}\n")
        return 0
    if args.list:
        listing = []
        for entry in entries:
            done, stale = gallery.done_parts(runs_dir, entry), gallery.stale_parts(runs_dir, entry)
            listing.append({"id": entry.id, "title": entry.title, "parts": len(entry.parts), "done": len(done),
                            "stale": sorted(stale)})  # fmt: skip
            if not args.json:
                note = f"  ({len(stale)} stale: {', '.join(sorted(stale))})" if stale else ""
                print(f"{entry.id:13s} {len(done):2d}/{len(entry.parts):<2d} parts  {entry.title}{note}")
        if args.json:
            emit_json({"runs_dir": str(runs_dir), "entries": listing})
        return 0

    overrides = {
        "seeds": args.seeds,
        "epochs": args.epochs,
        "subset": args.subset,
        "iters": args.iters,
        "device": args.device,
        "data_root": args.data_root,
    }
    todo = []
    for entry in entries:
        done = set() if args.force else gallery.done_parts(runs_dir, entry, **overrides)
        stale = set() if args.force else gallery.stale_parts(runs_dir, entry, **overrides)
        for part in [args.part] if args.part else list(entry.parts):
            if part not in done:
                todo.append((entry, part, entry.config(part, **overrides)))  # validates before anything runs
            if part in stale:  # re-declared since it was computed: its record is replaced
                sys.stderr.write(f"{entry.id} {part}: its record holds another config than declared; computing anew\n")
    if args.list_parts:  # longest first, so parallel workers finish together
        for entry, part, _ in sorted(todo, key=lambda t: -gallery.estimated_cost(t[2])):
            print(f"{entry.id} {part}")
        return 0

    # Ctrl-C or SIGTERM (a time limit, a killed batch job) stops the current part cleanly: it is saved as
    # cancelled, with everything recorded so far, and recomputed on the next resume (on Ray: the tasks are
    # cancelled and what finished is kept). The exit status is then 128 + the signal's number.
    computed = []

    def copy_if_equal(entry: Any, part: str, config: Any) -> bool:
        """Store the part as a copy of a finished record with this very config, if there is one (one computation,
        two records; ``--force`` computes anew)."""
        source = None if args.force else gallery.equal_record(str(runs_dir), config)
        if source is None:
            return False
        run_id = copy_run(runs_dir, source, run_id=entry.run_id(part), experiment=entry.id, part=part)
        sys.stderr.write(f"{entry.id} {part}: copied from {source} (equal config)\n")
        computed.append({"id": entry.id, "part": part, "run_id": run_id, "state": "done", "copied_from": source})
        return True

    with StopOnSignals() as signals:
        if args.backend == "ray" and todo:  # every part one Ray task; the records are written here as they arrive
            from ipcore.training.sweep_ray import run_configs

            todo = [item for item in todo if not copy_if_equal(*item)]

            def save_part(index: int, result: Any, extra: dict[str, Any]) -> None:
                entry, part, _ = todo[index]
                run_id = save_run(
                    runs_dir, result, experiment=entry.id, part=part, run_id=entry.run_id(part), extra=extra
                )
                computed.append({"id": entry.id, "part": part, "run_id": run_id, "state": result.state})
                sys.stderr.write(f"[{len(computed)}/{len(todo)}] {entry.id} {part}: {result.state}\n")

            jobs = [(index, config) for index, (_, _, config) in enumerate(todo)]
            stopped, errors = run_configs(jobs, save_part, args.ray_address, should_stop=signals.stop.is_set)
            for message in errors:
                sys.stderr.write(f"error: {message}\n")
            if args.json:
                emit_json({"runs_dir": str(runs_dir), "computed": computed, "errors": errors})
            return (signals.code or 130) if stopped else (1 if errors else 0)
        for index, (entry, part, config) in enumerate(todo, 1):
            if signals.stop.is_set():
                break
            if copy_if_equal(entry, part, config):  # checked here, so a part equal to one computed above is copied
                continue
            bar = ProgressBar(f"[{index}/{len(todo)}] {entry.id} {part}")
            result = run_config(config, progress=bar, should_stop=signals.stop.is_set)
            run_id = save_run(runs_dir, result, experiment=entry.id, part=part, run_id=entry.run_id(part))
            computed.append({"id": entry.id, "part": part, "run_id": run_id, "state": result.state})
    if args.json:
        emit_json({"runs_dir": str(runs_dir), "computed": computed})
    elif not computed:
        sys.stderr.write("nothing to compute: every selected part is done (use --force to recompute)\n")
    return signals.code


# ======================================================================================================
# sweep  (a grid of trainings, as one model per architecture, locally or on Ray)
# ======================================================================================================


@subcommand("sweep", "A grid of learning rates × η trained as one lockstep model, on this machine or on Ray.")
def _add_sweep(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    add_config_flags(p, SweepConfig)
    p.add_argument("--backend", choices=("local", "ray"), default="local", help="local (default) or ray")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default $RAY_ADDRESS, else a local Ray)")
    p.add_argument(
        "--data-from",
        choices=("driver", "node"),
        default="driver",
        help="ray: ship the data from here through the object store (driver) or load it on each node (node)",
    )
    p.add_argument("--points-per-part", type=int, default=0, help="grid points per model (0 = automatic)")
    p.add_argument("--name", type=_run_name, default=None, help="the sweep's name (a re-run with it resumes)")
    p.add_argument(
        "--runs-dir", default=None, help="records folder (default $IPCORE_RUNS_DIR, else ~/.local/share/ipcore/runs)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with every grid point's results")
    return _run_sweep


def sweep_config_from_args(args: argparse.Namespace) -> SweepConfig:
    return config_from_args(SweepConfig, args)


def _run_sweep(args: argparse.Namespace) -> int:
    from ipcore.results.records import default_runs_dir
    from ipcore.specs.reach import too_short
    from ipcore.training.sweep import default_sweep_name, members, run_sweep

    sweep = sweep_config_from_args(args)
    if args.points_per_part < 0:
        raise ConfigError("points_per_part", f"must be ≥ 0 (got {args.points_per_part})")
    name = args.name or default_sweep_name(sweep)
    runs_dir = args.runs_dir or default_runs_dir()
    points = len(sweep.points())
    notes = dict.fromkeys(note for lr, eta in sweep.points() for note in too_short(sweep.point_config(lr, eta)))
    for note in notes:  # each (rule, η) too short to act, once
        sys.stderr.write(f"warning: {note}\n")
    sys.stderr.write(
        f"sweep {name}: {points} grid points × {len(sweep.rules)} rules × {sweep.seeds} seeds = {members(sweep)} "
        f"networks, backend {args.backend}, records in {runs_dir}\n"
    )
    bar = ProgressBar("sweep")
    with StopOnSignals() as signals:  # Ctrl-C or SIGTERM: stop cleanly, keep the finished points
        outcome = run_sweep(
            sweep,
            name=name,
            runs_dir=runs_dir,
            backend=args.backend,
            ray_address=args.ray_address,
            points_per_part=args.points_per_part,
            progress=bar,
            should_stop=signals.stop.is_set,
            data_source=args.data_from,
        )
    for message in outcome.errors:
        sys.stderr.write(f"error: {message}\n")
    code = (signals.code or 130) if outcome.interrupted else (1 if outcome.errors else 0)
    if outcome.interrupted:
        sys.stderr.write("\ninterrupted: finished grid points are kept; re-run with the same --name to resume\n")
    if outcome.save_errors and not outcome.interrupted:
        code = SAVE_FAILED
    if args.json:
        emit_json(outcome.to_json())
        report_sweep_save_errors(outcome.save_errors)
        return code
    done = [p for p in outcome.parts if p is not None]
    print(f"{len(done)}/{points} grid points in {outcome.seconds:.1f} s ({outcome.backend}); records: {runs_dir}")
    print(
        f"{'lr':>8s} {'η':24s} {'rule':10s} {'train loss':>22s} {'test acc':>9s} {'diverged':>8s} {'collapsed':>9s}  run id"
    )
    for part in done:
        etas = " ".join(f"{k}={v:g}" for k, v in part["eta"].items()) or "—"
        for rule in part["rules"]:
            loss, acc = rule["final_train_loss"], rule["test_accuracy"]
            seeds = sweep.seeds
            missing = no_healthy_text(rule["diverged"], rule.get("collapsed", 0), seeds)  # no healthy seed: why
            print(
                f"{part['lr']:>8g} {etas:24s} {rule['rule']:10s} {missing if loss is None else f'{loss:.4f}':>22s} "
                f"{'—' if acc is None else f'{acc:.4f}':>9s} {rule['diverged']:>8d} {rule.get('collapsed', 0):>9d}  "
                f"{part['run_id'] or '(not saved)'}"
            )
    report_sweep_save_errors(outcome.save_errors)
    return code


def report_sweep_save_errors(save_errors: list[str]) -> None:
    """Say on stderr which grid points' records were not saved (after the results were printed)."""
    for message in save_errors:
        sys.stderr.write(f"error: save: {message}\n")
    if save_errors:
        sys.stderr.write("error: save: only the results printed above are kept for those points\n")
