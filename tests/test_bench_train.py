"""``bench/bench_train.py``'s count of a GPU step's kernel launches (issue 14): an operation count, not a timing,
so it can be pinned here. It must count on the GPU's code path and leave the engine's own choices as they were."""

from __future__ import annotations

import importlib.util
import os

import torch

import ipcore.training.loop as train_module
import ipcore.training.measure as measure
from ipcore.data import load_dataset
from ipcore.engine.cuda_graphs import CUDA_GRAPHS_ENV

from conftest import DATA, ROOT, needs_mnist


def bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "bench_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_mnist
def test_launches_per_step_count_the_gpus_code_path_by_part_and_restore_the_cpus(monkeypatch):
    monkeypatch.delenv(CUDA_GRAPHS_ENV, raising=False)
    bench = bench_train()
    data = load_dataset("mnist", str(DATA), 4000)
    counts = bench.launches_per_step(data, str(DATA), 2, torch.device("cpu"), steps=20)
    assert set(counts) == {"pass", "records", "Adam", "rules", "update", "rest"}
    # the pass of 7 hidden layers: at least a product, an activation and its backward per layer each way
    assert counts["pass"] >= 7 * 4 and counts["Adam"] <= 4 and counts["rules"] > 0
    # records every 2nd step; the GPU's freezing at every step, 2 masks per parameter tensor (16 of them), in the
    # update; the loop's own bookkeeping (the loss, the divergence record) in the rest
    assert counts["records"] > 0 and counts["update"] >= 32 and counts["rest"] > 0
    cpu = torch.device("cpu")
    assert not train_module.freeze_every_step(cpu) and measure.counts_with_bincount(cpu)
    assert CUDA_GRAPHS_ENV not in os.environ
