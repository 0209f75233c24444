"""The hand-written forward/backward pass (``ipcore.engine.backward``) against autograd, and when each is used."""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np
import pytest
import torch
from test_train import ExplodingIP, small
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import ipcore.engine.backward as step_module
import ipcore.engine.cuda_graphs as cuda_graphs
from ipcore.engine.activations import ACTIVATIONS, Tanh, pinned_tanh_kernel
from ipcore.engine.backward import folds_coefficients, forward_backward, manual_backward_supported
from ipcore.engine.cuda_graphs import CUDA_GRAPHS_ENV, StepRunner, cuda_graph_supported
from ipcore.engine.model import LockstepMLP
from ipcore.engine.optim import FusedAdam
from ipcore.engine.rules import IP, RULES, get_rule
from ipcore.specs.rules import RULE_SPECS, RuleSpec
from ipcore.training.loop import train

ELEMENTWISE_RULES = [
    "ip",
    "wd",
    "infomax",
    "bn_inc",
    "bn_wd",
    "ip_cov",
    "wd_cov",
    "triesch",
    "ip_printed",
    "bn_inc_printed",
    "none",
]


def _model(rules: list[str], activation: str = "tanh", output: str = "relu", seeds=(3, 4)) -> LockstepMLP:
    model = LockstepMLP(12, 4, 3, 6, [get_rule(name) for name in rules], list(seeds), output, activation=activation)
    generator = torch.Generator().manual_seed(0)
    for rule, state in zip(model.rules, model.states, strict=True):
        if rule.form != "none":  # α away from 1 and β away from 0, so that u = a·x + c is really exercised
            state["alpha"].copy_(torch.rand(state["alpha"].shape, generator=generator) + 0.5)
            state["beta"].copy_(torch.randn(state["beta"].shape, generator=generator) * 0.3)
    return model


def _both_passes(model: LockstepMLP, inputs: torch.Tensor, labels: torch.Tensor):
    """(outputs, gradients) of the autograd pass and of the hand-written one, from the same model state."""
    results = []
    for manual in (False, True):
        for param in model.parameters():
            param.grad = None
        outputs = forward_backward(model, inputs, labels, manual=manual)
        results.append((outputs, [param.grad.clone() for param in model.parameters()]))
    return results


def _assert_same(model: LockstepMLP, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    (auto, auto_grads), (manual, manual_grads) = _both_passes(model, inputs, labels)
    logits, losses, pre, post, _ = auto
    logits_m, losses_m, pre_m, post_m, _ = manual
    close = dict(rtol=1e-5, atol=1e-6, equal_nan=True)
    torch.testing.assert_close(logits_m, logits, **close)
    torch.testing.assert_close(losses_m, losses, **close)
    for a, b in zip(pre + post, pre_m + post_m, strict=True):
        torch.testing.assert_close(b, a, **close)
    for i, (a, b) in enumerate(zip(auto_grads, manual_grads, strict=True)):
        assert a.shape == b.shape and b.is_contiguous(), i
        torch.testing.assert_close(b, a, **close, msg=lambda text, i=i: f"parameter {i}: {text}")


def _batch(model: LockstepMLP, batch: int = 9):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(model.num_seeds, batch, model.input_dim, generator=generator) * 2
    labels = torch.randint(0, model.num_classes, (model.num_seeds, batch), generator=generator)
    return inputs, labels.repeat(model.num_rules, 1)


@pytest.mark.parametrize("rule", ELEMENTWISE_RULES)
def test_hand_written_pass_equals_autograd_for_every_elementwise_rule(rule):
    model = _model([rule])
    assert manual_backward_supported(model)
    _assert_same(model, *_batch(model))


@pytest.mark.parametrize("output", ["relu", "linear"])
def test_hand_written_pass_equals_autograd_for_mixed_rule_groups(output):
    model = _model(["ip", "none", "infomax", "wd"], output=output, seeds=(3, 4, 5))
    _assert_same(model, *_batch(model))


def test_hand_written_pass_equals_autograd_with_each_tanh_kernel(tanh_kernel):
    model = _model(["ip", "none", "infomax"])
    _assert_same(model, *_batch(model))


@pytest.mark.parametrize("activation", ["logistic", "relu"])
def test_hand_written_pass_equals_autograd_for_other_activations(activation):
    model = _model(["ip", "none", "bn_wd"], activation=activation)
    _assert_same(model, *_batch(model))


def test_an_unregistered_activation_goes_through_its_derivative_from_output():
    class SoftTanh(Tanh):
        """A subclass the fused kernels do not know: its own value and derivative must be used."""

        name = "soft_tanh"

        def apply(self, u):
            return torch.tanh(u / 2)

        def value(self, u):
            return torch.tanh(u / 2)

        def derivative_from_output(self, y):
            return (1 - y * y) / 2

    model = _model(["ip", "wd"])
    model.activation = SoftTanh()
    _assert_same(model, *_batch(model))


def test_a_member_with_a_nan_loss_leaves_the_others_gradients_as_autograd_gives_them():
    model = _model(["ip", "wd"], seeds=(3, 4, 5))
    model.states[0]["beta"][1, 2] = float("nan")  # member 1 (rule ip, seed 4): NaN from its first layer on
    inputs, labels = _batch(model)
    _assert_same(model, inputs, labels)
    _, losses, _, _, _ = forward_backward(model, inputs, labels, manual=True)
    assert torch.isnan(losses[1]) and torch.isfinite(losses[[0, 2, 3, 4, 5]]).all()


@pytest.mark.parametrize("rules", [["batchnorm"], ["ip", "ip_hard"], ["ip", "batchnorm", "none"]])
def test_rules_that_need_autograd_fall_back_to_it(rules):
    model = _model(rules)
    assert not manual_backward_supported(model)
    inputs, labels = _batch(model)
    forward_backward(model, inputs, labels)  # chooses autograd
    assert all(param.grad is not None for param in model.parameters())
    with pytest.raises(ValueError, match="elementwise rules"):
        forward_backward(model, inputs, labels, manual=True)


def test_training_through_either_pass_records_the_same_run(monkeypatch):
    """Whole runs — divergence and freezing included — agree to float rounding whichever pass trains them."""
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)
    config = small(rules=["exploding_ip", "ip", "wd", "none", "infomax"], seeds=3, depth=3)
    manual = train(config).metrics
    monkeypatch.setattr(step_module, "manual_backward_supported", lambda model: False)
    auto = train(config).metrics
    np.testing.assert_array_equal(manual["diverged_step"], [4, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(manual["diverged_step"], auto["diverged_step"])
    for key in ("batch/loss", "epoch/test_loss", "epoch/train_acc", "layer/alpha_mean", "layer/grad_y_u"):
        np.testing.assert_allclose(manual[key], auto[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_fused_adam_is_torch_adam_bit_for_bit_and_freezes_like_it():
    generator = torch.Generator().manual_seed(2)
    ours = [torch.randn(4, 5, 3, generator=generator).requires_grad_(), torch.randn(4, 1, 3).requires_grad_()]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    optimizers = [FusedAdam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01, fused=True)]
    for step in range(4):
        grads = [torch.randn(p.shape, generator=generator) for p in ours]
        for params, optimizer in zip((ours, theirs), optimizers, strict=True):
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad.clone()
            if step == 2:  # what freeze_members does to a frozen member: zero gradient and first moment
                for param in params:
                    param.grad[0] = 0.0
                    optimizer.state[param]["exp_avg"][0] = 0.0
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b) and a.grad is None
    frozen_before = ours[0][0].detach().clone()
    ours[0].grad = torch.zeros_like(ours[0])
    optimizers[0].state[ours[0]]["exp_avg"].zero_()
    optimizers[0].step()
    assert torch.equal(ours[0][0], frozen_before)  # zero gradient and zero first moment: exactly no move


def test_the_cuda_graph_is_chosen_only_for_cuda_models_with_the_hand_written_pass(monkeypatch):
    monkeypatch.delenv(CUDA_GRAPHS_ENV, raising=False)
    model = _model(["ip", "none"])
    assert not cuda_graph_supported(model) and not StepRunner(model).use_graph  # a CPU model
    model.device = torch.device("cuda")  # only the device it says it is on: nothing runs here
    assert cuda_graph_supported(model)
    monkeypatch.setenv(CUDA_GRAPHS_ENV, "0")
    assert not cuda_graph_supported(model)
    monkeypatch.delenv(CUDA_GRAPHS_ENV)
    autograd_only = _model(["ip", "batchnorm"])
    autograd_only.device = torch.device("cuda")
    assert not cuda_graph_supported(autograd_only)


def test_the_step_runner_on_a_cpu_is_the_plain_pass():
    model = _model(["ip", "wd"])
    inputs, labels = _batch(model)
    runner = StepRunner(model)
    for param in model.parameters():
        param.grad = None
    logits, losses, _, post, _ = runner(inputs, labels)
    grads = [param.grad.clone() for param in model.parameters()]
    assert not runner.captured
    for param in model.parameters():
        param.grad = None
    expected = forward_backward(model, inputs, labels)
    assert (
        torch.equal(logits, expected[0]) and torch.equal(losses, expected[1]) and torch.equal(post[-1], expected[3][-1])
    )
    assert all(torch.equal(a, param.grad) for a, param in zip(grads, model.parameters(), strict=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("exploding", ["exploding_ip", "exploding_moments_ip"])
def test_training_replayed_from_a_cuda_graph_equals_eager_training(monkeypatch, exploding):
    """Run on a GPU machine (bench/gpu_speed.sh): the captured pass, the eager last batch of each epoch and the
    rule updates between replays — eager where a rule updates from the whole x and y (``exploding_ip``), a graph
    of their own where every rule updates from the means — give the run the eager steps give."""
    rule_class = {"exploding_ip": ExplodingIP, "exploding_moments_ip": ExplodingMomentsIP}[exploding]
    monkeypatch.setitem(RULE_SPECS, exploding, rule_class.spec)
    monkeypatch.setitem(RULES, exploding, rule_class)
    config = small(rules=[exploding, "ip", "none", "infomax"], seeds=3, depth=3, subset=290, eta_decay=0.01)
    config = dataclasses.replace(config, device="cuda")  # 290 samples: each epoch ends with a batch of 40
    graphed = train(config)
    assert graphed.summary["cuda_graph"] == "captured"
    if exploding == "exploding_moments_ip":
        assert graphed.summary["cuda_graph_update"] == "captured"
    else:
        assert "cuda_graph_update" not in graphed.summary
    monkeypatch.setenv(CUDA_GRAPHS_ENV, "0")
    eager = train(config)
    assert "cuda_graph" not in eager.summary and "cuda_graph_update" not in eager.summary
    np.testing.assert_array_equal(graphed.metrics["diverged_step"], eager.metrics["diverged_step"])
    for key in ("batch/loss", "epoch/test_loss", "layer/alpha_mean", "layer/grad_y_u"):
        np.testing.assert_allclose(graphed.metrics[key], eager.metrics[key], rtol=1e-4, atol=1e-5, err_msg=key)


class TapeGraph:
    """A CPU stand-in for ``torch.cuda.CUDAGraph`` with its semantics: capturing records every aten operation
    (a dispatch mode) and runs only what a real capture leaves no trace of — operations writing into tensors that
    existed before the capture are recorded but not run, as a CUDA capture records kernels without running them.
    A replay runs the same operations, with the same arguments, into the same memory: each out-of-place result
    copied into the tensor the capture made, in-place ones acting on theirs again, views left as the aliases they
    are. Whatever the captured code took from Python (a number, a tensor it later replaces) stays frozen, as in a
    real graph."""

    def __init__(self):
        self.tape: list[tuple] = []

    @torch.no_grad()
    def replay(self) -> None:
        for func, args, kwargs, result in self.tape:
            schema = func._schema
            if schema.is_mutable or any(r.alias_info is not None for r in schema.returns):
                func(*args, **kwargs)  # in place (or a view of what is already there)
                continue
            fresh = func(*args, **kwargs)
            for old, new in zip(tree_leaves(result), tree_leaves(fresh), strict=True):
                if isinstance(old, torch.Tensor):
                    old.copy_(new)


def _storages(values) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tree_leaves(values) if isinstance(t, torch.Tensor)}


class _Recording(TorchDispatchMode):
    def __init__(self, graph: TapeGraph):
        super().__init__()
        self.graph = graph
        self.made: set[int] = set()  # storages the capture itself made

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        schema = func._schema
        written = [
            args[i] if i < len(args) else kwargs.get(argument.name)
            for i, argument in enumerate(schema.arguments)
            if argument.alias_info is not None and argument.alias_info.is_write
        ]
        if written and not _storages(written) <= self.made:  # would change what was there before the capture
            assert all(r.alias_info is not None for r in schema.returns), func
            result = written[0] if len(schema.returns) == 1 else None
        else:
            result = func(*args, **kwargs)
            if not schema.is_mutable and not any(r.alias_info is not None for r in schema.returns):
                self.made |= _storages(result)
        self.graph.tape.append((func, args, kwargs, result))
        return result


def _tape_graphs(monkeypatch) -> None:
    """``StepRunner`` on a CPU model captures into ``TapeGraph`` s (its streams: no-ops)."""

    class Stream:
        def __init__(self, device=None):
            pass

        def wait_stream(self, other) -> None:
            pass

    @contextlib.contextmanager
    def graph(tape: TapeGraph, capture_error_mode: str = "global"):
        with _Recording(tape):
            yield

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", TapeGraph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(cuda_graphs, "cuda_graph_supported", manual_backward_supported)


class ExplodingMomentsIP(IP):
    """IP from the batch means whose first member's β turns NaN at its 3rd update (the batch loss of step 4 is
    NaN), chosen by tensor operations on the step count, so that a captured update keeps choosing it."""

    name = "exploding_moments_ip"
    spec = RuleSpec(name, "IP whose β explodes", 1e-4, 1e-3)

    def step_from_moments(self, state, means, eta):
        alpha, beta = super().step_from_moments(state, means, eta)
        first = torch.zeros_like(beta, dtype=torch.bool)
        first[0] = True
        return alpha, torch.where(first & (torch.as_tensor(state["t"]) == 3), math.nan, beta)


@pytest.mark.parametrize(
    "rules", [["exploding_moments_ip", "ip", "none", "infomax"], ["wd", "ip_cov", "wd_cov", "ip_printed"]]
)
def test_training_replayed_from_captured_graphs_equals_eager_training_on_the_cpu(monkeypatch, rules):
    """The CUDA-graph path of a GPU step, run on the CPU with ``TapeGraph`` standing in for the GPU's graphs: the
    pass (``StepRunner``: capture after warm-up, the batch copied into the captured inputs, gradients handed back
    from the captured memory, a smaller last batch run eagerly) and the update after it (``UpdateRunner``:
    freezing, the rules with their step counts on the device, the α ≤ 0 count, Adam; eager after an eager pass),
    with a member diverging and η decaying. The run equals the eager one to the bit. What the GPU itself adds
    (kernels, streams) is left to ``test_training_replayed_from_a_cuda_graph_equals_eager_training``."""
    import ipcore.training.loop as train_module

    monkeypatch.setitem(RULE_SPECS, "exploding_moments_ip", ExplodingMomentsIP.spec)
    monkeypatch.setitem(RULES, "exploding_moments_ip", ExplodingMomentsIP)
    monkeypatch.setattr(train_module, "freeze_every_step", lambda device: True)  # as on a GPU, in both runs
    config = small(rules=rules, seeds=3, depth=3, subset=290, eta_decay=0.01)  # each epoch ends with a batch of 40
    eager = train(config)
    _tape_graphs(monkeypatch)
    replays: dict[int, int] = {}
    plain_replay = TapeGraph.replay

    def counted_replay(graph: TapeGraph) -> None:
        replays[id(graph)] = replays.get(id(graph), 0) + 1
        plain_replay(graph)

    monkeypatch.setattr(TapeGraph, "replay", counted_replay)
    replayed = train(config)
    assert "cuda_graph" not in eager.summary and "cuda_graph_update" not in eager.summary
    assert replayed.summary["cuda_graph"] == replayed.summary["cuda_graph_update"] == "captured"
    # 5 full batches an epoch: the pass replayed at each (the first right after its capture); the update eager
    # for its 2 warm-up steps and after each epoch's smaller, eager batch
    assert sorted(replays.values()) == [2 * 5 - 2, 2 * 5]
    for key in ("diverged_step", "batch/loss", "epoch/test_loss", "layer/alpha_mean", "layer/grad_y_u", "hist/hist"):
        np.testing.assert_array_equal(replayed.metrics[key], eager.metrics[key], err_msg=key)
    if "exploding_moments_ip" in rules:
        assert list(eager.metrics["diverged_step"]).count(4) == 1  # seed 0 of the exploding rule, then frozen


def test_a_pass_that_froze_a_replaced_tensor_shows_in_the_replayed_run(monkeypatch):
    """The stand-in can fail: a rule update that replaces α instead of writing into it leaves the captured pass
    reading the old α, and the replayed run parts from the eager one."""
    from ipcore.engine.rules import Rule

    plain_write = Rule._write

    def replacing_write(state, step, active):
        plain_write(state, step, active)
        state["alpha"] = state["alpha"].clone()  # the same values, other memory

    config = small(rules=["ip"], seeds=2, depth=3, subset=300)
    unchanged = train(config)
    monkeypatch.setattr(Rule, "_write", staticmethod(replacing_write))
    eager = train(config)
    np.testing.assert_array_equal(eager.metrics["batch/loss"], unchanged.metrics["batch/loss"])  # eagerly: no harm
    _tape_graphs(monkeypatch)
    replayed = train(config)
    assert not np.array_equal(replayed.metrics["batch/loss"], eager.metrics["batch/loss"])


MOMENT_RULES = ["ip", "ip_cov", "ip_printed", "wd", "wd_cov", "infomax"]


def test_the_pass_takes_the_batch_means_the_rules_ask_for():
    model = _model(MOMENT_RULES + ["none"])
    assert model.moments == ("xy", "y", "x") and model.distances_from_moments
    inputs, labels = _batch(model)
    for manual in (True, False):
        for param in model.parameters():
            param.grad = None
        _, _, pre, post, means = forward_backward(model, inputs, labels, manual=manual, moments=model.moments)
        x_all, y_all = model.stack_layers(pre), model.stack_layers(post)
        expected = {"x": x_all.mean(1), "y": y_all.mean(1), "xy": (x_all * y_all).mean(1)}
        assert set(means) == set(expected)
        for name, value in expected.items():
            torch.testing.assert_close(means[name], value, rtol=1e-6, atol=1e-7, msg=name)
    assert _model(["ip", "bn_inc"]).moments is None  # bn_inc needs σ[x]: the whole x
    assert _model(["none"]).moments == ()


def test_a_rule_whose_step_is_overridden_is_updated_from_x_and_y():
    assert get_rule("ip").steps_from_moments and not ExplodingIP().steps_from_moments
    assert get_rule("ip").measures_from_moments and not get_rule("bn_inc").measures_from_moments
    assert _model(["ip"]).moments == ("xy", "y")
    model = LockstepMLP(12, 4, 3, 6, [ExplodingIP()], [3], "relu")
    assert model.moments is None


def test_training_from_the_pass_means_equals_training_from_x_and_y(monkeypatch):
    """The same run whether the rules update from the means taken in the pass or from the stacked x and y."""
    config = small(rules=MOMENT_RULES + ["none"], seeds=2, depth=3)
    from_means = train(config).metrics
    monkeypatch.setattr(LockstepMLP, "moments", property(lambda self: None))
    from_layers = train(config).metrics
    keys = ["batch/loss", "epoch/test_loss", "layer/alpha_mean", "layer/beta_std", "layer/alpha_distance"]
    keys += ["layer/beta_distance", "layer/entropy"]
    for key in keys:
        np.testing.assert_allclose(from_means[key], from_layers[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert np.isnan(from_means["layer/alpha_distance"][:, -2:]).all()  # the two `none` members: no fixed point


@pytest.mark.parametrize("rules", [["ip"], MOMENT_RULES + ["none"], ["infomax", "wd"], ["ip", "bn_inc"], ["none"]])
def test_folding_a_and_c_into_the_hidden_weights_changes_only_rounding(rules):
    """keep_pre=False: u = y W′ + b′ with W′ = W ⊙ a, b′ = a ⊙ b + c for the hidden layers, the means from u."""
    model = _model(rules, seeds=(3, 4, 5))
    inputs, labels = _batch(model)
    moments = model.moments or ()
    runs = []
    for keep_pre in (True, False):
        for param in model.parameters():
            param.grad = None
        outputs = forward_backward(model, inputs, labels, manual=True, moments=moments, keep_pre=keep_pre)
        runs.append((outputs, [param.grad.clone() for param in model.parameters()]))
    (kept, kept_grads), (folded, folded_grads) = runs
    assert len(kept.pre) == model.depth and folded.pre == []
    close = dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(folded.logits, kept.logits, **close)
    torch.testing.assert_close(folded.losses, kept.losses, **close)
    for a, b in zip(kept.post, folded.post, strict=True):
        torch.testing.assert_close(b, a, **close)
    assert set(folded.means) == set(kept.means) == set(moments)
    for name in moments:
        torch.testing.assert_close(folded.means[name], kept.means[name], **close, msg=name)
    for i, (a, b) in enumerate(zip(kept_grads, folded_grads, strict=True)):
        torch.testing.assert_close(b, a, **close, msg=lambda text, i=i: f"parameter {i}: {text}")


def test_only_rules_of_the_divide_form_are_folded():
    assert folds_coefficients(_model(["ip", "none"])) and folds_coefficients(_model(MOMENT_RULES[:-1]))
    assert not folds_coefficients(_model(["ip", "infomax"]))  # u = αx + β: α may come near 0
    assert not folds_coefficients(_model(["none"]))  # nothing to fold


def test_a_member_with_a_nan_alpha_leaves_the_others_alone_when_folded():
    model = _model(["ip", "wd"], seeds=(3, 4, 5))
    model.states[0]["alpha"][1] = float("nan")  # member 1 (ip, seed 4)
    inputs, labels = _batch(model)
    runs = []
    for keep_pre in (True, False):
        for param in model.parameters():
            param.grad = None
        outputs = forward_backward(model, inputs, labels, manual=True, moments=model.moments, keep_pre=keep_pre)
        runs.append((outputs, [param.grad.clone() for param in model.parameters()]))
    (kept, kept_grads), (folded, folded_grads) = runs
    assert torch.isnan(folded.losses[1]) and torch.isnan(kept.losses[1])
    others = [0, 2, 3, 4, 5]
    torch.testing.assert_close(folded.losses[others], kept.losses[others], rtol=1e-5, atol=1e-6)
    for name in model.moments:
        torch.testing.assert_close(folded.means[name][others], kept.means[name][others], rtol=1e-5, atol=1e-6)
    hidden = [i for i, p in enumerate(model.parameters()) if p.dim() == 3 and p.shape[0] == model.members]
    for i in hidden:  # the per-member hidden weights and biases
        torch.testing.assert_close(folded_grads[i][others], kept_grads[i][others], rtol=1e-5, atol=1e-6)


def test_training_folds_only_when_no_layer_x_is_needed(monkeypatch):
    import ipcore.training.loop as train_module

    chosen = []

    class Recording(StepRunner):
        def __init__(self, model, *args, keep_pre=True, **kwargs):
            chosen.append(keep_pre)
            super().__init__(model, *args, keep_pre=keep_pre, **kwargs)

    monkeypatch.setattr(train_module, "StepRunner", Recording)
    train(small(rules=["ip", "none"], seeds=1, depth=2))
    train(small(rules=["ip", "bn_inc"], seeds=1, depth=2))  # bn_inc updates from the whole x
    monkeypatch.setitem(RULE_SPECS, "exploding_ip", ExplodingIP.spec)
    monkeypatch.setitem(RULES, "exploding_ip", ExplodingIP)
    train(small(rules=["exploding_ip"], seeds=1, depth=2))  # its own step, from x and y
    assert chosen == [False, True, True]


@pytest.mark.parametrize("rules", [["ip", "wd", "none"], ["infomax", "bn_inc"]])
@pytest.mark.parametrize("keep_pre", [True, False])
def test_feeding_the_logistic_tanh_its_doubled_argument_changes_no_bit(monkeypatch, rules, keep_pre):
    """With tanh(u) = 2σ(2u) − 1 as the kernel, the pass puts the 2 on the coefficients it multiplies by anyway (a,
    c, the folded weights' product); doubling is exact, so outputs, means and gradients equal the plain pass's."""
    model = _model(rules, seeds=(3, 4, 5))
    inputs, labels = _batch(model)
    runs = []
    with pinned_tanh_kernel("logistic"):
        for doubled in (True, False):
            monkeypatch.setattr(step_module, "_doubles_tanh_argument", lambda activation, like, on=doubled: on)
            for param in model.parameters():
                param.grad = None
            outputs = forward_backward(
                model, inputs, labels, manual=True, moments=model.moments or (), keep_pre=keep_pre
            )
            runs.append((outputs, [param.grad.clone() for param in model.parameters()]))
    (doubled, doubled_grads), (plain, plain_grads) = runs
    doubled_outputs = [*doubled.post, doubled.logits, doubled.losses]
    for a, b in zip(doubled_outputs, [*plain.post, plain.logits, plain.losses], strict=True):
        assert torch.equal(a, b)
    assert doubled.means.keys() == plain.means.keys()
    for name in plain.means:
        assert torch.equal(doubled.means[name], plain.means[name]), name
    for i, (a, b) in enumerate(zip(doubled_grads, plain_grads, strict=True)):
        assert torch.equal(a, b), i


def test_the_doubled_argument_is_used_only_for_the_registered_tanh_on_its_logistic_kernel():
    tanh, logistic = Tanh(), ACTIVATIONS["logistic"]()
    cpu = torch.zeros(2)
    with pinned_tanh_kernel("logistic"):
        assert step_module._doubles_tanh_argument(tanh, cpu)
        assert not step_module._doubles_tanh_argument(logistic, cpu)
        assert not step_module._doubles_tanh_argument(tanh, cpu.double())  # float64 keeps torch.tanh
    with pinned_tanh_kernel("torch"):
        assert not step_module._doubles_tanh_argument(tanh, cpu)


@pytest.mark.parametrize("rules", [["ip"], ["ip", "bn_inc", "none"]])
def test_the_hand_written_pass_hands_out_units_by_batch_layers_that_stack_in_place_of_a_gather(rules):
    """The pass holds its layers units × batch and hands them out as transposed views: ``stack_layers`` joins
    them in that layout, to the same values as joining contiguous copies; the logits come out batch-major."""
    model = _model(rules)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(model.num_seeds, 5, 12, generator=generator)
    labels = torch.randint(0, 4, (model.members, 5), generator=generator)
    outputs = forward_backward(model, inputs, labels, manual=True, keep_pre=True)
    assert outputs.logits.is_contiguous()
    for layers in (outputs.pre, outputs.post):
        assert all(t.shape == (model.members, 5, 6) and not t.is_contiguous() for t in layers)
        stacked = model.stack_layers(layers)
        assert stacked.shape == (model.members, 5, 3 * 6) and stacked.transpose(1, 2).is_contiguous()
        assert torch.equal(stacked, torch.cat([t.contiguous() for t in layers], dim=-1))
    contiguous = [t.contiguous() for t in outputs.post]
    assert model.stack_layers(contiguous).is_contiguous()  # the autograd pass's layers: joined as before
