"""The layer records' ∂y/∂x beside ∂y/∂u (issue: ∂y/∂u = 1 − y² is not the factor backprop applies).

Through u = (x − β)/α the gradient reaching x is multiplied by (1 − y²)/α; through Infomax's u = αx + β by
(1 − y²)·α; without a rule by 1 − y². ``layer_statistics`` records both, per layer, averaged over the batch and the
layer's units (the gain per unit before the mean)."""

from __future__ import annotations

import torch

from ipcore.config import TrainConfig
from ipcore.data import load_dataset
from ipcore.engine.model import LockstepMLP
from ipcore.engine.rules import make_rule
from ipcore.training.loop import train
from ipcore.training.measure import layer_statistics


def _model(rules: list[str]) -> tuple[LockstepMLP, torch.Tensor]:
    config = TrainConfig(dataset="clusters", rules=rules, depth=3, width=8, seeds=2, subset=300, device="cpu")
    data = load_dataset("clusters", subset=300)
    model = LockstepMLP(data.input_dim, data.num_classes, 3, 8, [make_rule(r, config) for r in rules], [0, 1])
    generator = torch.Generator().manual_seed(0)
    for rule, state in zip(model.rules, model.states, strict=True):
        if "alpha" in state and rule.form != "none":  # gains away from 1, so that the two records differ
            state["alpha"].copy_(0.3 + 2 * torch.rand(state["alpha"].shape, generator=generator))
    return model, data.train_x[:64].expand(2, -1, -1)


def test_input_gain_is_the_derivative_of_u_by_x():
    """du/dx from ``input_gains``: 1/α for IP's u = (x − β)/α, α for Infomax's u = αx + β, 1 without a rule;
    autograd through u = (x − β)/α agrees."""
    model, _ = _model(["ip", "infomax", "none"])
    gains = model.input_gains().view(3, 2, -1)  # [rule, seed, depth·width]
    alpha = {rule.name: state["alpha"].reshape(2, -1) for rule, state in zip(model.rules, model.states, strict=True)
             if "alpha" in state}  # fmt: skip
    torch.testing.assert_close(gains[0], 1 / alpha["ip"])
    torch.testing.assert_close(gains[1], alpha["infomax"])
    torch.testing.assert_close(gains[2], torch.ones_like(gains[2]))
    x = torch.linspace(-2, 2, 48).view(2, -1).requires_grad_(True)
    y = torch.tanh((x - 0.3) / alpha["ip"])
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, (1 - y.detach() ** 2) * gains[0])


def test_recorded_dy_dx_is_the_mean_of_slope_times_gain():
    model, inputs = _model(["ip", "infomax", "none"])
    _, pre, post = model.forward(inputs, training=True)
    y_all = model.stack_layers(post)
    row = layer_statistics(model, y_all, torch.zeros(6, 24, dtype=torch.int32), False)
    slope = (1 - y_all**2).mean(1)  # [M, units]
    expected = (slope * model.input_gains()).view(6, 3, 8).mean(-1)
    torch.testing.assert_close(row["grad_y_x"], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(row["grad_y_u"], slope.view(6, 3, 8).mean(-1), rtol=1e-5, atol=1e-6)
    none = slice(4, 6)  # the standard net: u = x, the two records are the same
    torch.testing.assert_close(row["grad_y_x"][none], row["grad_y_u"][none])
    assert not torch.allclose(row["grad_y_x"][:4], row["grad_y_u"][:4])


def test_a_run_records_dy_dx_for_every_layer():
    config = TrainConfig(dataset="clusters", rules=["wd", "none"], depth=2, width=8, epochs=1, seeds=2,
                         batch_size=50, subset=300, device="cpu")  # fmt: skip
    metrics = train(config).metrics
    dx, du = metrics["layer/grad_y_x"], metrics["layer/grad_y_u"]
    assert dx.shape == du.shape and dx.shape[1:] == (4, 2)
    assert (abs(dx[:, 2:] - du[:, 2:]) < 1e-6).all()  # members 2, 3: the standard net
