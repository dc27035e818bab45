"""`Scheduler.outline`: a workflow's tasks as bare specs, for pictures of a running one."""

from __future__ import annotations

import pytest

from orchestrator.core import Priority
from orchestrator.testing import Driver, SpecBuilder


def test_the_outline_keeps_ids_handlers_priorities_and_dependencies(spec: SpecBuilder) -> None:
    driver = Driver()
    fetch = spec.task("fetch", function="agents.corpus:plan", priority="high")
    parse = spec.task("parse", "parser", depends_on=["fetch"])
    driver.submit(spec.workflow(fetch, parse))
    outline = driver.scheduler.outline("wf")
    assert [(t.id, t.function, t.agent, t.priority, t.depends_on) for t in outline] == [
        ("fetch", "agents.corpus:plan", None, Priority.HIGH, ()),
        ("parse", None, "parser", Priority.MEDIUM, ("fetch",)),
    ]
    assert all(t.args == () and t.kwargs == {} for t in outline)  # no arguments travel


def test_an_unknown_workflow_has_no_outline() -> None:
    with pytest.raises(KeyError, match="no workflow 'nope'"):
        Driver().scheduler.outline("nope")
