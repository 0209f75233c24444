"""The step of a lockstep training as CUDA graphs on a GPU: the pass (``StepRunner``) and the update after it
(``UpdateRunner``), each captured once and replayed every step, so a step costs two graph launches instead of
more than a hundred small kernel launches. On a CPU, or where a capture fails, both run eagerly and give the
same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from ipcore.engine.backward import StepOutputs, forward_backward, manual_backward_supported, manual_forward_backward
from ipcore.engine.model import LockstepMLP

CUDA_GRAPHS_ENV = "IPCORE_CUDA_GRAPHS"
"""Set to 0 to run every step eagerly on a GPU (the CUDA graph is on by default where it can be used)."""


def cuda_graph_supported(model: LockstepMLP) -> bool:
    """Whether ``StepRunner`` replays ``model``'s forward/backward pass from a CUDA graph: a CUDA model whose
    pass is the hand-written one (autograd's pass cannot be captured as it is), unless ``IPCORE_CUDA_GRAPHS=0``."""
    return (
        model.device.type == "cuda"
        and manual_backward_supported(model)
        and os.environ.get(CUDA_GRAPHS_ENV, "1").strip() != "0"
    )


class StepRunner:
    """``forward_backward`` for one model, captured once as a CUDA graph on a GPU and replayed every step.

    On a GPU the deep MNIST step is bound by kernel launches (~100 small kernels for the pass alone): a graph
    launches them all at once. The hand-written pass has fixed shapes, reads parameters and rule states only
    through tensors updated in place (Adam, ``Rule.update``), and never waits for the host, so its graph stays
    valid for the whole run. Batches of another size (an epoch's last, smaller batch) run eagerly. The outputs
    live in the graph's memory and are overwritten by the next replay; the training loop uses them within the
    step. Anywhere else (CPU, autograd fallback, ``IPCORE_CUDA_GRAPHS=0``) it is ``forward_backward``; if the
    capture fails, it says why once (``graph_error``) and runs eagerly from then on.
    """

    warmup_steps = 2

    def __init__(
        self,
        model: LockstepMLP,
        use_graph: bool | None = None,
        moments: tuple[str, ...] = (),
        keep_pre: bool = True,
    ):
        self.model = model
        self.moments = moments
        self.keep_pre = keep_pre
        self.use_graph = cuda_graph_supported(model) if use_graph is None else use_graph
        self.graph_error: str | None = None
        self._graph: Any = None
        self._static: tuple[torch.Tensor, torch.Tensor] | None = None
        self._outputs: StepOutputs | None = None
        self._grads: list[torch.Tensor] = []
        self.replayed_last = False  # whether the last call's outputs came from the graph (``UpdateRunner`` asks)

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor) -> StepOutputs:
        self.replayed_last = False
        if not self.use_graph or self.graph_error is not None:
            return forward_backward(self.model, inputs, labels, moments=self.moments, keep_pre=self.keep_pre)
        if self._graph is None:
            try:
                self._capture(inputs, labels)
            except RuntimeError as error:  # e.g. an operation that cannot be captured on this torch/driver
                self.graph_error = _first_line(error)
                for param in self.model.parameters():
                    param.grad = None
                return forward_backward(self.model, inputs, labels, moments=self.moments, keep_pre=self.keep_pre)
        static_inputs, static_labels = self._static
        if inputs.shape != static_inputs.shape or labels.shape != static_labels.shape:
            return forward_backward(self.model, inputs, labels, moments=self.moments, keep_pre=self.keep_pre)
        static_inputs.copy_(inputs)
        static_labels.copy_(labels)
        self._graph.replay()
        self.replayed_last = True
        for param, grad in zip(self.model.parameters(), self._grads, strict=True):
            param.grad = grad
        return self._outputs

    def _capture(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        """torch's recipe: warm up on a side stream (cuBLAS handles, allocator), then capture one pass."""
        params = self.model.parameters()
        static_inputs, static_labels = inputs.clone(), labels.clone()
        side = torch.cuda.Stream(device=self.model.device)
        side.wait_stream(torch.cuda.current_stream(self.model.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup_steps):
                for param in params:
                    param.grad = None
                manual_forward_backward(self.model, static_inputs, static_labels, self.moments, self.keep_pre)
        torch.cuda.current_stream(self.model.device).wait_stream(side)
        for param in params:
            param.grad = None
        graph = torch.cuda.CUDAGraph()
        # thread_local: the app trains several jobs as threads of one process; a global capture would make their
        # CUDA calls during this capture fail
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            outputs = manual_forward_backward(self.model, static_inputs, static_labels, self.moments, self.keep_pre)
        self._grads = [param.grad for param in params]
        self._graph, self._static, self._outputs = graph, (static_inputs, static_labels), outputs


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]


class UpdateRunner:
    """The rest of a training step after the pass and the records — ``update(means, *args)``: freezing diverged
    members, the rule updates from the pass's batch means, the α ≤ 0 count, Adam — captured as a second CUDA
    graph where the pass is one (``StepRunner``), and replayed after every replayed pass. On a GPU these are about
    80 small kernels a step (``bench/bench_train.py``'s LAUNCHES), and the rule update among them is what ``ip``
    adds to a step of ``none``.

    The graph reads the batch means from the pass's captured outputs, so it replays only right after a replayed
    pass: after an eager one (a smaller last batch) the update runs eagerly. A number the update takes from Python
    would be frozen into the graph, so ``use_graph`` is for the caller to grant only where none changes: the
    optimizer is ``FusedAdam`` (its step counts live on the device), the freezing runs at every step
    (``optim.freeze_every_step``) and the rules update from the means; the rules' own step counts ``t`` are made
    float64 numbers on the device before the capture (``rules.adam_step``: the same values). The first
    ``warmup_steps`` updates run eagerly (they make Adam's buffers). Capturing records the kernels without running
    them; the replay right after runs them. A capture that fails says why once (``graph_error``) and the update
    runs eagerly from then on.
    """

    warmup_steps = 2

    def __init__(
        self, model: LockstepMLP, step_runner: StepRunner, update: Callable[..., None], use_graph: bool = False
    ):
        self.model = model
        self.step_runner = step_runner
        self.update = update
        self.use_graph = use_graph and step_runner.use_graph
        self.graph_error: str | None = None
        self._graph: Any = None
        self._eager_updates = 0

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def __call__(self, means: dict[str, torch.Tensor], *args: Any) -> None:
        graphable = self.use_graph and self.graph_error is None and self.step_runner.replayed_last
        if graphable and self._graph is None and self._eager_updates >= self.warmup_steps:
            try:
                self._capture(means, *args)
            except RuntimeError as error:
                self.graph_error = _first_line(error)
        if graphable and self._graph is not None:
            self._graph.replay()
            return
        self.update(means, *args)
        self._eager_updates += 1

    def _capture(self, means: dict[str, torch.Tensor], *args: Any) -> None:
        for state in self.model.states:
            if not isinstance(state["t"], torch.Tensor):
                state["t"] = torch.tensor(float(state["t"]), dtype=torch.float64, device=self.model.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # thread_local: see StepRunner._capture
            self.update(means, *args)
        self._graph = graph
