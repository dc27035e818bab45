"""When a task whose dependencies have ended may start: trigger rules and earliest starts.

Trigger rules (Airflow's names) decide, once every task a task depends on has ended,
whether it runs or is skipped:

- ``all_success`` (the default): every upstream succeeded. An upstream that fails or is
  skipped skips it at once, without waiting for the others.
- ``all_done``: whatever they ended in.
- ``all_failed``: every upstream failed.
- ``one_failed``: at least one upstream failed.
- ``one_success``: at least one upstream succeeded.
- ``none_failed``: no upstream failed (succeeded or skipped).

A rule other than the default is judged when the last upstream ends; a task with no
upstream task runs whatever its rule. Whatever the rule,
a task that takes an upstream's result as an argument (an ``OutputOf`` placeholder) needs
that upstream to have succeeded; otherwise it is skipped, saying which input is missing.
A skipped task counts as ended for the rules of the tasks after it.
"""

from __future__ import annotations

import math

from orchestrator.core.records import TaskRecord
from orchestrator.core.specs import iter_output_refs
from orchestrator.core.states import TaskState

#: The rule of a task that names none.
DEFAULT_RULE = "all_success"

_SUCCEEDED = TaskState.SUCCEEDED
_FAILED = TaskState.FAILED


def rule_of(task: TaskRecord) -> str:
    """Return ``task``'s trigger rule."""
    extras = task.extras
    return extras.trigger_rule if extras is not None else DEFAULT_RULE


def skip_reason(task: TaskRecord) -> str | None:
    """Return why ``task``, whose upstreams all ended, must be skipped; None: it runs."""
    workflow = task.workflow
    tasks = workflow.tasks
    upstream = {name: tasks[name].state for name in workflow.graph.dependencies(task.task_id)}
    for ref in (*iter_output_refs(task.args), *iter_output_refs(task.kwargs)):
        state = upstream.get(ref.output_of)
        if state is not _SUCCEEDED:
            return f"its input {ref.output_of!r} did not succeed ({state.value if state else '?'})"
    rule = rule_of(task)
    states = list(upstream.values())
    if not states:
        return None  # nothing upstream: a rule has nothing to judge, the task runs
    runs = {
        "all_success": all(s is _SUCCEEDED for s in states),
        "all_done": True,
        "all_failed": all(s is _FAILED for s in states),
        "one_failed": any(s is _FAILED for s in states),
        "one_success": any(s is _SUCCEEDED for s in states),
        "none_failed": not any(s is _FAILED for s in states),
    }[rule]
    if runs:
        return None
    counts = ", ".join(f"{state.value}={states.count(state)}" for state in dict.fromkeys(states))
    return f"trigger rule {rule} not met by its upstream tasks ({counts})"


def earliest_start_s(task: TaskRecord) -> float:
    """Return when deferred ``task`` may start (``not_before``, ``delay_s``), or -inf."""
    extras = task.extras
    if extras is None or not extras.deferred:
        return -math.inf
    return max(
        extras.not_before_s if extras.not_before_s is not None else -math.inf,
        task.workflow.submitted_s + (extras.delay_s or 0.0),
    )
