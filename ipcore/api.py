"""ipcore from Python (a notebook, a script): run the lab's experiments, load any record, get tables and figures.

The names here are exported at the package root (``ipcore.run_networks`` …); docs/python.md is their guide.

- ``run_neuron``, ``run_networks``, ``run_sweep``: the single neuron, a network comparison, a grid — keyword
  arguments with the CLI's names, validated by the same configs (``NeuronConfig``, ``TrainConfig``,
  ``SweepConfig``; a bad value raises ``ConfigError`` naming the field and its range). Progress shows as a tqdm
  bar (the notebook widget in Jupyter, text elsewhere); ``save=True`` stores the same record the CLI's ``--save``
  does.
- ``load``: a record by run id (in ``runs_dir``, default ``$IPCORE_RUNS_DIR`` or the repository's cached_runs) or
  by folder; ``runs``: the stored runs as a table; ``gallery_entries``: the thesis's entries with their verdicts;
  ``gallery_runs``: an entry's records; ``list_rules``: the rules, yours included.
- ``Run``: ``table(metric)`` (long form, ``ipcore.results.tables``), ``seeds()`` (per-seed final numbers),
  ``paired(a, b)`` (the paired test), ``figure(name)`` (the lab's chart, ``ipcore.charts``), ``save()``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipcore.config import Config, ConfigError, NeuronConfig, SweepConfig, TrainConfig
from ipcore.locations import gallery_dir
from ipcore.results.records import RunNotFound, RunRecord, default_runs_dir, list_runs, load_run, save_run

Progress = bool | Callable[[float], None]


# --- progress -----------------------------------------------------------------------------------------


@contextmanager
def _progress(progress: Progress, label: str) -> Iterator[Callable[[float], None] | None]:
    """A ``progress(fraction)`` callback: tqdm's bar (``tqdm.auto``: the notebook widget where ipywidgets is
    installed, text otherwise) for ``True``, the caller's own function, or None for ``False``."""
    if callable(progress):
        yield progress
        return
    if not progress:
        yield None
        return
    from tqdm.auto import tqdm

    steps = 1000
    bar = tqdm(
        total=steps, desc=label, mininterval=0.5, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}"
    )

    def update(fraction: float) -> None:
        target = int(round(min(max(fraction, 0.0), 1.0) * steps))
        if target > bar.n:
            bar.update(target - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _config(cls: type[Config], config: Config | Mapping[str, Any] | None, fields: dict[str, Any]) -> Any:
    """A validated ``cls`` from a config, a dict, and/or keyword arguments (which override the config's fields)."""
    if config is None:
        return cls.from_dict(fields)
    if isinstance(config, Mapping):
        return cls.from_dict({**config, **fields})
    if not isinstance(config, cls):
        raise ConfigError("config", f"must be a {cls.__name__} (got {type(config).__name__})")
    return config.replace(**fields) if fields else config


# --- one run ------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run, fresh or loaded: its ``config``, ``metrics`` (numpy arrays by name), ``summary`` (the CLI's JSON),
    ``state`` (done | cancelled | failed), and ``run_id``/``meta`` once stored."""

    config: Config
    metrics: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)
    state: str = "done"
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: RunRecord) -> Run:
        return cls(
            record.config,
            record.metrics,
            record.summary,
            record.meta.get("state", "done"),
            record.run_id,
            record.meta,
        )

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def rules(self) -> list[str]:
        return [str(r) for r in np.asarray(self.metrics["rules"])]

    def _dataset(self) -> str | None:
        return getattr(self.config, "dataset", None)

    def metric_names(self) -> list[str]:
        """The metrics recorded over time (``table(name)`` takes these, or the part after the slash)."""
        from ipcore.results.tables import metric_names

        return metric_names(self.metrics)

    def table(self, metric: str) -> pd.DataFrame:
        """``metric`` as a long-form DataFrame: step/epoch/iter, rule, seed, layer/unit/bin where it applies,
        value (``ipcore.results.tables.metric_table``)."""
        from ipcore.results.tables import metric_table

        return metric_table(self.metrics, metric, getattr(self.config, "seed", None) if self.kind == "neuron" else None)

    def seeds(self, layer: int | None = None) -> pd.DataFrame:
        """Per-seed final numbers of a network run (one row per rule × seed, with its health), or the final values
        per rule of a single neuron."""
        from ipcore.results.tables import neuron_table, seed_table

        if self.kind == "neuron":
            return neuron_table(self.metrics)
        return seed_table(self.metrics, self._dataset(), layer)

    def paired(self, a: str, b: str, metric: str = "final_loss", layer: int | None = 0) -> dict[str, Any]:
        """Paired comparison a − b of a per-seed ``metric`` over the seeds healthy under both rules (same initial
        weights per seed): n, mean, 95 % interval low/high, p (``ipcore.results.tables.paired``)."""
        from ipcore.results.tables import paired

        if self.kind == "neuron":
            raise ConfigError("kind", "a paired test compares seeds of a network run; this is a single-neuron run")
        return paired(self.metrics, a, b, metric, layer, self._dataset())

    def figures(self) -> list[str]:
        """The names ``figure`` draws for this kind of run."""
        return list(_FIGURES[self.kind])

    def figure(self, name: str = "loss", **options: Any) -> Any:
        """The lab's chart ``name`` of this run as a plotly figure (``figures()`` lists them). Options, where
        the chart has them: ``layers`` (0-based hidden layers), ``index`` (the recorded row, −1 = last),
        ``smoothing``, ``log_y``, ``spread`` ("min–max", "interquartile", "every seed"), ``split``, ``log_alpha``."""
        try:
            build = _FIGURES[self.kind][name]
        except KeyError:
            raise KeyError(
                f"no figure {name!r} for a {self.kind} run; choose from: {', '.join(_FIGURES[self.kind])}"
            ) from None
        return build(self.metrics, **options)

    def save(self, runs_dir: str | os.PathLike | None = None, name: str | None = None) -> str:
        """Store this run as a record (as the CLI's ``--save``); returns its run id."""
        self.run_id = save_run(runs_dir if runs_dir is not None else default_runs_dir(), self, name=name)
        return self.run_id

    def __repr__(self) -> str:
        where = f" {self.run_id}" if self.run_id else ""
        return f"<ipcore Run{where}: {self.kind}, rules {', '.join(self.rules)}, {self.state}>"


def _layers(metrics: Mapping[str, np.ndarray], layers: Any) -> list[int]:
    if layers is not None:
        return [int(layer) for layer in layers]
    count = int(np.asarray(metrics["layer/grad_y_u"]).shape[-1]) if "layer/grad_y_u" in metrics else 1
    return sorted({0, count // 2, count - 1})  # the lab's default: first, middle and last hidden layer


def _train_figures() -> dict[str, Callable[..., Any]]:
    from ipcore.charts import lab, layers, training

    def one(metrics: Any) -> list[tuple[str, Any]]:
        return [("", metrics)]

    return {
        "loss": lambda m, smoothing=0.6, log_y=False, spread="min–max": training.loss_figure(
            one(m), smoothing, log_y, spread=spread
        ),
        "accuracy": lambda m, split="test", spread="min–max": training.accuracy_figure(one(m), split, spread=spread),
        "slope": lambda m, layers=None: training.grad_lines_figure(one(m), _layers(m, layers)),
        "entropy": lambda m, layers=None: training.entropy_time_figure(m, _layers(m, layers)),
        "fixed_point": lambda m, layers=None: training.fixed_point_figure(m, _layers(m, layers)),
        "alpha_beta": lambda m, layers=None, log_alpha=False: lab.alpha_beta_time_figure(
            m, _layers(m, layers), log_alpha
        ),
        "slope_heatmap": lambda m: training.grad_heatmap_figure(m),
        "histograms": lambda m, index=-1: layers.histogram_figure(m, index),
        "alpha_beta_layers": lambda m, index=-1, log_alpha=False: layers.alpha_beta_figure(m, index, log_alpha),
        "entropy_layers": lambda m, index=-1: layers.entropy_layers_figure(m, index),
    }


def _neuron_figures() -> dict[str, Callable[..., Any]]:
    from ipcore.charts import neuron

    return {
        "entropy": lambda m, bound=None: neuron.neuron_entropy_figure([("", m)], bound=bound),
        "histogram": lambda m, index=-1: neuron.neuron_histogram_figure(m, index),
        "density_map": lambda m: neuron.neuron_histogram_heatmap(m),
        "alpha_beta": lambda m, log_alpha=False: neuron.alpha_beta_trajectory_figure(m, log_alpha),
        "beta_median": lambda m: neuron.beta_median_figure(m),
        "tanh_density": lambda m, index=-1: neuron.tanh_over_density_figure(m, index),
    }


class _Figures(dict):
    """Figure builders by run kind, made on first use (so importing ipcore.api does not import plotly)."""

    def __missing__(self, kind: str) -> dict[str, Callable[..., Any]]:
        builders = {"train": _train_figures, "neuron": _neuron_figures}
        if kind not in builders:
            raise KeyError(f"no figures for runs of kind {kind!r}")
        self[kind] = builders[kind]()
        return self[kind]


_FIGURES = _Figures()


# --- running ------------------------------------------------------------------------------------------


def _run(
    runner: Callable[..., Any],
    config: Any,
    progress: Progress,
    label: str,
    save: bool,
    name: str | None,
    runs_dir: str | os.PathLike | None,
) -> Run:
    """``runner(config, progress=…)`` (the neuron simulator or the network trainer) under a progress bar, as a
    ``Run``, stored when ``save``, ``name`` or ``runs_dir`` asks for it."""
    with _progress(progress, label) as callback:
        result = runner(config, progress=callback)
    run = Run(result.config, result.metrics, result.summary, result.state)
    if save or name or runs_dir is not None:
        run.save(runs_dir, name)
    return run


def run_neuron(
    config: NeuronConfig | Mapping[str, Any] | None = None,
    *,
    progress: Progress = True,
    save: bool = False,
    name: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    **fields: Any,
) -> Run:
    """One tanh (or logistic) unit fed a fixed sample, every rule of ``rules`` side by side (thesis §5.2).

    Keyword arguments are ``NeuronConfig``'s fields, named as the CLI's flags (``dist``, ``mu``, ``sigma``,
    ``rules``, ``eta``, ``iters`` …), validated the same way. ``save``/``name``/``runs_dir``: store the record
    (as ``python -m ipcore neuron --save``). Example: ``run_neuron(dist="gaussian", mu=5, sigma=2, iters=2000)``.
    """
    from ipcore.training.neuron import simulate

    return _run(simulate, _config(NeuronConfig, config, fields), progress, "neuron", save, name, runs_dir)


def run_networks(
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    progress: Progress = True,
    save: bool = False,
    name: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    **fields: Any,
) -> Run:
    """Deep MLPs trained by backprop, one per rule × seed, all seeds of a rule sharing the other rules' initial
    weights (a paired comparison). Keyword arguments are ``TrainConfig``'s fields (``dataset``, ``rules``,
    ``depth``, ``width``, ``lr``, ``epochs``, ``seeds``, ``eta`` …). ``save``/``name``/``runs_dir`` as
    ``run_neuron``. Example: ``run_networks(dataset="spirals", rules=["ip", "none"], seeds=3, depth=3)``.
    """
    from ipcore.training.loop import train

    return _run(train, _config(TrainConfig, config, fields), progress, "train", save, name, runs_dir)


@dataclass
class Sweep:
    """A finished grid: its ``config``, ``name``, one ``Run`` per grid point (``runs``, with the point's ``lr``
    and ``eta`` in ``points``), and what failed (``errors``)."""

    config: SweepConfig
    name: str
    points: list[dict[str, Any]]
    runs: list[Run]
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False

    def table(self, metric: str) -> pd.DataFrame:
        """``metric`` of every grid point in long form, with the point's ``lr`` and ``eta_<rule>`` columns."""
        return self._per_point(lambda run: run.table(metric))

    def seeds(self, layer: int | None = None) -> pd.DataFrame:
        """Per-seed final numbers of every grid point (``Run.seeds``), with ``lr`` and ``eta_<rule>`` columns."""
        return self._per_point(lambda run: run.seeds(layer))

    def _per_point(self, frame_of: Callable[[Run], pd.DataFrame]) -> pd.DataFrame:
        """``frame_of(run)`` of every grid point, stacked, each with its point's ``lr`` and ``eta_<rule>`` columns."""
        frames = []
        for point, run in zip(self.points, self.runs, strict=True):
            frame = frame_of(run)
            frame.insert(0, "lr", point["lr"])
            for rule, eta in point["eta"].items():
                frame.insert(1, f"eta_{rule}", eta)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def figure(self) -> Any:
        """The learning-rate sweep page's chart: final loss and failed seeds against the learning rate."""
        from ipcore.charts.sweep import lr_sweep_figure, sweep_points

        return lr_sweep_figure(
            sweep_points([(p["lr"], r.metrics) for p, r in zip(self.points, self.runs, strict=True)])
        )


def run_sweep(
    config: SweepConfig | Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    save: bool = False,
    backend: str = "local",
    ray_address: str | None = None,
    progress: Progress = True,
    **fields: Any,
) -> Sweep:
    """A grid of learning rates × η values (``SweepConfig``'s fields: ``lr=[…]``, ``eta={"ip": […]}``, ``rules``,
    ``seeds`` …), locally as one lockstep model or on Ray (``backend="ray"``, ``ray_address``; rule modules you
    loaded travel to the workers). Records go to ``runs_dir`` when it is given or ``save`` is set (a re-run with
    the same ``name`` resumes there), else to a temporary folder that is removed once they are read back.
    """
    from ipcore.training.sweep import default_sweep_name
    from ipcore.training.sweep import run_sweep as sweep_runner

    sweep = _config(SweepConfig, config, fields)
    name = name or default_sweep_name(sweep)
    keep = save or runs_dir is not None
    with tempfile.TemporaryDirectory(prefix="ipcore-sweep-") as scratch:
        folder = Path(runs_dir if runs_dir is not None else default_runs_dir()) if keep else Path(scratch)
        with _progress(progress, "sweep") as callback:
            outcome = sweep_runner(sweep, name=name, runs_dir=folder, backend=backend, ray_address=ray_address,
                                   progress=callback)  # fmt: skip
        points, runs = [], []
        for entry in outcome.parts:
            if entry is not None:
                points.append({"lr": entry["lr"], "eta": dict(entry["eta"])})
                run = Run.from_record(load_run(folder, entry["run_id"]))
                runs.append(run if keep else Run(run.config, run.metrics, run.summary, run.state))
    return Sweep(sweep, name, points, runs, list(outcome.errors), outcome.interrupted)


# --- records ------------------------------------------------------------------------------------------


def load(run: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> Run:
    """A stored run: a run id (looked up in ``runs_dir``; by default your runs folder, then the gallery's records,
    ``ipcore.locations``) or the path of a record folder. Raises ``RunNotFound``, ``CorruptRecord`` or
    ``ConfigError`` (an unsafe id, or a rule of your own that is not registered in this process)."""
    text = os.fspath(run)
    path = Path(text).expanduser()
    if runs_dir is None and (os.sep in text or path.is_dir()):
        return Run.from_record(load_run(path.resolve().parent, path.resolve().name))
    if runs_dir is None:
        try:
            return Run.from_record(load_run(default_runs_dir(), text))
        except RunNotFound:
            return Run.from_record(load_run(gallery_dir(), text))
    return Run.from_record(load_run(runs_dir, text))


def runs(runs_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored runs, newest first: run id, kind, name, experiment, part, state, created, seconds."""
    columns = ["run_id", "kind", "name", "experiment", "part", "state", "created", "seconds"]
    rows = [{key: meta.get(key) for key in columns} for meta in list_runs(runs_dir)]
    return pd.DataFrame(rows, columns=columns)


def gallery_entries(
    runs_dir: str | os.PathLike | None = None, verdicts: bool = True, ids: list[str] | None = None
) -> pd.DataFrame:
    """The gallery's entries (the thesis's claims and chapter 7's questions): id, chapter, title, claim, kind,
    datasets, rules, parts, and with ``verdicts`` the parts computed, the verdict and what was measured, from the
    records in ``runs_dir`` (default the gallery's records, ``ipcore.locations.gallery_dir``) — the gallery page's
    cards as a table. ``ids``: only these
    entries (reading every record of every entry takes a while)."""
    from ipcore.gallery.entries import ENTRIES, assess, entry_records, get_entry

    folder = str(runs_dir if runs_dir is not None else gallery_dir())
    rows = []
    for entry in ENTRIES if ids is None else [get_entry(i) for i in ids]:
        row = {
            "id": entry.id,
            "chapter": entry.chapter,
            "title": entry.title,
            "claim": entry.claim,
            "kind": entry.kind,
            "datasets": ", ".join(entry.datasets),
            "rules": ", ".join(entry.rules),
            "parts": len(entry.parts),
        }
        if verdicts:
            outcome = assess(entry, entry_records(folder, entry))
            row.update(parts_done=outcome["parts"], verdict=outcome["verdict"], measured=outcome["measured"])
        rows.append(row)
    return pd.DataFrame(rows)


def gallery_runs(entry_id: str, runs_dir: str | os.PathLike | None = None) -> dict[str, Run]:
    """A gallery entry's records by part (``gallery_entries()``'s ids; only the parts computed)."""
    from ipcore.gallery.entries import entry_records, get_entry

    entry = get_entry(entry_id)
    folder = str(runs_dir if runs_dir is not None else gallery_dir())
    return {record.meta.get("part"): Run.from_record(record) for record in entry_records(folder, entry)}


def list_rules() -> pd.DataFrame:
    """Every rule the configs accept — the built-ins and those you registered — with its title, default η,
    units and where it came from."""
    from ipcore.engine.custom_rules import CUSTOM_RULES
    from ipcore.engine.rules import RULES

    rows = []
    for name, cls in RULES.items():
        spec = cls.spec
        rows.append(
            {
                "name": name,
                "title": spec.title,
                "eta_network": spec.default_eta_network,
                "eta_neuron": spec.default_eta_neuron,
                "weighted_decay": spec.weighted_decay,
                "activations": ", ".join(spec.activations),
                "form": cls.form,
                "origin": CUSTOM_RULES[name].origin if name in CUSTOM_RULES else "built-in",
            }
        )
    return pd.DataFrame(rows)
