"""`FunctionAgent`: the built-in agent that runs plain function tasks.

A task written ``function: package.module:attr`` (or given a callable in Python) names no
agent; the runtime runs it on a replica of this class, sized per pool from the task's
``resources``. By the time `FunctionAgent.handle` is called the runtime has resolved the
callable into ``ctx.function`` and replaced every ``{output_of: ...}`` placeholder in
``ctx.args``/``ctx.kwargs`` with the upstream result, so the agent only has to call it.

The core refers to this class by its import path ``agents.function:FunctionAgent``
(`orchestrator.core.pools.FUNCTION_AGENT_CLASS`); keep the path stable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.agent import Agent, NonRetryableError, TaskContext


class FunctionAgent(Agent):
    """Runs ``ctx.function(*ctx.args, **ctx.kwargs)`` and returns its result.

    Whatever the function raises propagates unchanged, so the task's retry policy (or
    `NonRetryableError`) applies to it exactly as to an agent's own errors.
    """

    name: ClassVar[str | None] = "functions"
    # A placeholder: the runtime sizes each function pool from its tasks' resources.
    num_cpus: ClassVar[float] = 1.0

    def handle(self, ctx: TaskContext) -> Any:
        """Call the task's function with its resolved arguments.

        Args:
            ctx: The attempt's context; ``ctx.function`` must be the callable to run.

        Returns:
            Whatever the function returns.

        Raises:
            NonRetryableError: ``ctx.function`` is missing or not callable (retrying
                cannot fix either).
        """
        function = ctx.function
        if function is None:
            raise NonRetryableError(
                f"task {ctx.task_id!r} reached the function agent without a function; "
                "function tasks need 'function: module:attr' (or a callable)"
            )
        if not callable(function):
            raise NonRetryableError(
                f"task {ctx.task_id!r}: function {function!r} "
                f"(a {type(function).__name__}) is not callable"
            )
        return function(*ctx.args, **ctx.kwargs)
