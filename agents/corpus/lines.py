"""Line counts with ``wc -l``: the corpus demo's command agent and its output parser.

`CorpusTools` is a `CommandAgent` allowed to run ``wc`` only. Its task takes the plan
(and optionally a shard index) and builds the argument vector itself::

    - id: line-count
      agent: CorpusTools
      args: [{output_of: plan}]          # every file; [{output_of: plan}, 3] for shard 3
      priority: background

The result is the plain `CommandResult`; `parse_wc_lines` turns it into lines per file.
Counting with an independent tool gives the report a cross-check of the ``ast`` pass.
"""

from __future__ import annotations

from typing import ClassVar

from agents.command import CommandAgent, CommandResult
from agents.corpus.plan import CorpusInputError, all_paths, shard_paths
from orchestrator.agent import TaskContext


def wc_argv(paths: list[str]) -> list[str]:
    """Return the argument vector that counts the lines of ``paths`` with ``wc -l``.

    ``--`` ends the options, so no path can be read as one.
    """
    return ["wc", "-l", "--", *paths]


def parse_wc_lines(result: CommandResult) -> dict[str, int]:
    """Return the lines per file reported by a ``wc -l`` run built by `wc_argv`.

    Only lines naming a file of the argument vector are kept, so ``wc``'s ``total`` line
    (whatever the locale calls it) never counts as a file.

    Raises:
        CorpusInputError: ``result`` is not a `CommandResult`, or its output has a line
            that does not start with a count.
    """
    if not isinstance(result, CommandResult):
        raise CorpusInputError(
            f"expected the CommandResult of a wc -l task, got {type(result).__name__}"
        )
    argv = list(result.argv)
    files = set(argv[argv.index("--") + 1 :] if "--" in argv else argv[2:])
    counts: dict[str, int] = {}
    for line in result.stdout.splitlines():
        fields = line.strip().split(maxsplit=1)
        if not fields:
            continue
        if not fields[0].isdigit():
            raise CorpusInputError(f"unexpected wc output line {line!r}")
        if len(fields) == 2 and fields[1] in files:
            counts[fields[1]] = int(fields[0])
    return counts


class CorpusTools(CommandAgent):
    """Counts the lines of corpus files with ``wc -l`` (the only program it may run).

    Task: ``args: [{output_of: plan}]`` for every file of the plan, or
    ``args: [{output_of: plan}, INDEX]`` for one shard; optional ``kwargs: {timeout_s: S}``.
    Returns the `CommandResult` of ``wc -l -- FILE...``.
    """

    allowed_executables: ClassVar[frozenset[str]] = frozenset({"wc"})
    num_cpus: ClassVar[float] = 0.25
    replicas: ClassVar[int] = 1

    def handle(self, ctx: TaskContext) -> CommandResult:
        """Run ``wc -l`` on the files the task's arguments name.

        Raises:
            CorpusInputError: The arguments are not ``[plan]`` or ``[plan, index]``, or a
                keyword other than ``timeout_s`` is given.
            NonRetryableError: ``wc`` cannot be found.
            CommandFailedError: ``wc`` failed (e.g. a file vanished) or timed out.
        """
        unknown = sorted(set(ctx.kwargs) - {"timeout_s"})
        if unknown:
            raise CorpusInputError(
                f"task {ctx.task_id!r}: unknown keyword argument(s) {', '.join(unknown)} "
                "(accepted: timeout_s)"
            )
        if len(ctx.args) == 1:
            paths = all_paths(ctx.args[0])
        elif len(ctx.args) == 2:
            paths = shard_paths(ctx.args[0], ctx.args[1])
        else:
            raise CorpusInputError(
                f"task {ctx.task_id!r}: expected args [plan] or [plan, shard index], "
                f"got {len(ctx.args)} argument(s)"
            )
        result = self.run_command(wc_argv(paths), timeout_s=ctx.kwargs.get("timeout_s"))
        ctx.log.info("lines counted", files=len(paths), duration_s=round(result.duration_s, 4))
        return result
