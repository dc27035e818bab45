"""One local Ray and one orchestrator per test module; settings tuned for fast tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import Orchestrator
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.resources import ResourceSpec
from orchestrator.settings import (
    HeartbeatSettings,
    LoggingSettings,
    RaySettings,
    Settings,
    TracingSettings,
)
from orchestrator.telemetry import settings_tracer_provider_factory

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def fast_settings() -> Settings:
    """Settings for tests: quick heartbeats, short idle timeout, warnings only."""
    return Settings(
        ray=RaySettings(address="local", num_cpus=4, auth_mode="disabled", log_to_driver=False),
        scheduler=SchedulerConfig(
            idle_agent_timeout_s=2.0,
            default_function_resources=ResourceSpec(num_cpus=0.5),
        ),
        heartbeat=HeartbeatSettings(
            interval_s=0.2,
            slow_after_s=1.0,
            hung_after_s=2.0,
            start_timeout_s=60.0,
            resync_interval_s=0.5,
        ),
        logging=LoggingSettings(level="WARNING"),
    )


@pytest.fixture(scope="module")
def traces_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces") / "spans.jsonl"


@pytest.fixture(scope="module")
def orchestrator(traces_path: Path) -> Iterator[Orchestrator]:
    # The tracer provider is injected (built inside the supervisor by this factory); the
    # settings themselves say exporter "none".
    factory = settings_tracer_provider_factory(
        TracingSettings(exporter="jsonl", jsonl_path=str(traces_path))
    )
    with Orchestrator(settings=fast_settings(), tracer_provider_factory=factory) as orch:
        yield orch
