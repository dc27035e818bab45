"""`HeartbeatService._ping`: how each kind of ping error changes an agent's health.

Driven with stand-in handles on a plain event loop: no Ray cluster is needed, only Ray's
exception types. Regression for a ping error other than `RayActorError` leaving the ping
outstanding, so that an agent that answered was later declared hung and replaced.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError

from orchestrator.core.heartbeat import AgentHealth
from orchestrator.runtime.heartbeat import HeartbeatService
from orchestrator.settings import HeartbeatSettings, LoggingSettings

pytestmark = pytest.mark.integration


class _Method:
    def __init__(self, outcome: BaseException | None) -> None:
        self.outcome = outcome
        self.calls: list[tuple[Any, ...]] = []

    def remote(self, *args: Any) -> Any:
        self.calls.append(args)
        outcome = self.outcome

        async def reply() -> None:
            if outcome is not None:
                raise outcome

        return reply()


class _Agent:
    def __init__(self, error: BaseException | None) -> None:
        self.ping = _Method(error)


class _Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def remote(self, *args: Any) -> None:
        self.calls.append(args)


class _Supervisor:
    def __init__(self) -> None:
        self.report_agent_health = _Reports()


def _service(supervisor: _Supervisor) -> HeartbeatService:
    settings = HeartbeatSettings(
        interval_s=0.1, slow_after_s=1.0, hung_after_s=2.0, start_timeout_s=10.0
    )
    return HeartbeatService(supervisor, settings, LoggingSettings(level="WARNING"))


def _ping_once(error: BaseException | None) -> tuple[HeartbeatService, _Supervisor]:
    supervisor = _Supervisor()
    service = _service(supervisor)

    async def scenario() -> None:
        service._agents["a"] = _Agent(None)
        service._monitor.register("a", 0.0)
        service._monitor.ping_sent("a", 0.0)
        await service._ping("a", _Agent(None))  # first answer: healthy
        service._monitor.ping_sent("a", 1.0)
        await service._ping("a", _Agent(error))

    asyncio.run(scenario())
    return service, supervisor


def test_unreadable_reply_counts_as_an_answer() -> None:
    service, _ = _ping_once(ValueError("reply could not be deserialised"))
    # The ping is no longer outstanding: another one is due, and the agent is not hung.
    assert service._monitor.due_for_ping(100.0) == ["a"]
    assert service._monitor.check(100.0) == []


def test_transient_unavailability_pings_again_without_a_verdict() -> None:
    service, supervisor = _ping_once(ActorUnavailableError("unavailable", b"\x00" * 16))
    assert service._monitor.health("a") is AgentHealth.HEALTHY
    assert service._monitor.due_for_ping(1.5) == ["a"]
    reported = [call[1] for call in supervisor.report_agent_health.calls]
    assert "dead" not in reported


def test_actor_died_marks_the_agent_dead_and_reports_it() -> None:
    service, supervisor = _ping_once(ActorDiedError())
    assert service._monitor.health("a") is AgentHealth.DEAD
    assert [call[1] for call in supervisor.report_agent_health.calls][-1] == "dead"
