"""HeartbeatMonitor: healthy, slow, hung, dead and failed-to-start, on a fake timeline."""

from __future__ import annotations

import pytest

from orchestrator.core.heartbeat import AgentHealth, HeartbeatMonitor


def make_monitor() -> HeartbeatMonitor:
    return HeartbeatMonitor(slow_after_s=1.0, hung_after_s=5.0, start_timeout_s=20.0)


def test_first_pong_marks_the_agent_healthy_whatever_its_latency() -> None:
    monitor = make_monitor()
    monitor.register("a", now_s=0.0)
    monitor.ping_sent("a", now_s=0.0)
    change = monitor.pong("a", now_s=8.0)  # start-up took 8 s: not "slow"
    assert change is not None and change.current is AgentHealth.HEALTHY
    assert "ready after 8.00s" in change.detail


def test_late_pong_is_slow_then_a_quick_one_is_healthy_again() -> None:
    monitor = make_monitor()
    monitor.register("a", 0.0)
    monitor.ping_sent("a", 0.0)
    monitor.pong("a", 0.1)
    monitor.ping_sent("a", 1.0)
    slow = monitor.pong("a", 3.5)
    assert slow is not None and slow.previous is AgentHealth.HEALTHY
    assert slow.current is AgentHealth.SLOW and not slow.current.needs_replacement
    monitor.ping_sent("a", 4.0)
    healthy = monitor.pong("a", 4.01)
    assert healthy is not None and healthy.current is AgentHealth.HEALTHY


def test_unanswered_ping_past_the_limit_is_hung_once() -> None:
    monitor = make_monitor()
    monitor.register("a", 0.0)
    monitor.ping_sent("a", 0.0)
    monitor.pong("a", 0.1)
    monitor.ping_sent("a", 1.0)
    assert monitor.check(5.9) == []
    changes = monitor.check(6.1)
    assert [(c.agent_id, c.current) for c in changes] == [("a", AgentHealth.HUNG)]
    assert "no pong for 5.1s" in changes[0].detail
    assert monitor.check(100.0) == []  # reported once
    assert monitor.due_for_ping(100.0) == []  # given up on: no more pings
    assert monitor.pong("a", 101.0) is None  # a late pong does not resurrect it


def test_death_reported_by_ray_is_dead() -> None:
    monitor = make_monitor()
    monitor.register("a", 0.0)
    change = monitor.died("a", "ActorDiedError: killed")
    assert change is not None and change.current is AgentHealth.DEAD
    assert change.current.needs_replacement
    assert monitor.died("a", "again") is None


def test_agent_that_never_answers_failed_to_start() -> None:
    monitor = make_monitor()
    monitor.register("a", 0.0)
    monitor.ping_sent("a", 0.0)
    assert monitor.check(19.0) == []  # still starting: not hung, however long the ping waits
    changes = monitor.check(21.0)
    assert [c.current for c in changes] == [AgentHealth.FAILED_TO_START]


def test_pings_go_only_to_agents_without_one_outstanding() -> None:
    monitor = make_monitor()
    for agent in ("a", "b"):
        monitor.register(agent, 0.0)
    monitor.ping_sent("a", 0.0)
    assert monitor.due_for_ping(0.5) == ["b"]
    monitor.unregister("b")
    assert monitor.agents() == ["a"]
    with pytest.raises(KeyError):
        monitor.health("b")


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="slow_after_s <= hung_after_s"):
        HeartbeatMonitor(slow_after_s=5.0, hung_after_s=1.0, start_timeout_s=1.0)


def test_unanswered_ping_is_sent_again_but_silence_counts_from_the_first() -> None:
    # Given an agent that answered once, then whose ping is lost on the way (transient)
    monitor = make_monitor()
    monitor.register("a", 0.0)
    monitor.ping_sent("a", 0.0)
    monitor.pong("a", 0.1)
    monitor.ping_sent("a", 1.0)
    monitor.ping_unanswered("a")
    # Then it is due for another ping at once
    assert monitor.due_for_ping(1.2) == ["a"]
    monitor.ping_sent("a", 1.2)
    # And the silence still counts from the first unanswered ping (1.0 + 5.0 limit)
    assert monitor.check(5.9) == []
    hung = monitor.check(6.1)
    assert [c.current for c in hung] == [AgentHealth.HUNG]
    assert "no pong for 5.1s" in hung[0].detail


def test_answer_after_a_lost_ping_measures_latency_from_the_first() -> None:
    monitor = make_monitor()
    monitor.register("a", 0.0)
    monitor.ping_sent("a", 0.0)
    monitor.pong("a", 0.1)
    monitor.ping_sent("a", 1.0)
    monitor.ping_unanswered("a")
    monitor.ping_sent("a", 1.5)
    change = monitor.pong("a", 3.0)
    assert change is not None and change.current is AgentHealth.SLOW
    assert "pong after 2.00s" in change.detail
    assert monitor.due_for_ping(3.0) == ["a"]
