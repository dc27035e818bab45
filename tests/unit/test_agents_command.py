"""CommandAgent: allowlisted programs run from an argument vector, never a shell (no Ray)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agents.command import (
    STDERR_TAIL_CHARS,
    CommandAgent,
    CommandFailedError,
    CommandResult,
    CommandTimeoutError,
)
from orchestrator.agent import NonRetryableError, TaskContext


class Tools(CommandAgent):
    allowed_executables: ClassVar[frozenset[str]] = frozenset(
        {"wc", "cat", "sleep", "printenv", "pwd", "tail", "no-such-program-4f1c"}
    )


def _ctx(*args: Any, **kwargs: Any) -> TaskContext:
    return TaskContext(
        workflow_id="wf",
        task_id="cmd",
        attempt=1,
        agent_id="tools-0",
        args=args,
        kwargs=kwargs,
        inputs={},
        function=None,
    )


# -- running -------------------------------------------------------------------------------


def test_allowed_command_runs_and_returns_its_output(tmp_path: Path) -> None:
    target = tmp_path / "three.txt"
    target.write_text("a\nb\nc\n")

    result = Tools().handle(_ctx(argv=["wc", "-l", str(target)]))

    assert isinstance(result, CommandResult)
    assert result.argv == ("wc", "-l", str(target))
    assert result.returncode == 0
    assert result.stdout.split() == ["3", str(target)]
    assert result.stderr == ""
    assert result.duration_s > 0


def test_positional_args_are_the_argv(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("hello")

    result = Tools().handle(_ctx("cat", str(target)))

    assert result.stdout == "hello"


def test_arguments_are_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    # With a shell this would create the marker; without one it is a (missing) file name.
    with pytest.raises(CommandFailedError):
        Tools().handle(_ctx(argv=["cat", f"nothing; touch {marker}", "$(id)"]))
    assert not marker.exists()


def test_executable_allowlisted_by_absolute_path_runs() -> None:
    found = shutil.which("wc", path=os.pathsep.join(CommandAgent.search_path))
    assert found is not None
    wc: str = found

    class PathTools(CommandAgent):
        allowed_executables: ClassVar[frozenset[str]] = frozenset({wc})

    result = PathTools().handle(_ctx(argv=[wc, "-c"], stdin="abcd"))
    assert result.stdout.strip() == "4"
    assert result.argv[0] == wc


def test_stdin_is_fed_to_the_program() -> None:
    result = Tools().handle(_ctx(argv=["wc", "-l"], stdin="1\n2\n3\n4\n"))
    assert result.stdout.strip() == "4"


def test_without_stdin_the_program_reads_an_empty_input() -> None:
    # cat would block forever on an inherited terminal; an empty stdin ends it at once.
    result = Tools().handle(_ctx(argv=["cat"], timeout_s=10))
    assert result.stdout == ""


def test_cwd_is_where_the_program_runs(tmp_path: Path) -> None:
    result = Tools().handle(_ctx(argv=["pwd"], cwd=str(tmp_path)))
    assert Path(result.stdout.strip()).resolve() == tmp_path.resolve()


def test_env_is_added_to_the_minimal_environment() -> None:
    result = Tools().handle(
        _ctx(argv=["printenv", "CORPUS_TEST_VAR"], env={"CORPUS_TEST_VAR": "x1"})
    )
    assert result.stdout == "x1\n"
    # PATH is the agent's search path, not the agent's own PATH.
    path = Tools().handle(_ctx(argv=["printenv", "PATH"], env={"CORPUS_TEST_VAR": "x1"}))
    assert path.stdout.strip() == "/usr/local/bin:/usr/bin:/bin"


def test_locale_defaults_to_c_utf8_and_a_task_may_change_it() -> None:
    default = Tools().handle(_ctx(argv=["printenv", "LANG", "LC_ALL"]))
    assert default.stdout.split() == ["C.UTF-8", "C.UTF-8"]
    chosen = Tools().handle(_ctx(argv=["printenv", "LC_ALL"], env={"LC_ALL": "C"}))
    assert chosen.stdout.strip() == "C"


def test_undecodable_output_is_replaced_not_fatal(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"ok\xff\n")
    result = Tools().handle(_ctx(argv=["cat", str(blob)]))
    assert result.stdout == "ok\ufffd\n"


def test_result_is_frozen() -> None:
    result = Tools().handle(_ctx(argv=["wc", "-l"], stdin=""))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.returncode = 1  # type: ignore[misc]


# -- refusals --------------------------------------------------------------------------------


def test_disallowed_executable_is_refused_naming_it_and_the_allowlist() -> None:
    with pytest.raises(NonRetryableError) as caught:
        Tools().handle(_ctx(argv=["rm", "-rf", "/tmp/nothing"]))
    message = str(caught.value)
    assert "'rm'" in message
    assert "cat, no-such-program-4f1c, printenv, pwd, sleep, tail, wc" in message


def test_disallowed_executable_given_as_a_path_is_refused() -> None:
    with pytest.raises(NonRetryableError, match="'/bin/sh' is not allowed"):
        Tools().handle(_ctx(argv=["/bin/sh", "-c", "echo hi"]))


def test_base_class_allows_nothing() -> None:
    with pytest.raises(
        NonRetryableError, match=r"'wc' is not allowed .*\(allowed executables: none\)"
    ):
        CommandAgent().handle(_ctx(argv=["wc", "-l"]))


def test_allowed_but_missing_program_is_not_retryable() -> None:
    with pytest.raises(
        NonRetryableError,
        match="'no-such-program-4f1c' not found in the search path /usr/local/bin:/usr/bin:/bin",
    ):
        Tools().handle(_ctx(argv=["no-such-program-4f1c"]))


def test_allowlisted_absolute_path_that_is_missing_is_not_retryable() -> None:
    class Missing(CommandAgent):
        allowed_executables: ClassVar[frozenset[str]] = frozenset({"/nonexistent/dir/wc"})

    with pytest.raises(NonRetryableError, match=r"'/nonexistent/dir/wc' .* not found"):
        Missing().handle(_ctx(argv=["/nonexistent/dir/wc"]))


def test_program_that_cannot_start_is_not_retryable(tmp_path: Path) -> None:
    fake = tmp_path / "wc"
    fake.write_bytes(b"\x00\x01garbage, no shebang, no ELF header")
    fake.chmod(0o755)

    class Garbage(CommandAgent):
        allowed_executables: ClassVar[frozenset[str]] = frozenset({"wc"})
        search_path: ClassVar[tuple[str, ...]] = (str(tmp_path),)

    with pytest.raises(NonRetryableError, match=r"cannot start .*Exec format error"):
        Garbage().handle(_ctx(argv=["wc"]))


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ("wc -l file", "not a single string"),
        (b"wc", "not a single string"),
        (42, "must be a list of strings, got int"),
        ({"wc": "-l"}, "must be a list of strings, got dict"),
        ([], "argv is empty"),
        ([""], r"argv\[0\] is empty"),
        (["wc", 3], r"argv\[1\] must be a string, got int 3"),
        (["wc", None], r"argv\[1\] must be a string, got NoneType"),
        ([["wc"]], r"argv\[0\] must be a string, got list"),
    ],
)
def test_bad_argv_is_refused_naming_the_problem(argv: object, problem: str) -> None:
    with pytest.raises(NonRetryableError, match=problem):
        Tools().handle(_ctx(argv=argv))


def test_empty_positional_args_is_an_empty_argv() -> None:
    with pytest.raises(NonRetryableError, match="argv is empty"):
        Tools().handle(_ctx())


@pytest.mark.parametrize("argv", [["wc\0", "-l"], ["wc", "-l", "file\0name"]])
def test_nul_byte_in_argv_is_refused(argv: list[str]) -> None:
    with pytest.raises(NonRetryableError, match="contains a NUL byte"):
        Tools().handle(_ctx(argv=argv))


def test_argv_given_twice_is_refused() -> None:
    with pytest.raises(NonRetryableError, match="either as kwargs 'argv' or as args, not both"):
        Tools().handle(_ctx("wc", argv=["wc"]))


def test_unknown_option_is_refused_not_ignored() -> None:
    with pytest.raises(NonRetryableError, match=r"unknown command option\(s\) shell, timeout"):
        Tools().handle(_ctx(argv=["wc"], timeout=3, shell=True))


@pytest.mark.parametrize(
    ("cwd", "problem"),
    [("/nonexistent/dir", "is not an existing directory"), (3, "cwd must be a path string")],
)
def test_bad_cwd_is_refused(cwd: object, problem: str) -> None:
    with pytest.raises(NonRetryableError, match=problem):
        Tools().handle(_ctx(argv=["pwd"], cwd=cwd))


def test_cwd_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("")
    with pytest.raises(NonRetryableError, match="is not an existing directory"):
        Tools().handle(_ctx(argv=["pwd"], cwd=str(file)))


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (["A=1"], "env must be a mapping of strings, got list"),
        ({"A": 1}, "env entries must be strings"),
        ({1: "a"}, "env entries must be strings"),
        ({"A=B": "1"}, "env variable 'A=B' has an invalid name"),
        ({"": "1"}, "env variable '' has an invalid name"),
        ({"A\0": "1"}, "has an invalid name"),
        ({"1A": "1"}, "env variable '1A' has an invalid name"),
        ({"A-B": "1"}, "env variable 'A-B' has an invalid name"),
        ({"A B": "1"}, "env variable 'A B' has an invalid name"),
        ({"\u00c9T\u00c9": "1"}, "has an invalid name"),
        ({"A": "1\0"}, "env variable 'A' has a NUL byte in its value"),
        ({"A": "\udc80\ud800"}, "env variable 'A' has a value that cannot be encoded"),
    ],
)
def test_bad_env_is_refused(env: object, problem: str) -> None:
    with pytest.raises(NonRetryableError, match=problem):
        Tools().handle(_ctx(argv=["printenv"], env=env))


@pytest.mark.parametrize(
    ("timeout_s", "problem"),
    [
        (0, "must be positive and finite"),
        (-1.5, "must be positive and finite"),
        (float("inf"), "must be positive and finite"),
        (float("nan"), "must be positive and finite"),
        ("5", "must be a number, got str"),
        (True, "must be a number, got bool"),
    ],
)
def test_bad_timeout_is_refused(timeout_s: object, problem: str) -> None:
    with pytest.raises(NonRetryableError, match=f"timeout_s {problem}"):
        Tools().handle(_ctx(argv=["wc"], timeout_s=timeout_s))


def test_non_string_stdin_is_refused() -> None:
    with pytest.raises(NonRetryableError, match="stdin must be a string, got bytes"):
        Tools().handle(_ctx(argv=["wc"], stdin=b"x"))


# -- failures --------------------------------------------------------------------------------


def test_non_zero_exit_raises_a_retryable_error_with_stderr() -> None:
    with pytest.raises(CommandFailedError) as caught:
        Tools().handle(_ctx(argv=["wc", "-l", "/nonexistent/file.txt"]))
    error = caught.value
    assert isinstance(error, RuntimeError)
    assert not isinstance(error, NonRetryableError)
    assert error.returncode == 1
    assert error.argv == ("wc", "-l", "/nonexistent/file.txt")
    assert "/nonexistent/file.txt" in error.stderr_tail
    assert "No such file or directory" in error.stderr_tail
    assert "exited with status 1" in str(error)
    assert "No such file or directory" in str(error)


def test_failure_keeps_only_the_end_of_a_long_stderr() -> None:
    missing = [f"/nonexistent/{index:03d}-" + "x" * 80 for index in range(60)]
    with pytest.raises(CommandFailedError) as caught:
        Tools().handle(_ctx(argv=["wc", "-l", *missing]))
    tail = caught.value.stderr_tail
    assert len(tail) == STDERR_TAIL_CHARS
    assert missing[-1] in tail
    assert missing[0] not in tail


def test_timeout_kills_the_program_and_raises() -> None:
    started = time.perf_counter()
    with pytest.raises(CommandTimeoutError) as caught:
        Tools().handle(_ctx(argv=["sleep", "30"], timeout_s=0.2))
    elapsed_s = time.perf_counter() - started
    error = caught.value
    assert isinstance(error, CommandFailedError)
    assert isinstance(error, TimeoutError)
    assert error.timeout_s == 0.2
    assert error.returncode is None
    assert "'sleep 30' timed out after 0.2 s" in str(error)
    # Killed, not waited for: the program alone would have run 30 s
    assert elapsed_s < 30


def test_timeout_keeps_what_the_program_wrote_to_stderr() -> None:
    # tail -F reports the missing file on stderr, then waits for it to appear.
    with pytest.raises(CommandTimeoutError) as caught:
        Tools().handle(_ctx(argv=["tail", "-F", "/nonexistent/log"], timeout_s=0.5))
    assert "cannot open '/nonexistent/log'" in caught.value.stderr_tail
    assert "cannot open '/nonexistent/log'" in str(caught.value)


def test_errors_survive_pickling_with_their_fields() -> None:
    failed = CommandFailedError(("wc", "x"), 2, "bad things")
    timed_out = CommandTimeoutError(("sleep", "9"), 1.5, "partial")

    failed_copy = pickle.loads(pickle.dumps(failed))
    timed_out_copy = pickle.loads(pickle.dumps(timed_out))

    assert (failed_copy.argv, failed_copy.returncode, failed_copy.stderr_tail) == (
        ("wc", "x"),
        2,
        "bad things",
    )
    assert str(failed_copy) == str(failed)
    assert isinstance(timed_out_copy, CommandTimeoutError)
    assert timed_out_copy.timeout_s == 1.5
    assert str(timed_out_copy) == str(timed_out)


def test_failure_without_stderr_says_so() -> None:
    assert (
        str(CommandFailedError(["false"], 1, ""))
        == "command 'false' exited with status 1 (no stderr)"
    )
