"""The recorder of a training run: which steps are measured, and moving the rows into the ``MetricsLog``.

Rows are computed on the device and kept there (a host copy per step would wait for every queued kernel); they
move to the host and into the log in chunks, at most every ``FLUSH_SECONDS`` and at every epoch's end. At most
``MAX_LOSS_ROWS`` loss rows, ``MAX_LAYER_ROWS`` layer rows and ``MAX_HIST_ROWS`` histograms are kept per run, so a
long run's records stay small (``recording_intervals``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ipcore.config import TrainConfig
from ipcore.engine.model import LockstepMLP
from ipcore.results.metrics_log import MetricsLog
from ipcore.training.measure import layer_statistics
from ipcore.training.resources import ThreadShare

MAX_LOSS_ROWS = 2000
MAX_LAYER_ROWS = 200
MAX_HIST_ROWS = 30
MAX_HIST_ROWS_EXPLICIT = 1000  # an explicit hist_every still keeps memory bounded
FLUSH_SECONDS = 1.0
EARLY_FLUSH_SECONDS, EARLY_SECONDS = 0.2, 5.0
"""The recorder flushes after the first step, then every 0.2 s for the run's first 5 s (a live chart gets its
first points at once and then fills smoothly), then every second."""


def recording_intervals(config: TrainConfig, total_steps: int) -> tuple[int, int, int]:
    """(loss, layer, histogram) intervals in steps. Automatic (0): ≤ 2000 loss rows, ≤ 200 layer rows,
    ≤ 30 histogram rows. Layer rows are never denser than loss rows; histograms never more than 1000."""
    log_every = config.log_every or max(1, math.ceil(total_steps / MAX_LOSS_ROWS))
    layer_every = max(log_every, math.ceil(total_steps / MAX_LAYER_ROWS))
    if config.hist_every:
        hist_every = max(config.hist_every, math.ceil(total_steps / MAX_HIST_ROWS_EXPLICIT))
    else:
        hist_every = max(1, math.ceil(total_steps / MAX_HIST_ROWS))
    return log_every, layer_every, hist_every


class Recorder:
    """One run's ``batch``, ``layer`` and ``hist`` rows on their way from the device into ``log``.

    ``measure`` takes a step's layer statistics when that step is due; ``add_loss`` sums the step's losses into
    the current window, which ``after_step`` closes every ``log_every`` steps; ``flush`` moves what is pending
    into the log, publishes newly diverged members (``diverged_step``) and lets ``share`` give threads back.
    """

    def __init__(
        self,
        log: MetricsLog,
        model: LockstepMLP,
        config: TrainConfig,
        total_steps: int,
        steps_per_epoch: int,
        share: ThreadShare,
    ) -> None:
        self.log, self.model, self.share = log, model, share
        # rules that update from the whole x and y (not from batch means) need the layers at every step
        self.updates_need_layers = model.any_updates and model.moments is None
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.log_every, self.layer_every, self.hist_every = recording_intervals(config, total_steps)
        self.loss_rows: list[tuple[int, float, torch.Tensor]] = []
        self.layer_rows: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.hist_rows: list[tuple[int, torch.Tensor]] = []
        self.window_loss = torch.zeros(model.members, device=model.device)
        self.window_count = 0
        self.known_diverged = np.full(model.members, -1, dtype=np.int64)
        self.last_flush = time.perf_counter()
        self.early_until = 0.0  # flushes come faster until then (set at the first step)

    @torch.no_grad()
    def measure(
        self,
        step: int,
        pre: list[torch.Tensor],
        post: list[torch.Tensor],
        means: dict[str, torch.Tensor],
        nonpositive: torch.Tensor,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Record step ``step``'s layer row and histogram when they are due; returns the stacked layers' x and y
        (``[M, B, L·H]``) where this step's rule updates or measurements need them, else None."""
        layers = step % self.layer_every == 0 or step == self.total_steps - 1
        hist = step % self.hist_every == 0 or step == self.total_steps - 1
        model = self.model
        needs_y = self.updates_need_layers or layers or hist
        needs_x = self.updates_need_layers or (layers and not model.distances_from_moments)
        y_all = model.stack_layers(post) if needs_y else None
        x_all = model.stack_layers(pre) if needs_x else None
        if layers or hist:
            row = layer_statistics(model, y_all, nonpositive, hist, x_all, means, layers)
            if hist:
                self.hist_rows.append((step, row.pop("hist")))
            if layers:
                self.layer_rows.append((step, row))
        return x_all, y_all

    def add_loss(self, loss: torch.Tensor) -> None:
        """Add a step's ``[M]`` batch losses to the window of the next loss row."""
        self.window_loss += loss
        self.window_count += 1

    def close_window(self, step: int) -> None:
        """A loss row at ``step``: the mean batch loss since the previous row."""
        self.loss_rows.append((step, step / self.steps_per_epoch, self.window_loss / self.window_count))
        self.window_loss = torch.zeros_like(self.window_loss)
        self.window_count = 0

    def after_step(self, step: int, diverged_step: torch.Tensor) -> None:
        """After ``step`` steps: a loss row when one is due, a flush when the last is ``FLUSH_SECONDS`` old."""
        if step % self.log_every == 0 or step == self.total_steps or step == 1:  # step 1: a live chart's first point
            self.close_window(step)
        now = time.perf_counter()
        if step == 1:
            self.early_until = now + EARLY_SECONDS
        if step == 1 or now - self.last_flush > (EARLY_FLUSH_SECONDS if now < self.early_until else FLUSH_SECONDS):
            self.flush(diverged_step)

    def flush(self, diverged_step: torch.Tensor) -> None:
        """Move the pending rows into the log, publish ``diverged_step`` when it changed, check the threads."""
        if self.loss_rows:
            losses = torch.stack([t for _, _, t in self.loss_rows]).cpu().numpy()
            for (step, epoch, _), loss in zip(self.loss_rows, losses, strict=True):
                self.log.append("batch", step=step, epoch=epoch, loss=loss)
        if self.layer_rows:
            names = list(self.layer_rows[0][1])
            stacked = {k: torch.stack([row[k] for _, row in self.layer_rows]).cpu().numpy() for k in names}
            for i, (step, _) in enumerate(self.layer_rows):
                self.log.append("layer", step=step, **{k: stacked[k][i] for k in names})
        if self.hist_rows:
            hists = torch.stack([h for _, h in self.hist_rows]).cpu().numpy()
            for (step, _), hist in zip(self.hist_rows, hists, strict=True):
                self.log.append("hist", step=step, hist=hist)
        self.loss_rows, self.layer_rows, self.hist_rows = [], [], []
        self.last_flush = time.perf_counter()
        current = diverged_step.cpu().numpy()
        if not np.array_equal(current, self.known_diverged):
            self.known_diverged = current
            self.log.set_static(diverged_step=current.copy())
        self.share.check()
