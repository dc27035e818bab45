"""Metrics on the node's Prometheus endpoint, and the actors' names in Ray's state API.

An embedded Ray with a known metrics port runs a small workflow (one retry, one failure
for good); the orchestrator's metrics must then appear on that port with the values the
run implies. Ray exports what it was given about every 10 s, hence the patient polling.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.settings import MetricsSettings
from tests.integration.conftest import fast_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def _total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def ok(x: int) -> int:
    time.sleep(0.05)
    return x


def broken() -> None:
    raise RuntimeError("always broken")


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
def dashboard_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
def orch(metrics_port: int, dashboard_port: int) -> Iterator[Orchestrator]:
    base = fast_settings()
    # The dashboard serves Ray's state API (the actor list of the last test).
    ray_settings = base.ray.model_copy(
        update={
            "metrics_export_port": metrics_port,
            "include_dashboard": True,
            "dashboard_port": dashboard_port,
        }
    )
    settings = base.model_copy(
        update={
            "ray": ray_settings,
            "metrics": MetricsSettings(interval_s=0.5),
        }
    )
    with Orchestrator(settings=settings) as orchestrator:
        yield orchestrator


def test_metrics_appear_on_the_prometheus_endpoint_with_sane_values(
    orch: Orchestrator, metrics_port: int
) -> None:
    wf = Workflow("metrics")
    for i in range(6):
        wf.task(f"ok-{i}", ok, args=(i,), priority="high" if i % 2 else "low")
    wf.task("broken", broken, retry={"max_attempts": 2, "initial_backoff_s": 0.05})
    run = orch.submit(wf)
    status = run.wait(timeout_s=120)
    assert status.state.value == "failed"

    # Counters are exported with a _total suffix. Ray exports about every 10 s after
    # the supervisor hands the values over.
    wanted = {
        "ray_orchestrator_dispatched_attempts_total": 8.0,  # 6 ok + 2 attempts of "broken"
        "ray_orchestrator_retries_total": 1.0,
        "ray_orchestrator_dead_letters_total": 1.0,
    }
    deadline_s = time.monotonic() + 90
    samples = _scrape(metrics_port)
    while time.monotonic() < deadline_s:
        samples = _scrape(metrics_port)
        if all(_total(samples, name) >= value for name, value in wanted.items()) and _total(
            samples, "ray_orchestrator_run_time_seconds_count"
        ):
            break
        time.sleep(2)
    names = {name for name, _, _ in samples if name.startswith("ray_orchestrator_")}
    for name, value in wanted.items():
        assert _total(samples, name) == value, (name, sorted(names))
    assert _total(samples, "ray_orchestrator_tasks_finished_total", state="succeeded") == 6
    assert _total(samples, "ray_orchestrator_tasks_finished_total", state="failed") == 1
    # Every attempt's run time was observed; the ok tasks sleep 50 ms each.
    assert _total(samples, "ray_orchestrator_run_time_seconds_count") == 8
    run_time_sum_s = _total(samples, "ray_orchestrator_run_time_seconds_sum")
    assert 6 * 0.05 <= run_time_sum_s < 60
    assert _total(samples, "ray_orchestrator_queue_wait_seconds_count", priority="high") == 3
    assert _total(samples, "ray_orchestrator_queue_wait_seconds_count", priority="low") == 3
    # Gauges: nothing left queued or running once the workflow ended.
    assert "ray_orchestrator_agents" in names
    assert _total(samples, "ray_orchestrator_attempts_running") == 0
    assert _total(samples, "ray_orchestrator_workflows_running") == 0


def test_state_api_lists_the_supervisor_heartbeat_and_agents_by_name(
    orch: Orchestrator, dashboard_port: int
) -> None:
    from ray.util.state import list_actors

    wf = Workflow("names")
    wf.task("one", ok, args=(1,))
    orch.submit(wf).wait(timeout_s=60)
    namespace = orch.settings.ray.namespace
    # This Ray's dashboard, on loopback: other Rays may run on the same machine.
    address = f"http://127.0.0.1:{dashboard_port}"
    actors = list_actors(
        address=address,
        filters=[("state", "=", "ALIVE")],
        limit=1000,
        raise_on_missing_output=False,
    )
    names = {actor.name or "" for actor in actors if actor.ray_namespace == namespace}
    assert "supervisor" in names
    assert "supervisor.heartbeat" in names
    agents = [name for name in names if name.startswith("supervisor.agent.functions[")]
    assert agents, sorted(names)
