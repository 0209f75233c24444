"""Train deep tanh MLPs with intrinsic rules: every rule × seed of a comparison in lockstep (thesis §3.2.2,
§3.3, ch. 4).

One step, for all M = R·S members at once (``ipcore.engine.model.LockstepMLP``):

1. forward in training mode on each seed's next batch (members of the same seed see the same batches);
2. loss = Σ_m mean cross-entropy of member m (so each member's gradient is the one it would get alone);
3. backward (written out by hand for rules of the form u = a·x + c, ``ipcore.engine.backward``; autograd otherwise);
4. every hidden layer's intrinsic update from this forward pass's x and y (no gradient);
5. the optimizer's step on the weights (and on batchnorm's γ, b) with learning rate ``lr``: Adam (the thesis), SGD or
   SGD with momentum (``config.optimizer``).

A member whose batch loss is NaN/inf is marked diverged at that step and frozen (no more weight or α/β
updates); the others go on. Divergence is tracked on the device and read only when the metrics are flushed.

Recorded in a ``MetricsLog`` (see ``train``): per-step losses (kept on the device, moved in chunks), per-epoch
train/test loss and accuracy, per-layer statistics every k steps and output histograms more rarely.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ipcore.config import TrainConfig
from ipcore.data import BatchSampler, Dataset, load_dataset
from ipcore.engine.activations import cpu_tanh_kernel
from ipcore.engine.cuda_graphs import StepRunner, UpdateRunner
from ipcore.engine.model import LockstepMLP
from ipcore.engine.optim import FusedAdam, freeze_every_step, freeze_members, make_optimizer
from ipcore.engine.rules import make_rule
from ipcore.results.metrics_log import MetricsLog, RunResult
from ipcore.results.summary import summarize
from ipcore.training.measure import dead_output_units, evaluate
from ipcore.training.recorder import Recorder
from ipcore.training.resources import ThreadShare, check_memory, cpu_threads, release_memory, resolve_device


@dataclasses.dataclass(frozen=True)
class MemberGroup:
    """One rule group of a lockstep model: the rule, its η and the synaptic learning rate of its seeds.

    A plain run has one group per rule of its config (all at ``config.lr``); a sweep repeats the rules once per
    grid point with that point's lr and η (``ipcore.training.sweep``), so a whole grid of one architecture is one model.
    """

    rule: str
    eta: float
    lr: float


def config_groups(config: TrainConfig) -> list[MemberGroup]:
    """The groups of a plain run: each rule of ``config`` with its η, all at ``config.lr``."""
    etas = config.etas()
    return [MemberGroup(name, etas[name], config.lr) for name in config.rules]


def member_seeds(config: TrainConfig) -> list[int]:
    """The seeds of one comparison: ``seed``, ``seed + 1``, … (member m has seed ``seeds[m % S]``)."""
    return [config.seed + i for i in range(config.seeds)]


class Members:
    """The members' state on the device that the loop and the update share: which are still ``active``, the
    step each ``diverged`` at (−1: never) and the cumulative α ≤ 0 count of each hidden unit (``nonpositive``)."""

    def __init__(self, members: int, units: int, device: torch.device) -> None:
        self.active = torch.ones(members, dtype=torch.bool, device=device)
        self.diverged_step = torch.full((members,), -1, dtype=torch.int64, device=device)
        self.nonpositive = torch.zeros(members, units, dtype=torch.int32, device=device)

    def mark_diverged(self, loss: torch.Tensor, step: int) -> None:
        """Members whose batch loss at ``step`` (0-based) is not finite diverge there and stop."""
        finite = torch.isfinite(loss)
        self.diverged_step = torch.where(self.active & ~finite, step + 1, self.diverged_step)
        self.active &= finite


class ModelUpdate:
    """What changes the model after a step's pass and records: diverged members frozen, the rules' update, the
    α ≤ 0 count, the optimizer's step. Run through ``UpdateRunner``: a CUDA graph of its own on a GPU, so nothing
    in it may come from Python and change from step to step (the freezing runs at every step there, the rules
    update from the means, Adam's step counts live on the device)."""

    def __init__(self, model: LockstepMLP, optimizer: Any, etas: list[float], members: Members) -> None:
        self.model, self.optimizer, self.etas, self.members = model, optimizer, etas, members
        self.moments = model.moments
        self.counts_alpha = any(rule.form != "none" or rule.has_parameters for rule in model.rules)

    def __call__(
        self, means: dict[str, torch.Tensor], x_all: torch.Tensor | None, y_all: torch.Tensor | None, freeze: bool
    ) -> None:
        model, active = self.model, self.members.active
        with torch.no_grad():
            if freeze:
                freeze_members(model, self.optimizer, ~active)
            if model.any_updates and self.moments is not None:
                model.update_rules_from_moments(means, self.etas, active if freeze else None)
            elif model.any_updates:
                model.update_rules(x_all, y_all, self.etas, active if freeze else None)
            if self.counts_alpha:
                self.members.nonpositive.add_((model.raw_alpha() <= 0) & active.unsqueeze(1))
        self.optimizer.step()


# --- the run ------------------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: MetricsLog | None = None,
    data: Dataset | None = None,
    groups: list[MemberGroup] | None = None,
) -> RunResult:
    """Train every rule × seed of ``config`` in lockstep; returns the recorded metrics and a summary.

    ``groups`` (a sweep, see ``ipcore.training.sweep``) replaces the config's rules, η and lr by these rule groups, each
    with its own η and learning rate; the result's metrics then cover every group's members (group g, seed s is
    member g·S + s) and its summary only the run's totals (the sweep summarises each grid point itself).

    ``progress(fraction)`` is called after every step; ``should_stop()`` is checked after every step and ends
    the run early (state "cancelled", what was recorded kept). ``data`` skips loading (it must be on the
    run's device; ``subset`` still applies). Recorded (M = members, L = hidden layers):

    - static ``rules`` [R], ``etas`` [R], ``members_rule`` [M] (names), ``members_seed`` [M], ``diverged_step``
      [M] (the 1-based step whose loss was first non-finite, −1 if none), ``layers`` (L), ``steps_per_epoch``,
      ``train_samples``, ``total_steps``, ``batch_size``, ``num_classes`` and at the end
      ``alpha_nonpositive_final`` [M, L] (the cumulative α ≤ 0 count after the last update) and, after a
      finished epoch, ``dead_output_units`` [M] (output units whose ReLU output is zero on the whole test set);
    - ``batch``: ``step`` [T] (steps done), ``epoch`` [T] (float), ``loss`` [T, M] (mean batch loss since the
      previous row);
    - ``epoch``: ``epoch`` [E], ``train_loss``, ``train_acc`` (over that epoch's training batches),
      ``test_loss``, ``test_acc`` (evaluation pass over the test set) [E, M];
    - ``layer``: ``step`` [K] (weight updates before the measurement: row s is measured on the training forward
      pass of step s + 1, so the first row, step 0, is the untrained network), ``grad_y_u``, ``grad_y_x``, ``alpha_mean``,
      ``alpha_std``, ``beta_mean``, ``beta_std``, ``entropy``, ``alpha_nonpositive`` (cumulative count of
      unit-steps with α ≤ 0), ``alpha_distance``, ``beta_distance`` (mean over units of the distance of α, β to
      the rule's own fixed point on that batch, e.g. |α − 2E[xy]| and |E[y]| for IP; NaN for rules without
      one), ``entropy_unit`` (each unit's own output entropy, averaged over the layer), ``grad_weight_rms``
      (RMS of the loss gradient of the layer's incoming weights) [K, M, L] (see ``layer_statistics``);
    - ``hist``: ``step`` [H], ``hist`` [H, M, L, 50] (densities of y on [−1, 1], same measurement as ``layer``).
    """
    device = resolve_device(config.device)
    try:
        with cpu_threads(device):
            return _train(config, progress, should_stop, log, data, device, groups)
    finally:
        release_memory()  # whatever check_memory promised this run


def _train(
    config: TrainConfig,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
    log: MetricsLog | None,
    data: Dataset | None,
    device: torch.device,
    groups: list[MemberGroup] | None = None,
) -> RunResult:
    started = time.perf_counter()
    log = log if log is not None else MetricsLog()
    data = _dataset(config, data, device)
    sweep = groups is not None
    groups = config_groups(config) if groups is None else groups
    rules = [make_rule(group.rule, config) for group in groups]
    seeds = member_seeds(config)
    R, S, L = len(rules), len(seeds), config.depth
    M = R * S
    check_memory(config, data, device, members=M)
    model = LockstepMLP(
        data.input_dim, data.num_classes, L, config.width, rules, seeds, config.output, device,
        activation=config.activation,
    )  # fmt: skip
    optimizer = make_optimizer(model, [group.lr for group in groups], device, config)
    # the layers' x is needed only by rules that update from the whole x and y, and by fixed-point distances that
    # cannot come from the means; without either, the pass folds a, c into the hidden weights (ipcore.engine.backward)
    moments = model.moments
    keep_pre = (model.any_updates and moments is None) or not model.distances_from_moments
    run_step = StepRunner(model, moments=moments or (), keep_pre=keep_pre)  # from a CUDA graph on a GPU
    batches = BatchSampler(data, seeds, config.batch_size, device)
    total_steps = batches.per_epoch * config.epochs
    _record_setting(log, groups, seeds, L, batches, total_steps, data.num_classes)
    # a run whose thread count was chosen from the idle CPUs gives threads back when they stop getting cores
    share = ThreadShare(device.type == "cpu" and not os.environ.get("IPCORE_THREADS", "").strip())
    recorder = Recorder(log, model, config, total_steps, batches.per_epoch, share)
    members = Members(M, L * config.width, device)
    always_mask = freeze_every_step(device)
    update = ModelUpdate(model, optimizer, [group.eta for group in groups], members)
    graphed_update = always_mask and moments is not None and isinstance(optimizer, FusedAdam)
    run_update = UpdateRunner(model, run_step, update, use_graph=graphed_update)

    state_name, step, epochs_done, alive = "done", 0, 0, None
    for epoch in range(1, config.epochs + 1):
        epoch_loss = torch.zeros(M, device=device)
        epoch_correct = torch.zeros(M, device=device)
        for inputs, targets in batches.epoch(epoch):
            labels = targets if R == 1 else targets.repeat(R, 1)  # [M, b]
            logits, loss, pre, post, means = run_step(inputs, labels)
            with torch.no_grad():
                members.mark_diverged(loss, step)
                freeze = always_mask or not bool(members.active.all())
                x_all, y_all = recorder.measure(step, pre, post, means, members.nonpositive)
                epoch_loss += loss * len(targets[0])
                epoch_correct += (logits.argmax(-1) == labels).sum(1)
                recorder.add_loss(loss)
            run_update(means, x_all, y_all, freeze)
            optimizer.zero_grad(set_to_none=True)
            step += 1
            recorder.after_step(step, members.diverged_step)
            if progress is not None:
                progress(step / total_steps)
            if should_stop is not None and should_stop():
                state_name = "cancelled"
                break
        if state_name == "cancelled":
            break
        # the last epoch's evaluation also finds the dead output units (one pass over the test set, not two)
        alive = torch.zeros(M, data.num_classes, dtype=torch.bool, device=device) if epoch == config.epochs else None
        test_loss, test_acc = evaluate(model, data.test_x, data.test_y, alive)
        recorder.flush(members.diverged_step)
        log.append("epoch", epoch=epoch, **_epoch_row(epoch_loss, epoch_correct, batches.n, test_loss, test_acc))
        epochs_done = epoch
    if recorder.window_count and state_name == "cancelled":
        recorder.close_window(step)
    recorder.flush(members.diverged_step)
    _record_end(log, model, members, data, epochs_done, epochs_done == config.epochs, alive)
    if progress is not None and state_name == "done":
        progress(1.0)
    metrics, seconds = log.snapshot(), time.perf_counter() - started
    if sweep:  # the caller splits the members into its grid points and summarises each
        totals = {"dataset": data.description, "device": str(device), "steps": step, "epochs": epochs_done}
        summary = {**totals, "seconds": seconds, "state": state_name}
        return RunResult(config=config, metrics=metrics, summary=summary, state=state_name)
    summary = summarize(config, metrics, seconds, device, data, steps_done=step, epochs_done=epochs_done)
    summary.update(_run_facts(config, state_name, device, share, run_step, run_update))
    return RunResult(config=config, metrics=metrics, summary=summary, state=state_name)


def _dataset(config: TrainConfig, data: Dataset | None, device: torch.device) -> Dataset:
    """``data`` (its first ``config.subset`` samples), else the config's dataset loaded onto ``device``."""
    if data is None:
        return load_dataset(config.dataset, config.data_root or None, config.subset, device)
    if config.subset and config.subset < len(data.train_y):
        return data.first(config.subset)
    return data


def _epoch_row(
    loss_sum: torch.Tensor, correct: torch.Tensor, n_train: int, test_loss: torch.Tensor, test_acc: torch.Tensor
) -> dict[str, np.ndarray]:
    """An ``epoch`` row: the mean training loss and accuracy over the epoch's batches, the evaluation's."""
    return {
        "train_loss": (loss_sum / n_train).cpu().numpy(),
        "train_acc": (correct / n_train).cpu().numpy(),
        "test_loss": test_loss.cpu().numpy(),
        "test_acc": test_acc.cpu().numpy(),
    }


def _record_end(
    log: MetricsLog,
    model: LockstepMLP,
    members: Members,
    data: Dataset,
    epochs_done: int,
    finished: bool,
    alive: torch.Tensor | None,
) -> None:
    """The static records of a run's end: the α ≤ 0 counts, and the dead output units after a finished epoch."""
    M, L = model.members, model.depth
    log.set_static(alpha_nonpositive_final=members.nonpositive.view(M, L, -1).sum(-1).cpu().numpy())
    if finished and model.output == "relu":  # the model the last evaluation saw
        log.set_static(dead_output_units=(~alive).sum(1).cpu().numpy())
    elif epochs_done:  # cancelled after a finished epoch: the model as it stopped
        log.set_static(dead_output_units=dead_output_units(model, data.test_x).cpu().numpy())


def _record_setting(
    log: MetricsLog,
    groups: list[MemberGroup],
    seeds: list[int],
    layers: int,
    batches: BatchSampler,
    total_steps: int,
    num_classes: int,
) -> None:
    """The static records a run starts with (see ``train``)."""
    rule_names = [group.rule for group in groups]
    M = len(rule_names) * len(seeds)
    log.set_static(
        rules=np.array(rule_names),
        etas=np.array([group.eta for group in groups], dtype=np.float64),
        members_rule=np.repeat(np.array(rule_names), len(seeds)),
        members_seed=np.tile(np.array(seeds), len(rule_names)),
        diverged_step=np.full(M, -1, dtype=np.int64),
        layers=np.array(layers),
        steps_per_epoch=np.array(batches.per_epoch),
        train_samples=np.array(batches.n),
        total_steps=np.array(total_steps),
        batch_size=np.array(batches.batch_size),
        num_classes=np.array(num_classes),
    )


def _run_facts(
    config: TrainConfig,
    state_name: str,
    device: torch.device,
    share: ThreadShare,
    run_step: StepRunner,
    run_update: UpdateRunner,
) -> dict[str, Any]:
    """How the run ran, for its summary: its state, threads and tanh kernel on a CPU, its CUDA graphs."""
    facts: dict[str, Any] = {"state": state_name}
    if device.type == "cpu":
        facts["threads"] = share.started_with
        if share.dropped_to is not None:
            facts["threads_dropped_to"] = share.dropped_to  # other processes took cores mid-run
        if config.activation == "tanh":
            facts["tanh_kernel"] = cpu_tanh_kernel()  # machine-dependent: results agree to float rounding
    if run_step.use_graph:
        facts["cuda_graph"] = run_step.graph_error or "captured"
    if run_update.use_graph:
        facts["cuda_graph_update"] = run_update.graph_error or ("captured" if run_update.captured else "eager")
    return facts
