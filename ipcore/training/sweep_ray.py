"""Sweeps and gallery parts on a Ray cluster: every part is one Ray task; the driver writes the records.

Imported only when ``--backend ray`` is chosen (Ray is a heavy import). How it works:

- **Code.** The driver ships the ``ipcore`` package to the workers (Ray's ``py_modules``); every node needs only
  the requirements (torch, numpy, scipy, ray) installed. Rule files of the user's own loaded by the driver
  (``ipcore.engine.custom_rules``) travel as text with each task, and the worker registers them before it validates
  the config.
- **Tasks.** Each part (a chunk of grid points trained as one lockstep model, or one gallery part) is one Ray
  task asking for ``training_threads()`` CPUs (the torch threads a CPU run uses, default 1) and, when the
  cluster has GPUs, a fraction of one (``IPCORE_RAY_GPU_FRACTION``, default 0.25, so four parts share a GPU).
  Tasks are spread over the nodes (Ray's ``SPREAD`` strategy).
- **Results.** A task returns its metrics (numpy arrays) and summary to the driver, which writes each record
  atomically into its own runs folder (``records.save_run``): the cluster needs no shared file system.
- **Data.** ``data_source="driver"`` (default): the driver loads the dataset once and puts it into Ray's object
  store; every node fetches it from there, so no worker needs the files. ``"node"``: each worker loads the data
  from its own data root (``$IPCORE_DATA`` on that node, else ``~/.cache/ipcore``), for datasets too large to
  ship or already present on every node.
- **Faults.** A worker process that dies mid-part (killed, out of memory, node lost) has its task retried by Ray
  (``max_retries``); the driver writes a part's records only when its result arrives, under deterministic run
  ids, so every part ends with exactly one record. A task that raises is reported and its part left undone.
- **Stopping.** A stop request or Ctrl-C cancels the tasks still pending or running; finished parts keep their
  records, and re-running the sweep under the same name computes only the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import ray

from ipcore.config import ConfigError, SweepConfig
from ipcore.results.metrics_log import RunResult

logger = logging.getLogger(__name__)

MAX_RETRIES = 3
WAIT_SECONDS = 0.5
TIMEOUT_VARIABLE = "IPCORE_RAY_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0


def connect_timeout() -> float:
    """Seconds a connection to a Ray cluster may take: ``$IPCORE_RAY_TIMEOUT``, default 30."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(TIMEOUT_VARIABLE, f"must be a number of seconds in (0, 3600] (got {text!r})")
    return value


def check_reachable(address: str, timeout: float) -> None:
    """A ConfigError on ``ray_address`` naming the address unless something answers at its host and port within
    ``timeout`` seconds. Ray itself retries an unreachable head for minutes, deaf to Ctrl-C while it does; a plain
    TCP connection says at once that a host does not exist or refuses the port."""
    import socket

    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("ray_address", f"must be HOST:PORT (got {address!r})")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise ConfigError(
            "ray_address", f"cannot reach a Ray cluster at {address!r} (within {timeout:g} s): {error}"
        ) from None


def connect(address: str | None) -> bool:
    """Connect to the Ray cluster at ``address`` (else ``$RAY_ADDRESS``, else a new local Ray instance) unless
    this process is already connected; returns whether this call connected (and so should disconnect). An address
    that does not answer within ``connect_timeout()`` is a ConfigError naming it (``check_reachable``)."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    timeout = connect_timeout()
    if address is not None and address not in ("auto", "local"):
        check_reachable(address, timeout)
    # what Ray's own retries of its head (GCS) may take, unless the operator chose it
    os.environ.setdefault("RAY_gcs_server_request_timeout_seconds", str(max(1, round(timeout))))
    import ipcore

    # The ipcore package travels with the job (Ray's py_modules), so workers need only the requirements installed.
    runtime_env = {"py_modules": [ipcore]}
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise ConfigError("ray_address", f"cannot connect to a Ray cluster at {address!r}: {error}") from None
    return True


def task_options() -> dict[str, Any]:
    """Resources of one part: its torch threads as CPUs, and a GPU fraction when the cluster has GPUs."""
    from ipcore.training.resources import training_threads

    threads = training_threads(auto=False)  # many parts share a machine: one thread each unless asked
    options: dict[str, Any] = {
        "num_cpus": max(1, threads),
        "max_retries": MAX_RETRIES,
        "scheduling_strategy": "SPREAD",
    }
    # the workers train with the count asked for (left alone, each would pick its own by the machine's load)
    options["runtime_env"] = {"env_vars": {"IPCORE_THREADS": str(threads)}}
    if ray.cluster_resources().get("GPU", 0) > 0:
        text = os.environ.get("IPCORE_RAY_GPU_FRACTION", "0.25")
        try:
            fraction = float(text)
        except ValueError:
            raise ConfigError("IPCORE_RAY_GPU_FRACTION", f"must be a number in (0, 1] (got {text!r})") from None
        if not 0 < fraction <= 1:
            raise ConfigError("IPCORE_RAY_GPU_FRACTION", f"must be in (0, 1] (got {fraction})")
        options["num_gpus"] = fraction
    return options


def _on_device(data: Any, device_name: str) -> Any:
    """The shipped dataset moved to the device this worker trains on (it arrives on the CPU)."""
    if data is None:
        return None
    from ipcore.training.resources import resolve_device

    device = resolve_device(device_name)
    if device.type == "cpu":
        return data
    tensors = {k: getattr(data, k).to(device) for k in ("train_y", "test_x", "test_y")}
    # the bytes serve CPU training only
    return dataclasses.replace(data, **tensors, stored_train_x=data.train_x.to(device), train_bytes=None)


def _where() -> dict[str, Any]:
    context = ray.get_runtime_context()
    return {"ray_node": context.get_node_id(), "pid": os.getpid()}


def _register(rule_sources: Sequence[tuple[str, str]]) -> None:
    """Register the driver's rules of the user's own in this worker, from their files' text (no shared disk
    needed; each source runs once per worker process)."""
    if rule_sources:
        from ipcore.engine.custom_rules import load_rule_sources

        load_rule_sources(list(rule_sources))


def driver_rule_sources(rules: Sequence[str]) -> list[tuple[str, str]]:
    """(path, source) of the files that define the rules of the user's own among ``rules``, for the tasks to
    carry (``ipcore.engine.custom_rules.rule_sources``)."""
    import sys

    module = sys.modules.get("ipcore.engine.custom_rules")
    return module.rule_sources(rules) if module is not None else []


@ray.remote
def sweep_part(
    sweep_json: str, points: list[Any], data: Any, rule_sources: Sequence[tuple[str, str]] = ()
) -> list[dict[str, Any]]:
    """Train ``points`` of the sweep as one model on this worker; per point its metrics, summary and state."""
    from ipcore.training.grid import train_points

    _register(rule_sources)
    sweep = SweepConfig.from_json(sweep_json)
    results = train_points(sweep, [(lr, dict(eta)) for lr, eta in points], data=_on_device(data, sweep.device))
    where = _where()
    return [{"metrics": dict(r.metrics), "summary": r.summary, "state": r.state, **where} for r in results]


@ray.remote
def config_part(config_dict: dict[str, Any], rule_sources: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Run one experiment config (a gallery part) on this worker; its metrics, summary and state."""
    from ipcore.config import config_from_dict
    from ipcore.training.runner import run_config

    _register(rule_sources)
    result = run_config(config_from_dict(config_dict))
    return {"metrics": dict(result.metrics), "summary": result.summary, "state": result.state, **_where()}


def drive(
    refs: dict[Any, Any],
    handle: Callable[[Any, Any], None],
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[bool, list[str]]:
    """Collect results as tasks finish: ``handle(key, output)`` for each; returns (stopped, error messages).

    A stop request or Ctrl-C cancels every task still pending (``ray.cancel(force=True)`` kills running ones).
    """
    pending = dict(refs)
    total = max(1, len(refs))
    errors: list[str] = []
    try:
        while pending:
            if should_stop is not None and should_stop():
                _cancel(pending)
                return True, errors
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            for ref in ready:
                key = pending.pop(ref)
                try:
                    output = ray.get(ref)
                except ray.exceptions.RayError as error:
                    message = f"part {key}: {str(error).splitlines()[0]}"
                    logger.error(message)
                    errors.append(message)
                    continue
                handle(key, output)
                if progress is not None:
                    progress((total - len(pending)) / total)
    except KeyboardInterrupt:
        _cancel(pending)
        raise
    return False, errors


def _cancel(pending: dict[Any, Any]) -> None:
    for ref in pending:
        try:
            ray.cancel(ref, force=True)
        except Exception as error:  # noqa: BLE001 - an already finished task cannot be cancelled; nothing lost
            logger.info("could not cancel %s: %s", ref, error)


def run_ray(
    sweep: SweepConfig,
    points: Sequence[Any],
    parts: list[list[int]],
    save: Callable[[int, RunResult, dict[str, Any]], None],
    address: str | None,
    progress: Callable[[float], None] | None,
    should_stop: Callable[[], bool] | None,
    data_source: str,
) -> tuple[bool, list[str]]:
    """The sweep's parts as Ray tasks; ``save(index, result, extra)`` writes each point's record on arrival."""
    connected_here = connect(address)
    try:
        data_ref = None
        if data_source == "driver":
            from ipcore.data import load_dataset

            data = load_dataset(sweep.dataset, None, sweep.subset, "cpu")
            data_ref = ray.put(data)
        options = task_options()
        sweep_json = sweep.to_json()
        sources = driver_rule_sources(sweep.rules)
        refs = {}
        for number, part in enumerate(parts):
            chosen = [points[i] for i in part]
            refs[sweep_part.options(**options).remote(sweep_json, chosen, data_ref, sources)] = number

        def handle(number: int, outputs: list[dict[str, Any]]) -> None:
            for index, output in zip(parts[number], outputs, strict=True):
                config = sweep.point_config(*points[index])
                result = RunResult(config, output["metrics"], output["summary"], output["state"])
                save(index, result, {"backend": "ray", "ray_node": output["ray_node"]})

        return drive(refs, handle, progress, should_stop)
    finally:
        if connected_here:
            ray.shutdown()


def run_configs(
    jobs: Sequence[tuple[Any, Any]],
    save: Callable[[Any, RunResult, dict[str, Any]], None],
    address: str | None,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[bool, list[str]]:
    """Run each (key, config) of ``jobs`` as one Ray task (gallery parts); ``save`` writes each on arrival.

    Workers load their data from their own data root (gallery configs carry ``data_root`` when one is given)."""
    connected_here = connect(address)
    try:
        options = task_options()
        configs = dict(jobs)
        sources = driver_rule_sources([rule for _, config in jobs for rule in config.rules])
        refs = {config_part.options(**options).remote(config.to_dict(), sources): key for key, config in jobs}

        def handle(key: Any, output: dict[str, Any]) -> None:
            result = RunResult(configs[key], output["metrics"], output["summary"], output["state"])
            save(key, result, {"backend": "ray", "ray_node": output["ray_node"]})

        return drive(refs, handle, progress, should_stop)
    finally:
        if connected_here:
            ray.shutdown()
