"""Errors the core raises for bad input, each carrying every problem found."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a submitted workflow.

    Attributes:
        where: The field or task it concerns, e.g. ``tasks['train'].resources``.
        message: What is wrong, in a sentence.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class WorkflowRejectedError(ValueError):
    """A workflow was refused before anything ran; ``problems`` lists every reason."""

    def __init__(self, workflow: str, problems: Iterable[Problem]) -> None:
        self.workflow = workflow
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"workflow {workflow!r} rejected with {len(self.problems)} problem(s):\n{lines}"
        )

    def __reduce__(self) -> tuple[type[WorkflowRejectedError], tuple[str, tuple[Problem, ...]]]:
        return (WorkflowRejectedError, (self.workflow, self.problems))
