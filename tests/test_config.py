"""NeuronConfig: every rejected value names its field and the allowed range; JSON and flat/URL round trips."""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qsl, urlencode

import pytest

from ipcore.config import CONFIG_KINDS, MAX_RECORDS, ConfigError, NeuronConfig, config_from_dict


def rejected(field: str, match: str | None = None, **values) -> ConfigError:
    """Build a config from ``values`` (as JSON would give them) and return the error, which must name ``field``."""
    with pytest.raises(ConfigError) as caught:
        NeuronConfig.from_dict(values)
    error = caught.value
    assert error.field == field, f"{values} blamed {error.field!r}: {error}"
    assert str(error).startswith(f"{field}:")
    if match is not None:
        assert match in str(error), str(error)
    return error


@pytest.mark.parametrize(
    "values, field, match",
    [
        ({"rules": ["ip", "nope"]}, "rules", "unknown rule 'nope'"),
        ({"rules": []}, "rules", "at least one"),
        ({"rules": ["ip", "ip"]}, "rules", "at most once"),
        ({"dist": "nope"}, "dist", "unknown distribution 'nope'"),
        ({"dist": "binom", "params": {"n": 5, "p": 0.5}}, "dist", "unknown distribution"),  # discrete: not allowed
        ({"sigma": 0}, "sigma", "must be > 0"),
        ({"sigma": -1.5}, "sigma", "must be > 0"),
        ({"dist": "lognormal", "sigma": 0}, "sigma", "> 0"),
        ({"dist": "uniform", "width": 0}, "width", "must be > 0"),
        ({"width": -2}, "width", "must be > 0"),
        ({"dist": "laplace", "b": 0}, "b", "must be > 0"),
        ({"dist": "mixture", "sigma2": -1}, "sigma2", "must be > 0"),
        ({"dist": "mixture", "weight": 1.5}, "weight", "≤ 1"),
        ({"n": 1}, "n", "≥ 2"),
        ({"n": 0}, "n", "≥ 2"),
        ({"iters": 0}, "iters", "≥ 1"),
        ({"iters": -5}, "iters", "≥ 1"),
        ({"eta": {"ip": 0}}, "eta.ip", "> 0"),
        ({"eta": {"ip": -1e-3}}, "eta.ip", "> 0"),
        ({"eta": {"infomax": math.nan}}, "eta.infomax", "finite"),
        ({"eta": {"bn_inc": math.inf}}, "eta.bn_inc", "finite"),
        ({"eta": {"wd": 1.5}}, "eta.wd", "≤ 1"),
        ({"eta": {"bn_wd": 2.0}}, "eta.bn_wd", "≤ 1"),
        ({"eta": {"nope": 0.1}}, "eta.nope", "unknown rule"),
        ({"eta": {"none": 0.1}}, "eta.none", "has no η"),
        ({"sigma": math.nan}, "sigma", "finite"),
        ({"mu": math.inf}, "mu", "finite"),
        ({"eta_decay": 1.5}, "eta_decay", "≤ 1"),
        ({"triesch_std": 0}, "triesch_std", "> 0"),
        ({"record_every": 0}, "record_every", "≥ 1"),
        ({"iters": "abc"}, "iters", "must be an integer"),
        ({"n": 2.5}, "n", "must be an integer"),
        ({"sigma": "wide"}, "sigma", "must be a number"),
        ({"sgima": 2.0}, "sgima", "unknown key"),
        ({"kind": "train"}, "kind", "must be 'neuron'"),
        ({"dist": "gamma"}, "params.a", "shape parameter"),
        ({"dist": "gamma", "params": {"a": 2, "shape": 1}}, "params.shape", "not a parameter of gamma"),
        ({"dist": "gamma", "params": {"a": 2, "scale": 0}}, "params.scale", "> 0"),
        ({"dist": "gamma", "params": {"a": 2, "loc": math.inf}}, "params.loc", "finite"),
        ({"dist": "gamma", "params": {"a": -1}}, "params", "not a valid distribution"),
    ],
)
def test_rejected_values_name_their_field(values, field, match):
    rejected(field, match, **values)


def test_unknown_key_lists_the_allowed_keys():
    error = rejected("sgima", sgima=1.0)
    assert "sigma" in str(error) and "iters" in str(error)


def test_eta_above_one_is_fine_for_rules_that_are_not_weighted_decay():
    assert NeuronConfig(rules=["ip", "infomax"], eta={"ip": 2.0, "infomax": 1.5}).etas() == {"ip": 2.0, "infomax": 1.5}
    assert NeuronConfig(rules=["wd"], eta={"wd": 1.0}).etas() == {"wd": 1.0}  # the boundary itself is allowed


def test_constructor_validates_too():
    with pytest.raises(ConfigError, match="sigma"):
        NeuronConfig(sigma=0.0)


def test_default_etas_are_the_thesis_single_neuron_values():
    config = NeuronConfig(rules=["ip", "wd", "infomax", "bn_inc", "bn_wd", "ip_hard", "none"], eta={"ip": 0.01})
    assert config.etas() == {
        "ip": 0.01,
        "wd": 0.1,
        "infomax": 1e-3,
        "bn_inc": 1e-3,
        "bn_wd": 0.1,
        "ip_hard": 0.0,
        "none": 0.0,
    }


def test_record_stride_keeps_at_most_max_records_rows():
    assert NeuronConfig(iters=10_000, record_every=50).record_stride() == 50
    assert NeuronConfig(iters=MAX_RECORDS * 30, record_every=1).record_stride() == 30


EXAMPLES = [
    NeuronConfig(),
    NeuronConfig(dist="gaussian", mu=5.0, sigma=2.0, rules=["ip", "wd", "infomax", "bn_inc"], iters=10_000),
    NeuronConfig(dist="uniform", center=-1.25, width=0.5, n=2, seed=7, rules=["triesch"], triesch_std=0.35),
    NeuronConfig(dist="mixture", mu=-2.0, mu2=4.5, sigma2=0.25, weight=0.3, eta={"ip": 0.02, "wd": 0.5}),
    NeuronConfig(dist="gamma", params={"a": 2.0, "scale": 1.5}, rules=["infomax"], eta_decay=1e-4, record_every=7),
    NeuronConfig(dist="lognormal", mu=0.1, sigma=0.7, rules=["ip_hard", "batchnorm", "none"], iters=3),
]


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda c: c.dist)
def test_json_round_trip(config):
    text = config.to_json()
    data = json.loads(text)
    assert data["kind"] == "neuron"
    assert NeuronConfig.from_json(text) == config
    assert config_from_dict(data) == config  # the shared runner entry point finds the kind
    assert CONFIG_KINDS["neuron"] is NeuronConfig


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda c: c.dist)
def test_flat_and_url_round_trip(config):
    flat = config.to_flat()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in flat.items())
    assert NeuronConfig.from_flat(flat) == config
    # through a real URL query string, as the app keeps it
    assert NeuronConfig.from_flat(dict(parse_qsl(urlencode(flat), keep_blank_values=True))) == config
    assert NeuronConfig.from_flat(dict(parse_qsl(config.to_text(), keep_blank_values=True))) == config


def test_flat_form_is_short_and_readable():
    config = NeuronConfig(mu=5.0, sigma=2.0, rules=["ip", "wd"], eta={"wd": 0.05})
    assert config.to_flat() == {"mu": "5.0", "sigma": "2.0", "rules": "ip,wd", "eta.wd": "0.05"}
    assert NeuronConfig().to_flat() == {}


def test_flat_values_are_validated_with_the_field_named():
    with pytest.raises(ConfigError) as caught:
        NeuronConfig.from_flat({"eta.wd": "3"})
    assert caught.value.field == "eta.wd"
    with pytest.raises(ConfigError) as caught:
        NeuronConfig.from_flat({"colour": "red"})
    assert caught.value.field == "colour"


def test_from_json_rejects_malformed_text():
    with pytest.raises(ConfigError, match="json"):
        NeuronConfig.from_json("{not json")
    with pytest.raises(ConfigError, match="JSON object"):
        NeuronConfig.from_json("[1, 2]")


def test_a_scipy_setting_found_valid_is_remembered_and_not_checked_again(tmp_path):
    """Listing records that name a scipy distribution imported scipy.stats (seconds) on every new server: a
    setting scipy accepted once is remembered in the cache folder, so a new process validates it without scipy;
    a different setting, a bad one and another scipy version are still checked in full."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "IPCORE_CACHE": str(tmp_path)}
    code = (
        "import sys; from ipcore.config import NeuronConfig, ConfigError\n"
        "NeuronConfig(dist='gamma', params={'a': 2.0, 'scale': 1.5})\n"
        "print('scipy.stats' in sys.modules)\n"
    )

    def run(source: str = code) -> str:
        done = subprocess.run([sys.executable, "-c", source], env=env, cwd=root, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert run() == "True"  # checked in full the first time
    stored = json.loads((tmp_path / "scipy-settings.json").read_text())
    assert stored["valid"] == ['["gamma",[["a",2.0],["scale",1.5]]]']
    assert run() == "False"  # remembered: scipy.stats is not imported
    bad = code.replace("'a': 2.0", "'a': 2.0, 'bogus': 1.0").replace("print(", "0 and print(")
    bad = "try:\n    exec(" + repr(bad) + ")\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    assert run(bad).startswith("ConfigError params.bogus")
    stored["scipy"] = "0.0"  # another scipy: nothing is taken for granted
    (tmp_path / "scipy-settings.json").write_text(json.dumps(stored))
    assert run() == "True"
