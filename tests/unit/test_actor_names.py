"""Actor names: what the dashboard shows, and a taken name never stops an actor starting."""

from __future__ import annotations

from typing import Any

from orchestrator.runtime.actor_names import (
    agent_actor_name,
    current_actor_name,
    heartbeat_actor_name,
    pool_of_actor_name,
    start_named,
)


class _FakeActorClass:
    """Records .options(...).remote(...) calls; a name in ``taken`` is refused like Ray does."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.started: list[dict[str, Any]] = []

    def options(self, **options: Any) -> Any:
        outer = self

        class _Bound:
            def remote(self, *args: Any) -> dict[str, Any]:
                if options.get("name") in outer.taken:
                    raise ValueError(f"The name {options['name']} is already taken")
                outer.started.append({**options, "args": args})
                return outer.started[-1]

        return _Bound()


def test_names_read_as_what_the_actors_are() -> None:
    assert heartbeat_actor_name("supervisor") == "supervisor.heartbeat"
    name = agent_actor_name("supervisor", "functions[cpu=1,gpu=0,mem=0]#12")
    assert name == "supervisor.agent.functions[cpu=1,gpu=0,mem=0]#12"
    assert pool_of_actor_name("supervisor", name) == "functions[cpu=1,gpu=0,mem=0]"
    assert pool_of_actor_name("supervisor", "supervisor.heartbeat") is None


def test_a_free_name_is_used() -> None:
    actors = _FakeActorClass(taken=set())
    handle = start_named(actors, {"num_cpus": 1}, "supervisor.agent.A#1", "A#1")
    assert handle == {"num_cpus": 1, "name": "supervisor.agent.A#1", "args": ("A#1",)}


def test_a_taken_name_starts_the_actor_unnamed() -> None:
    actors = _FakeActorClass(taken={"supervisor.agent.A#1"})
    handle = start_named(actors, {"num_cpus": 1}, "supervisor.agent.A#1", "A#1")
    assert handle == {"num_cpus": 1, "args": ("A#1",)}
    assert len(actors.started) == 1


def test_outside_an_actor_the_default_name_is_used_and_no_ray_is_started() -> None:
    import ray

    assert current_actor_name("supervisor") == "supervisor"
    assert not ray.is_initialized()
