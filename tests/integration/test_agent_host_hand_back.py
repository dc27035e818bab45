"""An agent host on a real Ray hands back the attempts of a running call not started yet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from orchestrator import Orchestrator
from orchestrator.core.preemption import PREEMPTED_ERROR
from orchestrator.runtime.agent_host import agent_host_class
from orchestrator.runtime.wire import AttemptPayload
from orchestrator.settings import LoggingSettings
from tests.integration import workloads

pytestmark = pytest.mark.integration

HOLD_S = 0.3


def _payload(attempt_id: int) -> AttemptPayload:
    return AttemptPayload(
        attempt_id,
        "w",
        f"t{attempt_id}",
        1,
        workloads.sleep_then,
        (HOLD_S, attempt_id),
        {},
        (),
        (),
        None,
        False,
        None,
        None,
    )


@pytest.fixture
def host(orchestrator: Orchestrator) -> Iterator[Any]:
    """A function agent host of its own (no CPU), on the orchestrator's Ray."""
    actor = (
        agent_host_class(1)
        .options(num_cpus=0)
        .remote("hand-back-host", "agents.function:FunctionAgent", {}, LoggingSettings())
    )
    ray.get(actor.ping.remote())
    yield actor
    ray.kill(actor)


@pytest.mark.parametrize("unstarted_only", [True, False])
def test_a_running_call_hands_back_what_it_has_not_started(host: Any, unstarted_only: bool) -> None:
    # Given a call of four attempts of 0.3 s, the first one running
    batch = [_payload(attempt_id) for attempt_id in (1, 2, 3, 4)]
    returned = host.run_batch.options(num_returns=len(batch) + 1).remote(batch, [])
    time.sleep(HOLD_S / 2)
    # When the second and third are asked for (the fourth is not)
    ray.get(host.request_stop.remote([1, 2, 3], unstarted_only))
    outcomes = {outcome.attempt_id: outcome for outcome in ray.get(returned[0])}
    # Then the asked ones not started come back unstarted, as preempted, without running
    for attempt_id in (2, 3):
        outcome = outcomes[attempt_id]
        assert not outcome.ok and outcome.error_type == PREEMPTED_ERROR
        assert outcome.started_s == outcome.finished_s
        assert outcome.retryable
    assert ray.get(returned[2]) is None and ray.get(returned[3]) is None
    # The one not asked runs, and so does the running one: a function does not look at
    # ``ctx.should_stop``, and handed back or asked to stop, it runs to its end
    assert outcomes[4].ok and ray.get(returned[4]) == 4
    assert outcomes[1].ok and ray.get(returned[1]) == 1
    assert outcomes[1].finished_s - outcomes[1].started_s >= HOLD_S
