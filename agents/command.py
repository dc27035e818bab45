"""`CommandAgent`: run an allowlisted program with an argument vector, never a shell.

A subclass names the programs it may run; a task gives the argument vector::

    class GitTools(CommandAgent):
        allowed_executables = frozenset({"git"})
        num_cpus = 0.25

    # tasks:
    #   - id: log
    #     agent: GitTools
    #     kwargs: {argv: [git, log, --oneline, -n, "5"], cwd: /src/project, timeout_s: 10}

The argument vector goes straight to ``execve`` (``shell=False``), so quoting, globbing,
pipes and ``;`` have no meaning and cannot be injected.

Security (a task's input is not trusted to choose what runs or how):

- **Which program**: a bare ``argv[0]`` must be allowlisted and is looked up only in the
  class's ``search_path`` (default ``/usr/local/bin``, ``/usr/bin``, ``/bin``), never on a
  ``PATH`` from the task or the agent; an ``argv[0]`` with a ``/`` runs only when that
  absolute path is allowlisted itself; relative paths never run. Symlinks are followed and
  must end in a search-path directory (or at an allowlisted absolute path), on a regular
  executable file (`agents.command_resolve`).
- **Environment**: nothing is inherited from the agent. A child gets ``PATH`` (the search
  path), ``LANG``/``LC_ALL`` (``C.UTF-8``), ``HOME``/``TMPDIR`` (a private directory made
  for the command and removed after it) and the task's ``env``, whose names are checked:
  loader, interpreter, shell and tool hooks (``LD_*``, ``PYTHON*``, ``PATH``, ``HOME``...)
  are refused (`agents.command_env`).
- **Limits**: ``timeout_s`` (at most `CommandAgent.max_timeout_s`, which is also the
  default), ``max_output_bytes`` per output stream (going over kills the program and
  raises `CommandOutputLimitError`: no truncated output is ever returned) and
  ``max_stdin_bytes``. The program runs in its own process group, killed as a whole on a
  timeout, an overflow, and when the program exits, so background processes it started do
  not outlive it (`agents.command_process`).

Errors that retrying cannot fix (bad argv, program not allowed or not found, bad ``cwd``,
``env`` or ``stdin``, too much output) raise `NonRetryableError`; a non-zero exit or a
timeout raises `CommandFailedError` (retryable, per the task's retry policy).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.command_args import check_argv, check_cwd, check_stdin, check_timeout
from agents.command_env import DENIED_ENV_NAMES, DENIED_ENV_PREFIXES, base_env, check_env
from agents.command_errors import (
    STDERR_TAIL_CHARS,
    CommandFailedError,
    CommandOutputLimitError,
    CommandTimeoutError,
    stderr_tail,
)
from agents.command_process import run_process
from agents.command_resolve import check_allowlist, resolve_executable
from orchestrator.agent import Agent, NonRetryableError, TaskContext

__all__ = [
    "COMMAND_KWARGS",
    "STDERR_TAIL_CHARS",
    "CommandAgent",
    "CommandFailedError",
    "CommandOutputLimitError",
    "CommandResult",
    "CommandTimeoutError",
]

#: Keyword arguments a command task may give; anything else is refused, never ignored.
COMMAND_KWARGS = frozenset({"argv", "cwd", "env", "timeout_s", "stdin"})

_MIB = 2**20


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command that exited with status 0 produced.

    Attributes:
        argv: The argument vector as given (``argv[0]`` unresolved).
        returncode: The exit status (always 0 in a returned result).
        stdout: Standard output, decoded as UTF-8 (undecodable bytes replaced).
        stderr: Standard error, decoded likewise.
        duration_s: Wall-clock time from start to exit.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


class CommandAgent(Agent):
    """Runs argument vectors whose program is in `allowed_executables`.

    Task input: the argument vector as ``kwargs["argv"]`` or as the positional ``args``;
    optional keyword arguments ``cwd`` (directory), ``env`` (checked variables added to the
    minimal environment), ``timeout_s`` (seconds) and ``stdin`` (text fed to the program;
    without it the program reads an empty standard input).

    Attributes:
        allowed_executables: Bare names of the programs this agent may run, or absolute
            paths (then ``argv[0]`` must be that path); the base class allows none.
        search_path: Directories where bare names are looked up, in order; a resolved
            program must lie directly in one of them (or be allowlisted by path). Also the
            child's ``PATH``.
        env_denied_names: Variables a task may not set (case-insensitive). Allow one by
            subtracting it, e.g. ``CommandAgent.env_denied_names - {"PATH"}``.
        env_denied_prefixes: Prefixes of variables a task may not set.
        env_allowed_names: When set, the only variables a task may set (denials apply
            too); None accepts any name that is not denied.
        max_output_bytes: Most bytes accepted on stdout, and on stderr; a program writing
            more is killed (`CommandOutputLimitError`).
        max_stdin_bytes: Most bytes of ``stdin`` (UTF-8 encoded) a task may give.
        max_timeout_s: Longest run allowed, and the limit when a task gives none.
    """

    allowed_executables: ClassVar[frozenset[str]] = frozenset()
    search_path: ClassVar[tuple[str, ...]] = ("/usr/local/bin", "/usr/bin", "/bin")
    env_denied_names: ClassVar[frozenset[str]] = DENIED_ENV_NAMES
    env_denied_prefixes: ClassVar[tuple[str, ...]] = DENIED_ENV_PREFIXES
    env_allowed_names: ClassVar[frozenset[str] | None] = None
    max_output_bytes: ClassVar[int] = _MIB
    max_stdin_bytes: ClassVar[int] = _MIB
    max_timeout_s: ClassVar[float] = 3600.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the subclass's allowlist, search path and limits when it is defined.

        Raises:
            TypeError: An entry or limit has the wrong type.
            ValueError: An entry or limit has a wrong value (e.g. a relative path).
        """
        super().__init_subclass__(**kwargs)
        check_allowlist(cls.__name__, cls.allowed_executables, cls.search_path)
        for limit in ("max_output_bytes", "max_stdin_bytes", "max_timeout_s"):
            value = getattr(cls, limit)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{cls.__name__}.{limit} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{cls.__name__}.{limit} must be positive, got {value!r}")

    def handle(self, ctx: TaskContext) -> CommandResult:
        """Run the command the task describes.

        Args:
            ctx: The attempt's context.

        Returns:
            The result of a command that exited with status 0.

        Raises:
            NonRetryableError: The input is malformed or refused, the program is not
                allowed or not found, or it wrote too much (`CommandOutputLimitError`).
            CommandFailedError: The program exited with a non-zero status.
            CommandTimeoutError: The program ran past ``timeout_s``.
        """
        unknown = sorted(set(ctx.kwargs) - COMMAND_KWARGS)
        if unknown:
            raise NonRetryableError(
                f"task {ctx.task_id!r}: unknown command option(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(COMMAND_KWARGS))}"
            )
        if "argv" in ctx.kwargs and ctx.args:
            raise NonRetryableError(
                f"task {ctx.task_id!r}: give the argument vector either as kwargs 'argv' "
                "or as args, not both"
            )
        argv = ctx.kwargs["argv"] if "argv" in ctx.kwargs else list(ctx.args)
        result = self.run_command(
            argv,
            cwd=ctx.kwargs.get("cwd"),
            env=ctx.kwargs.get("env"),
            timeout_s=ctx.kwargs.get("timeout_s"),
            stdin=ctx.kwargs.get("stdin"),
        )
        ctx.log.info(
            "command finished",
            executable=result.argv[0],
            returncode=result.returncode,
            duration_s=round(result.duration_s, 4),
        )
        return result

    def run_command(
        self,
        argv: object,
        *,
        cwd: object = None,
        env: object = None,
        timeout_s: object = None,
        stdin: object = None,
    ) -> CommandResult:
        """Check and run one argument vector; the building block of `handle`.

        Parameters are typed ``object`` because they usually come from workflow files;
        each is checked here and a wrong one is refused with a message naming it.

        Args:
            argv: Non-empty list (or tuple) of strings; ``argv[0]`` names the program.
            cwd: Directory to run in; defaults to the agent's.
            env: Mapping of strings added to the minimal environment (see the module).
            timeout_s: Seconds before the program is killed; `max_timeout_s` when None.
            stdin: Text written to the program's standard input.

        Returns:
            The result of a command that exited with status 0.

        Raises:
            NonRetryableError: An argument is invalid or refused, the program is not
                allowed or cannot be started, or it wrote too much
                (`CommandOutputLimitError`).
            CommandFailedError: The program exited with a non-zero status.
            CommandTimeoutError: The program ran past ``timeout_s``.
        """
        checked_argv = check_argv(argv)
        executable = self.resolve(checked_argv[0])
        checked_cwd = check_cwd(cwd)
        task_env = check_env(
            env,
            denied_names=self.env_denied_names,
            denied_prefixes=self.env_denied_prefixes,
            allowed_names=self.env_allowed_names,
        )
        limit_s = check_timeout(timeout_s, self.max_timeout_s)
        stdin_bytes = check_stdin(stdin, self.max_stdin_bytes)

        with tempfile.TemporaryDirectory(
            prefix="command-", ignore_cleanup_errors=True
        ) as private_dir:
            try:
                outcome = run_process(
                    checked_argv,
                    executable=executable,
                    cwd=checked_cwd,
                    env={**base_env(self.search_path, private_dir), **task_env},
                    stdin=stdin_bytes,
                    timeout_s=limit_s,
                    max_output_bytes=self.max_output_bytes,
                )
            except OSError as exc:
                # Resolved a moment ago: the file vanished, or it cannot be executed after all.
                raise NonRetryableError(f"cannot start {checked_argv[0]!r}: {exc}") from exc
        stderr = outcome.stderr.decode("utf-8", errors="replace")
        if outcome.overflowed is not None:
            raise CommandOutputLimitError(
                checked_argv, outcome.overflowed, self.max_output_bytes, stderr_tail(stderr)
            )
        if outcome.timed_out:
            raise CommandTimeoutError(checked_argv, limit_s, stderr_tail(stderr))
        if outcome.returncode != 0:
            raise CommandFailedError(checked_argv, outcome.returncode, stderr_tail(stderr))
        return CommandResult(
            argv=checked_argv,
            returncode=0,
            stdout=outcome.stdout.decode("utf-8", errors="replace"),
            stderr=stderr,
            duration_s=outcome.duration_s,
        )

    def resolve(self, program: str) -> str:
        """Return the real path of the file that runs for ``program`` (``argv[0]``).

        Only `search_path` and `allowed_executables` decide; see `agents.command_resolve`.

        Raises:
            NonRetryableError: The program is not allowed, not found, resolves outside
                the search path, or is not a regular executable file.
        """
        return resolve_executable(
            program,
            owner=type(self).__name__,
            allowed=self.allowed_executables,
            search_path=self.search_path,
        )
