"""ipcore from the command line: the single neuron, network training, stored runs and the thesis gallery.

Usage: ``python -m ipcore {neuron,train,runs,gallery} ...``.

Every subcommand validates through the config dataclasses; a bad value exits with status 2 and the message
naming the field, never a traceback. Progress goes to stderr; ``--json`` prints exactly one JSON object on
stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ipcore.config import ConfigError, parse_pairs
from ipcore.records import json_ready


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


NEURON_FLAGS = (
    "dist",
    "mu",
    "sigma",
    "center",
    "width",
    "b",
    "mu2",
    "sigma2",
    "weight",
    "n",
    "seed",
    "iters",
    "eta_decay",
    "record_every",
    "triesch_mean",
    "triesch_std",
)
"""NeuronConfig fields given as one plain value each (rules, eta and params are parsed separately)."""


@subcommand("neuron", "A single tanh neuron: intrinsic rules drive its output toward uniform (thesis §5.2).")
def _add_neuron(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    # Values stay text here: NeuronConfig converts and validates them, so every error names its field.
    dists = "uniform, gaussian, laplace, lognormal, mixture, or a continuous scipy.stats name (gamma, t, …)"
    p.add_argument("--dist", help=f"input distribution: {dists} (default gaussian)")
    p.add_argument("--mu", help="mean of gaussian / laplace / mixture's first part; mean of the log for lognormal")
    p.add_argument("--sigma", help="std of gaussian / mixture's first part; std of the log for lognormal; > 0")
    p.add_argument("--center", help="uniform's center (default 0)")
    p.add_argument("--width", help="uniform's width, > 0 (default 2)")
    p.add_argument("--b", help="laplace's scale, > 0 (default 1)")
    p.add_argument("--mu2", help="mixture's second mean (default 3)")
    p.add_argument("--sigma2", help="mixture's second std, > 0 (default 1)")
    p.add_argument("--weight", help="mixture's weight of the first part, 0–1 (default 0.5)")
    p.add_argument("--params", help="a scipy.stats distribution's parameters, name=value[,name=value] (loc, scale)")
    p.add_argument("--n", help="sample size N, ≥ 2 (default 10000)")
    p.add_argument("--seed", help="seed of the sample (default 0)")
    p.add_argument("--rules", help="comma-separated rules to compare (default ip,wd,infomax,bn_inc)")
    p.add_argument("--eta", help="η per rule, rule=value[,...] (default ip/bn_inc/infomax/triesch 1e-3, wd/bn_wd 0.1)")
    p.add_argument("--eta-decay", help="Infomax's η decay per update, 0–1 (default 0)")
    p.add_argument("--iters", help="full-batch iterations per rule, ≥ 1 (default 10000)")
    p.add_argument("--record-every", help="record α, β, entropy, histogram every k iterations (default 50)")
    p.add_argument("--triesch-mean", help="triesch's target mean μ of y (default 0)")
    p.add_argument("--triesch-std", help="triesch's target std s of y, in (0, 1] (default 0.2)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the final values on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_save_arguments(p)
    return _run_neuron


def neuron_config_from_args(args: argparse.Namespace) -> Any:
    """The validated NeuronConfig for the flags given; the others keep the config's defaults."""
    from ipcore.config import NeuronConfig

    values: dict[str, Any] = {k: getattr(args, k) for k in NEURON_FLAGS if getattr(args, k) is not None}
    if args.rules is not None:
        values["rules"] = parse_rules(args.rules)
    if args.eta is not None:
        values["eta"] = parse_pairs(args.eta, "eta", "rule")
    if args.params is not None:
        values["params"] = parse_pairs(args.params, "params")
    return NeuronConfig.from_dict(values)


def _run_neuron(args: argparse.Namespace) -> int:
    from ipcore.neuron import simulate

    config = neuron_config_from_args(args)
    # Ctrl-C ends the run early but keeps (and prints) what was computed so far.
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        bar = None if args.quiet else ProgressBar(f"neuron {len(config.rules)} rules × {config.iters} iterations")
        result = simulate(config, progress=bar, should_stop=stop.is_set)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if result.state == "cancelled" and bar is not None:
        sys.stderr.write("\n")
    summary = {**result.summary, "state": result.state, "config": config.to_dict()}
    run_id = save_if_requested(args, result)
    if run_id:
        summary["run_id"] = run_id
    if args.json:
        emit_json(summary)
    else:
        print(_neuron_table(summary))
    return 130 if result.state == "cancelled" else 0


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
    lines.append(
        f"entropy in nats from a 100-bin histogram of y on [−1, 1]; the maximum, log 2 = "
        f"{summary['rules'][0]['entropy_max']:.4f}, is a uniform output"
    )
    return "\n".join(lines)


# ======================================================================================================
# train  (networks)
# ======================================================================================================


@subcommand("train", "Train tanh MLPs with intrinsic rules; every rule × seed in lockstep (thesis §3.2–3.3, ch. 4).")
def _add_train(p: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    p.add_argument("--dataset", help="mnist, fashion-mnist, cifar10, clusters[:D], spirals or imagefolder:PATH")
    p.add_argument("--data-root", help="dataset folder (default $IPCORE_DATA, else ~/.cache/ipcore)")
    p.add_argument("--rules", help="comma-separated rules to compare, e.g. ip,wd,none")
    p.add_argument("--depth", help="hidden layers, 1–16 (thesis: 1 shallow, 7 deep)")
    p.add_argument("--width", help="units per hidden layer, 1–2048 (thesis: 50 MNIST, 150 CIFAR-10)")
    p.add_argument("--lr", help="Adam learning rate of the weights, > 0 and ≤ 10")
    p.add_argument("--eta", help="intrinsic learning rates, rule=value[,rule=value] (default: the thesis's)")
    p.add_argument("--eta-decay", help="Infomax's η decay per update, 0–1")
    p.add_argument("--epochs", help="passes over the training set, 1–1000")
    p.add_argument("--seeds", help="seeds per rule, 1–64 (all trained together)")
    p.add_argument("--seed", help="first seed; the others follow (seed, seed+1, …)")
    p.add_argument("--batch-size", help="samples per batch (default 200)")
    p.add_argument("--subset", help="train on the first N training samples (0 = all)")
    p.add_argument("--output", help="output layer: relu (Linear then ReLU, as the thesis) or linear")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--log-every", help="record the training loss every k batches (0 = automatic)")
    p.add_argument("--hist-every", help="record output histograms every k batches (0 = automatic)")
    p.add_argument("--list-datasets", action="store_true", help="show which datasets are available and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    add_save_arguments(p)
    return _run_train


TRAIN_FLAGS = (
    "dataset",
    "data_root",
    "rules",
    "depth",
    "width",
    "lr",
    "eta_decay",
    "epochs",
    "seeds",
    "seed",
    "batch_size",
    "subset",
    "output",
    "device",
    "log_every",
    "hist_every",
)


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

    from ipcore.config import TrainConfig
    from ipcore.data import available_datasets
    from ipcore.metrics import MetricsLog
    from ipcore.train import train

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
    values: dict[str, Any] = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    if "rules" in values:
        values["rules"] = parse_rules(values["rules"])
    if args.eta is not None:
        values["eta"] = parse_pairs(args.eta, "eta", "rule")
    config = TrainConfig.from_dict(values)

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

    # Ctrl-C ends the run early but keeps (and prints) what was recorded so far.
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        result = train(config, progress=progress, should_stop=stop.is_set, log=log)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    code = 130 if result.state == "cancelled" else 0
    if result.state == "cancelled":
        sys.stderr.write("\ninterrupted: the results cover the steps done so far\n")
    run_id = save_if_requested(args, result)
    if args.json:
        emit_json(result.summary if run_id is None else {**result.summary, "run_id": run_id})
        return code
    summary = result.summary
    print(f"{summary['dataset']} on {summary['device']}: {summary['steps']} steps, {summary['seconds']:.1f} s")
    print(f"{'rule':10s} {'train loss':>10s} {'test acc':>9s} {'diverged':>9s}  mean ∂y/∂u per layer")
    for entry in summary["rules"]:

        def number(value: float | None, digits: int) -> str:
            return "—" if value is None else f"{value:.{digits}f}"

        grads = " ".join(number(g, 3) for g in entry["grad_y_u"] or [])
        print(
            f"{entry['rule']:10s} {number(entry['final_train_loss'], 4):>10s} "
            f"{number(entry['test_accuracy'], 4):>9s} {entry['diverged']:>4d}/{config.seeds:<4d}  {grads}"
        )
    return code


# ======================================================================================================
# runs  (stored run records)
# ======================================================================================================


def _run_name(text: str) -> str:
    """argparse type of ``--name``: checked before the run starts, so a bad name never wastes a run."""
    from ipcore.records import check_name

    try:
        return check_name(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_save_arguments(p: argparse.ArgumentParser) -> None:
    """``--save``, ``--name`` and ``--runs-dir`` for a subcommand that produces a run (neuron, train)."""
    p.add_argument("--save", action="store_true", help="store the run as a record (see `runs list`)")
    p.add_argument("--name", type=_run_name, default=None, help="a name for the stored run (implies --save)")
    p.add_argument("--runs-dir", default=None, help="records folder (default $IPCORE_RUNS_DIR or cached_runs/)")


def save_if_requested(args: argparse.Namespace, result: Any) -> str | None:
    """Store ``result`` when ``--save`` or ``--name`` was given; returns the run id (reported on stderr)."""
    if not (getattr(args, "save", False) or getattr(args, "name", None)):
        return None
    from ipcore.records import default_runs_dir, save_run

    runs_dir = args.runs_dir or default_runs_dir()
    run_id = save_run(runs_dir, result, name=args.name)
    sys.stderr.write(f"saved run {run_id} ({result.state}) in {runs_dir}\n")
    return run_id


def _headline(summary: dict[str, Any]) -> str:
    """One line of final numbers per run: test accuracy (networks) or output entropy (single neuron)."""
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
        flag = " diverged" if rule.get("diverged") or rule.get("nonfinite") else ""
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
    listing.add_argument("--limit", type=int, default=0, help="show at most N runs")
    show = actions.add_parser("show", help="one run: config, summary, final numbers, metric names and shapes")
    show.add_argument("run_id")
    delete = actions.add_parser("delete", help="delete stored runs")
    delete.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    for action in (listing, show, delete):
        action.add_argument(
            "--runs-dir", default=None, help="records folder (default $IPCORE_RUNS_DIR or cached_runs/)"
        )
    for action in (listing, show):
        action.add_argument("--json", action="store_true", help="print one JSON object")
    return _run_runs


def _run_runs(args: argparse.Namespace) -> int:
    from ipcore import records

    runs_dir = args.runs_dir or records.default_runs_dir()
    try:
        if args.runs_command == "list":
            return _runs_list(args, runs_dir)
        if args.runs_command == "show":
            return _runs_show(args, runs_dir)
        for run_id in args.run_ids:
            records.delete_run(runs_dir, run_id)
            sys.stderr.write(f"deleted {run_id}\n")
        return 0
    except (records.RunNotFound, records.CorruptRecord) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1


def _runs_list(args: argparse.Namespace, runs_dir: Any) -> int:
    from ipcore.records import list_runs

    entries = list_runs(runs_dir)
    if args.kind:
        entries = [e for e in entries if e["kind"] == args.kind]
    if args.gallery:
        entries = [e for e in entries if e["run_id"].startswith("gallery-")]
    if args.mine:
        entries = [e for e in entries if not e["run_id"].startswith("gallery-")]
    if args.limit > 0:
        entries = entries[: args.limit]
    if args.json:
        emit_json({"runs_dir": str(runs_dir), "runs": entries})
        return 0
    if not entries:
        sys.stderr.write(f"no runs in {runs_dir}\n")
        return 0
    width = max(len(e["run_id"]) for e in entries)
    print(f"{'RUN ID'.ljust(width)}  {'KIND':6s}  {'STATE':9s}  {'ENDED':19s}  {'SECONDS':>8s}  RESULT")
    for e in entries:
        ended = str(e.get("ended") or "")[:19].replace("T", " ")
        name = f"  [{e['name']}]" if e.get("name") else ""
        print(
            f"{e['run_id'].ljust(width)}  {e['kind']:6s}  {e['state']:9s}  {ended:19s}  "
            f"{e.get('seconds', 0):8.1f}  {_headline(e['summary'])}{name}"
        )
    return 0


def _runs_show(args: argparse.Namespace, runs_dir: Any) -> int:
    from ipcore.records import load_run

    record = load_run(runs_dir, args.run_id)
    shapes = {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in record.metrics.items()}
    meta = {k: v for k, v in record.meta.items() if k not in ("summary", "metrics_index")}
    if args.json:
        emit_json(
            {"run_id": record.run_id, "meta": meta, "config": record.config.to_dict(), "summary": record.summary}
            | {"metrics": shapes}
        )
        return 0
    m = record.meta
    title = f"run {record.run_id}  ({m['kind']}, {m['state']})"
    print(title + (f"  name: {m['name']}" if m.get("name") else ""))
    if m.get("experiment"):
        print(f"gallery experiment {m['experiment']}, part {m.get('part')}")
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    print(f"ran {m.get('started')} → {m.get('ended')} ({m.get('seconds', 0):.1f} s) on {m.get('device')}; {versions}")
    if m.get("error"):
        print(f"error: {m['error']}")
    print("config:")
    for key, value in record.config.to_dict().items():
        print(f"  {key} = {_format_value(value)}")
    rules = [r for r in record.summary.get("rules") or [] if isinstance(r, dict)]
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
    p.add_argument("--data-root", default=None, help="dataset folder (default $IPCORE_DATA or ~/.cache/ipcore)")
    p.add_argument("--runs-dir", default=None, help="records folder (default $IPCORE_RUNS_DIR or cached_runs)")
    p.add_argument("--force", action="store_true", help="recompute parts that are already done")
    p.add_argument("--report", default="", metavar="PATH", help="only write the reproduction table into PATH")
    p.add_argument("--json", action="store_true", help="print one JSON object with what was done")
    return _run_gallery


def _run_gallery(args: argparse.Namespace) -> int:
    from ipcore import gallery
    from ipcore.records import default_runs_dir, save_run
    from ipcore.runner import run_config

    runs_dir = args.runs_dir or default_runs_dir()
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
        sys.stderr.write(f"wrote the reproduction table of {runs_dir} into {args.report}\n")
        return 0
    if args.list:
        listing = []
        for entry in entries:
            done = gallery.done_parts(runs_dir, entry)
            listing.append({"id": entry.id, "title": entry.title, "parts": len(entry.parts), "done": len(done)})
            if not args.json:
                print(f"{entry.id:13s} {len(done):2d}/{len(entry.parts):<2d} parts  {entry.title}")
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
        done = set() if args.force else gallery.done_parts(runs_dir, entry)
        for part in [args.part] if args.part else list(entry.parts):
            if part not in done:
                todo.append((entry, part, entry.config(part, **overrides)))  # validates before anything runs
    if args.list_parts:  # longest first, so parallel workers finish together
        for entry, part, _ in sorted(todo, key=lambda t: -gallery.estimated_cost(t[2])):
            print(f"{entry.id} {part}")
        return 0

    # SIGTERM (a time limit, a killed batch job) stops the current part cleanly: it is saved as cancelled,
    # with everything recorded so far, and recomputed on the next resume.
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    computed = []
    for index, (entry, part, config) in enumerate(todo, 1):
        if stop.is_set():
            break
        bar = ProgressBar(f"[{index}/{len(todo)}] {entry.id} {part}")
        result = run_config(config, progress=bar, should_stop=stop.is_set)
        run_id = save_run(runs_dir, result, experiment=entry.id, part=part, run_id=entry.run_id(part))
        computed.append({"id": entry.id, "part": part, "run_id": run_id, "state": result.state})
    if args.json:
        emit_json({"runs_dir": str(runs_dir), "computed": computed})
    elif not computed:
        sys.stderr.write("nothing to compute: every selected part is done (use --force to recompute)\n")
    return 0
