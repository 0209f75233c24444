"""bench/bench_demos.py times what the lab's demos really run: its command is each demo's own setup."""

from __future__ import annotations

import importlib.util

import pytest

from app import lab_guide
from ipcore import cli
from ipcore.config import TrainConfig

from conftest import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_demos", ROOT / "bench" / "bench_demos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_trains_each_demo_as_the_lab_sets_it_up():
    bench = load_bench()
    parser = cli.build_parser()
    for demo in lab_guide.DEMOS:
        for dataset in lab_guide.DEMO_DATASETS:
            args = parser.parse_args(bench.demo_command(demo, dataset))
            config = cli.config_from_args(TrainConfig, args)
            assert lab_guide.demo_matches(demo, config), (demo.key, dataset)
            assert config.seeds == demo.seeds and config.dataset == dataset


@pytest.mark.slow
def test_the_bench_measures_a_demo_and_says_whether_it_fits_a_minute():
    bench = load_bench()
    row = bench.measure(lab_guide.DEMOS[0], "clusters")
    assert row["seconds"] > 0 and row["within_a_minute"] == (row["seconds"] < bench.LIMIT_S)
    assert row["stated_seconds"] == lab_guide.DEMOS[0].seconds["clusters"]
