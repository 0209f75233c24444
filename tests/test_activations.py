"""The hidden units' nonlinearities (``ipcore.engine.activations``), above all the CPU's choice of float32 tanh kernel."""

from __future__ import annotations

import time

import pytest
import torch

import ipcore.engine.activations as activations
from ipcore.config import TrainConfig
from ipcore.engine.activations import TANH_KERNEL_ENV, Tanh, cpu_tanh_kernel, tanh_via_logistic, uses_logistic_tanh
from ipcore.errors import ConfigError
from ipcore.training.loop import train


def test_tanh_via_logistic_equals_tanh_and_leaves_its_input():
    u = torch.linspace(-20, 20, 100_001)
    before = u.clone()
    torch.testing.assert_close(tanh_via_logistic(u), torch.tanh(u), atol=3e-7, rtol=0)
    assert torch.equal(u, before)
    assert tanh_via_logistic(torch.tensor([0.0, 50.0, -50.0])).tolist() == [0.0, 1.0, -1.0]


def test_each_kernel_gives_tanh_and_autograd_the_same_values(tanh_kernel):
    assert cpu_tanh_kernel() == tanh_kernel
    u = torch.linspace(-6, 6, 1001)
    unit = Tanh()
    value = unit.value(u)
    torch.testing.assert_close(value, torch.tanh(u), atol=3e-7, rtol=0)
    leaf = u.clone().requires_grad_()
    applied = unit.apply(leaf)
    assert torch.equal(applied.detach(), value)  # the hand-written pass and autograd's agree to the bit
    applied.sum().backward()
    torch.testing.assert_close(leaf.grad, unit.derivative_from_output(value), atol=1e-6, rtol=0)


def test_only_float32_on_a_cpu_takes_the_logistic_form(monkeypatch):
    monkeypatch.setenv(TANH_KERNEL_ENV, "logistic")
    cpu_tanh_kernel.cache_clear()
    try:
        assert uses_logistic_tanh(torch.zeros(3))
        assert not uses_logistic_tanh(torch.zeros(3, dtype=torch.float64))  # precision asked for
        u = torch.linspace(-3, 3, 101, dtype=torch.float64)
        assert torch.equal(Tanh().value(u), torch.tanh(u))
    finally:
        cpu_tanh_kernel.cache_clear()


@pytest.mark.parametrize("slow", ["torch", "logistic"])
def test_auto_measures_and_takes_the_faster_kernel(monkeypatch, slow):
    def slowed(kernel):
        def run(u):
            time.sleep(0.002)
            return kernel(u)

        return run

    if slow == "torch":
        monkeypatch.setattr(torch, "tanh", slowed(torch.tanh))
    else:
        monkeypatch.setattr(activations, "tanh_via_logistic", slowed(activations.tanh_via_logistic))
    assert activations._measure_cpu_tanh(size=1024) == ("logistic" if slow == "torch" else "torch")


def test_a_bad_setting_names_the_variable_and_its_values(monkeypatch):
    monkeypatch.setenv(TANH_KERNEL_ENV, "fast")
    cpu_tanh_kernel.cache_clear()
    try:
        with pytest.raises(ConfigError, match="IPCORE_TANH: must be one of auto, torch, logistic") as caught:
            cpu_tanh_kernel()
        assert caught.value.field == TANH_KERNEL_ENV
    finally:
        monkeypatch.delenv(TANH_KERNEL_ENV)
        cpu_tanh_kernel.cache_clear()


def test_a_cpu_run_records_its_tanh_kernel(tanh_kernel):
    config = TrainConfig(dataset="clusters:4", rules=["ip"], depth=2, width=6, epochs=1, subset=200, device="cpu")
    assert train(config).summary["tanh_kernel"] == tanh_kernel
    logistic = train(config.replace(activation="logistic", rules=["none"]))
    assert "tanh_kernel" not in logistic.summary  # no tanh in that network
