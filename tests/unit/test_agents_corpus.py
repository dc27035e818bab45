"""The corpus demo's functions and agents, on small files with known content and on real
stdlib shards (no Ray)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import pytest

from agents.command import CommandResult
from agents.corpus import (
    CorpusInputError,
    CorpusTools,
    SyntaxStats,
    SyntaxStatsAgent,
    WordCounts,
    WordFrequencyAgent,
    count_words,
    merge_syntax_stats,
    merge_word_counts,
    parse_wc_lines,
    plan_shards,
    shard_paths,
    stdlib_dir,
    syntax_stats,
    wc_argv,
    write_report,
)
from orchestrator.agent import NonRetryableError, TaskContext, agent_spec

APPLES = '''\
# Count the apples.
def apple_count(apples):
    """Return apples twice."""
    return apples + apples  # apples again
'''

BASKET = '''\
"""Module docstring."""


class Basket:
    """A basket."""

    def add(self, item):
        """Add one."""
        return item

    async def fetch(self):
        return 1


def outer():
    def inner():
        first = 1
        second = 2
        return first + second

    return inner
'''


def _ctx(*args: Any, task_id: str = "t", **kwargs: Any) -> TaskContext:
    return TaskContext(
        workflow_id="wf",
        task_id=task_id,
        attempt=1,
        agent_id="a-0",
        args=args,
        kwargs=kwargs,
        inputs={},
        function=None,
    )


def _write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


# -- plan ----------------------------------------------------------------------------------


def test_plan_balances_shards_by_bytes(tmp_path: Path) -> None:
    sizes = {"a.py": 100, "b.py": 90, "c.py": 50, "d.py": 40, "e.py": 30, "f.py": 10}
    for name, size in sizes.items():
        _write(tmp_path, name, "#" * size)

    plan = plan_shards(2, root=str(tmp_path))

    # Largest first into the lightest shard: a | b, c | b, c, d... gives 170 and 150 bytes.
    names = [[os.path.basename(path) for path in shard] for shard in plan]
    assert names == [["a.py", "d.py", "e.py"], ["b.py", "c.py", "f.py"]]
    assert [sum(os.path.getsize(p) for p in shard) for shard in plan] == [170, 150]


def test_plan_takes_top_level_python_files_only_and_skips_unreadable(tmp_path: Path) -> None:
    _write(tmp_path, "keep.py", "x = 1\n")
    _write(tmp_path, "notes.txt", "not python\n")
    (tmp_path / "pkg").mkdir()
    _write(tmp_path / "pkg", "nested.py", "y = 2\n")
    (tmp_path / "broken.py").symlink_to(tmp_path / "missing-target.py")

    plan = plan_shards(3, root=str(tmp_path))

    assert [path for shard in plan for path in shard] == [str(tmp_path / "keep.py")]
    assert sum(1 for shard in plan if not shard) == 2  # more shards than files: empty ones


def test_plan_limit_takes_the_first_files_in_sorted_order(tmp_path: Path) -> None:
    for name in ("d.py", "a.py", "c.py", "b.py"):
        _write(tmp_path, name, "pass\n")

    plan = plan_shards(1, limit=2, root=str(tmp_path))

    assert plan == [[str(tmp_path / "a.py"), str(tmp_path / "b.py")]]
    assert plan_shards(2, limit=0, root=str(tmp_path)) == [[], []]


def test_plan_of_the_real_stdlib_covers_every_file_once() -> None:
    expected = sorted(glob.glob(os.path.join(stdlib_dir(), "*.py")))

    plan = plan_shards(8)

    assert len(plan) == 8
    flat = sorted(path for shard in plan for path in shard)
    assert flat == expected
    assert os.path.join(stdlib_dir(), "os.py") in flat
    totals = [sum(os.path.getsize(p) for p in shard) for shard in plan]
    assert max(totals) - min(totals) <= max(os.path.getsize(p) for p in expected)


@pytest.mark.parametrize("shards", [0, -1, True, "8", 2.0])
def test_plan_refuses_bad_shard_counts(shards: Any) -> None:
    with pytest.raises(CorpusInputError, match="shards must be a positive integer"):
        plan_shards(shards)


@pytest.mark.parametrize("limit", [-1, True, "3", 1.5])
def test_plan_refuses_bad_limits(limit: Any) -> None:
    with pytest.raises(CorpusInputError, match="limit must be a non-negative integer"):
        plan_shards(2, limit=limit)


def test_plan_refuses_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(CorpusInputError, match="is not a directory"):
        plan_shards(2, root=str(tmp_path / "nope"))


def test_corpus_input_errors_are_value_errors_and_not_retryable() -> None:
    assert issubclass(CorpusInputError, ValueError)
    assert issubclass(CorpusInputError, NonRetryableError)


@pytest.mark.parametrize(
    ("shards", "index", "problem"),
    [
        ("abc", 0, "must be the plan"),
        (None, 0, "must be the plan"),
        ([["a"]], 1, "out of range: the plan has 1"),
        ([["a"]], -1, "out of range"),
        ([["a"]], "0", "shard index must be an integer"),
        ([["a"]], True, "shard index must be an integer"),
        (["a.py"], 0, "shard 0 must be a list of paths"),
        ([[1]], 0, "non-string path 1"),
    ],
)
def test_shard_paths_refuses_bad_plans(shards: Any, index: Any, problem: str) -> None:
    with pytest.raises(CorpusInputError, match=problem):
        shard_paths(shards, index)


# -- words ---------------------------------------------------------------------------------


def test_count_words_by_kind_on_known_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "apples.py", APPLES)

    counts = count_words([path])

    # code: apple_count + 3 x apples (def/return are keywords); comments: count, the,
    # apples, apples, again; strings: return, apples, twice.
    assert counts["words_by_kind"] == {"code": 4, "comment": 5, "string": 3, "other": 0}
    assert counts["total_words"] == 12
    assert counts["files"] == 1
    assert counts["bytes"] == len(APPLES.encode())
    assert counts["top_words"][0] == ("apples", 6)
    assert dict(counts["top_words"])["return"] == 1  # from the docstring only
    assert "def" not in dict(counts["top_words"])
    assert counts["failed_files"] == []


def test_count_words_ties_are_ordered_by_word_and_top_limits(tmp_path: Path) -> None:
    path = _write(tmp_path, "ties.py", "zeta = beta = alpha = 1\n")

    assert count_words([path])["top_words"] == [("alpha", 1), ("beta", 1), ("zeta", 1)]
    assert count_words([path], top=2)["top_words"] == [("alpha", 1), ("beta", 1)]


def test_count_words_falls_back_for_files_that_do_not_tokenize(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.py", "def broken(:\n    text = '''never closed\n")

    counts = count_words([path])

    assert counts["words_by_kind"]["other"] == 5  # def broken text never closed
    assert counts["words_by_kind"]["code"] == 0
    assert counts["files"] == 1


def test_count_words_lists_unreadable_files(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.py", "value = 1\n")
    missing = str(tmp_path / "missing.py")

    counts = count_words([good, missing])

    assert counts["files"] == 1
    assert counts["failed_files"] == [f"{missing}: No such file or directory"]


def test_count_words_refuses_bad_top() -> None:
    with pytest.raises(CorpusInputError, match="top must be a positive integer, got 0"):
        count_words([], top=0)


def test_merge_word_counts_sums_exactly() -> None:
    first = WordCounts(
        files=2,
        bytes=100,
        total_words=10,
        words_by_kind={"code": 6, "comment": 2, "string": 2, "other": 0},
        top_words=[("self", 5), ("apple", 3)],
        failed_files=["x.py: gone"],
    )
    second = {
        "files": 1,
        "bytes": 50,
        "total_words": 7,
        "words_by_kind": {"code": 4, "comment": 0, "string": 1, "other": 2},
        "top_words": [["apple", 4], ["pear", 1], ["zebra", 1]],  # lists, as from JSON
        "failed_files": [],
    }

    merged = merge_word_counts(first, second)

    assert merged["files"] == 3
    assert merged["bytes"] == 150
    assert merged["total_words"] == 17
    assert merged["words_by_kind"] == {"code": 10, "comment": 2, "string": 3, "other": 2}
    assert merged["top_words"] == [("apple", 7), ("self", 5), ("pear", 1)]  # 3 = longest part
    assert merged["failed_files"] == ["x.py: gone"]


def test_merge_of_nothing_is_empty() -> None:
    merged = merge_word_counts()
    assert merged["files"] == 0
    assert merged["total_words"] == 0
    assert merged["top_words"] == []


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"files": 1}, "part 1: missing field 'bytes'"),
        ({"files": -1}, "part 1: field 'files' must be a non-negative int"),
        ({"files": True}, "part 1: field 'files' must be a non-negative int"),
        ({"words_by_kind": {"code": 1, "poetry": 2}}, "unknown word kind 'poetry'"),
        ({"words_by_kind": {"code": "1"}}, "field 'code' must be a non-negative int"),
        ({"words_by_kind": []}, "field 'words_by_kind' must be a mapping"),
        ({"top_words": [["a", 1, 2]]}, r"top_words entry \['a', 1, 2\] is not \[word, count\]"),
        ({"top_words": [[1, "a"]]}, "is not \\[word, count\\]"),
        ({"top_words": "a"}, "field 'top_words' must be a list"),
        ({"failed_files": None}, "field 'failed_files' must be a list"),
    ],
)
def test_merge_word_counts_refuses_malformed_parts(broken: dict[str, Any], problem: str) -> None:
    good = dict(count_words([]))
    bad = {**good, **broken}
    if broken == {"files": 1}:
        del bad["bytes"]
    with pytest.raises(CorpusInputError, match=problem):
        merge_word_counts(good, bad)


def test_merge_word_counts_refuses_a_non_mapping() -> None:
    with pytest.raises(CorpusInputError, match="part 0: expected a shard result, got list"):
        merge_word_counts([1, 2])  # type: ignore[arg-type]


def test_word_frequency_agent_counts_one_shard(tmp_path: Path) -> None:
    path = _write(tmp_path, "apples.py", APPLES)
    plan = [[], [path]]

    counts = WordFrequencyAgent().handle(_ctx(plan, 1))
    top_two = WordFrequencyAgent().handle(_ctx(plan, 1, top=2))
    empty = WordFrequencyAgent().handle(_ctx(plan, 0))

    assert counts == count_words([path])
    assert top_two["top_words"] == counts["top_words"][:2]
    assert empty["files"] == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((), {}, r"task 't': expected args \[plan, shard index\], got 0"),
        (([["a.py"]],), {}, "got 1 argument"),
        (([["a.py"]], 0, 1), {}, "got 3 argument"),
        (([["a.py"]], 0), {"limit": 3}, r"unknown keyword argument\(s\) limit \(accepted: top\)"),
        (([["a.py"]], 0), {"top": -5}, "top must be a positive integer"),
        (([["a.py"]], 4), {}, "out of range"),
    ],
)
def test_word_frequency_agent_refuses_bad_task_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CorpusInputError, match=problem):
        WordFrequencyAgent().handle(_ctx(*args, **kwargs))


def test_word_frequency_agent_declares_its_size() -> None:
    spec = agent_spec(WordFrequencyAgent)
    assert spec.name == "WordFrequencyAgent"
    assert (spec.resources.num_cpus, spec.resources.memory_bytes) == (0.5, 256 * 2**20)
    assert spec.replicas == 2


# -- syntax --------------------------------------------------------------------------------


def test_syntax_stats_on_known_code(tmp_path: Path) -> None:
    path = _write(tmp_path, "basket.py", BASKET)

    stats = syntax_stats([path])

    assert stats["files"] == 1
    assert stats["lines"] == BASKET.count("\n")
    assert stats["functions"] == 4  # add, fetch, outer, inner
    assert stats["async_functions"] == 1
    assert stats["classes"] == 1
    assert stats["documented"] == 2  # Basket, add
    assert stats["docstring_coverage"] == pytest.approx(2 / 5)
    assert stats["longest_function"] == {"file": path, "name": "outer", "lines": 7}
    assert stats["failed_files"] == []


def test_syntax_stats_names_methods_and_nested_functions(tmp_path: Path) -> None:
    method = "class Box:\n    def big(self):\n" + "        x = 1\n" * 5
    nested = "def f():\n    def g():\n" + "        y = 2\n" * 9 + "    return g\n"
    first = _write(tmp_path, "box.py", method)
    second = _write(tmp_path, "nest.py", nested)

    assert syntax_stats([first])["longest_function"] == {
        "file": first,
        "name": "Box.big",
        "lines": 6,
    }
    longest = syntax_stats([first, second])["longest_function"]
    assert longest == {"file": second, "name": "f", "lines": 12}


def test_syntax_stats_lists_files_that_fail(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.py", "def ok():\n    pass\n")
    broken = _write(tmp_path, "broken.py", "def broken(:\n")
    nul = tmp_path / "nul.py"
    nul.write_bytes(b"x = 1\0\n")
    missing = str(tmp_path / "missing.py")

    stats = syntax_stats([good, broken, str(nul), missing])

    assert stats["files"] == 1
    assert stats["functions"] == 1
    assert stats["lines"] == 2
    failed = dict(item.split(": ", 1) for item in stats["failed_files"])
    assert set(failed) == {broken, str(nul), missing}
    assert failed[broken].startswith("SyntaxError")
    assert failed[missing] == "No such file or directory"


def test_syntax_stats_of_nothing() -> None:
    stats = syntax_stats([])
    assert stats["docstring_coverage"] == 0.0
    assert stats["longest_function"] is None


def test_merge_syntax_stats_pools_coverage_and_keeps_the_longest(tmp_path: Path) -> None:
    basket = syntax_stats([_write(tmp_path, "basket.py", BASKET)])
    documented = syntax_stats([_write(tmp_path, "doc.py", 'def f():\n    """Doc."""\n')])

    merged = merge_syntax_stats(basket, documented, syntax_stats([]))

    assert merged["files"] == 2
    assert merged["functions"] == 5
    assert merged["classes"] == 1
    assert merged["documented"] == 3
    # Pooled (3 of 6), not the mean of the shards' coverages ((0.4 + 1.0) / 2).
    assert merged["docstring_coverage"] == pytest.approx(0.5)
    assert merged["lines"] == basket["lines"] + documented["lines"]
    assert merged["longest_function"] == basket["longest_function"]


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"classes": -2}, "part 1: field 'classes' must be a non-negative int"),
        ({"longest_function": "f"}, "field 'longest_function' is malformed"),
        ({"longest_function": {"file": "a.py", "lines": 3}}, "has no name"),
        (
            {"longest_function": {"file": "a.py", "name": "f", "lines": 0}},
            "lines must be a positive",
        ),
        ({"failed_files": "x"}, "field 'failed_files' must be a list"),
    ],
)
def test_merge_syntax_stats_refuses_malformed_parts(broken: dict[str, Any], problem: str) -> None:
    good = dict(syntax_stats([]))
    with pytest.raises(CorpusInputError, match=problem):
        merge_syntax_stats(good, {**good, **broken})


def test_merge_syntax_stats_refuses_a_part_without_longest_function() -> None:
    part = dict(syntax_stats([]))
    del part["longest_function"]
    with pytest.raises(CorpusInputError, match="part 0: missing field 'longest_function'"):
        merge_syntax_stats(part)


def test_syntax_stats_agent_parses_one_shard(tmp_path: Path) -> None:
    path = _write(tmp_path, "basket.py", BASKET)
    assert SyntaxStatsAgent().handle(_ctx([[path]], 0)) == syntax_stats([path])


def test_syntax_stats_agent_accepts_no_keyword_arguments() -> None:
    with pytest.raises(
        CorpusInputError, match=r"unknown keyword argument\(s\) top \(accepted: none\)"
    ):
        SyntaxStatsAgent().handle(_ctx([["a.py"]], 0, top=3))


def test_syntax_stats_agent_declares_its_size() -> None:
    spec = agent_spec(SyntaxStatsAgent)
    assert (spec.resources.num_cpus, spec.replicas) == (0.25, 2)


# -- line counts ---------------------------------------------------------------------------


def test_corpus_tools_counts_lines_of_every_file_or_one_shard(tmp_path: Path) -> None:
    first = _write(tmp_path, "one.py", "a = 1\n")
    second = _write(tmp_path, "with space.py", "b = 1\nc = 2\nd = 3\n")
    plan = [[first], [second]]

    everything = CorpusTools().handle(_ctx(plan))
    shard = CorpusTools().handle(_ctx(plan, 1, timeout_s=30))

    assert everything.argv == ("wc", "-l", "--", first, second)
    assert parse_wc_lines(everything) == {first: 1, second: 3}
    assert parse_wc_lines(shard) == {second: 3}
    assert sum(parse_wc_lines(everything).values()) == syntax_stats([first, second])["lines"]


def test_corpus_tools_on_an_empty_shard_counts_nothing_and_does_not_wait() -> None:
    result = CorpusTools().handle(_ctx([[]], 0, timeout_s=10))
    assert parse_wc_lines(result) == {}


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((), {}, r"expected args \[plan\] or \[plan, shard index\], got 0"),
        (([], 0, 1), {}, "got 3 argument"),
        (([[]],), {"argv": ["cat"]}, r"unknown keyword argument\(s\) argv \(accepted: timeout_s\)"),
        (("plan",), {}, "must be the plan"),
        (([[]], 2), {}, "out of range"),
    ],
)
def test_corpus_tools_refuses_bad_task_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CorpusInputError, match=problem):
        CorpusTools().handle(_ctx(*args, **kwargs))


def test_corpus_tools_may_run_wc_only() -> None:
    with pytest.raises(
        NonRetryableError, match=r"'cat' is not allowed .*\(allowed executables: wc\)"
    ):
        CorpusTools().run_command(["cat", "/etc/hostname"])
    spec = agent_spec(CorpusTools)
    assert (spec.resources.num_cpus, spec.replicas) == (0.25, 1)


def test_wc_argv_ends_options_before_the_paths() -> None:
    assert wc_argv(["-x.py"]) == ["wc", "-l", "--", "-x.py"]


def test_parse_wc_lines_ignores_the_total_line_in_any_language() -> None:
    result = CommandResult(
        argv=("wc", "-l", "--", "/a.py", "/b.py"),
        returncode=0,
        stdout="  3 /a.py\n 10 /b.py\n 13 insgesamt\n",
        stderr="",
        duration_s=0.01,
    )
    assert parse_wc_lines(result) == {"/a.py": 3, "/b.py": 10}


def test_parse_wc_lines_without_end_of_options_marker() -> None:
    result = CommandResult(("wc", "-l", "/a.py"), 0, "5 /a.py\n", "", 0.0)
    assert parse_wc_lines(result) == {"/a.py": 5}


def test_parse_wc_lines_refuses_other_input() -> None:
    with pytest.raises(
        CorpusInputError, match="expected the CommandResult of a wc -l task, got dict"
    ):
        parse_wc_lines({"stdout": "1 a"})  # type: ignore[arg-type]
    garbled = CommandResult(("wc", "-l", "--", "/a.py"), 0, "wc: oops\n", "", 0.0)
    with pytest.raises(CorpusInputError, match="unexpected wc output line 'wc: oops'"):
        parse_wc_lines(garbled)


# -- report --------------------------------------------------------------------------------


def _small_corpus(tmp_path: Path) -> tuple[WordCounts, SyntaxStats, CommandResult]:
    plan = [[_write(tmp_path, "apples.py", APPLES)], [_write(tmp_path, "basket.py", BASKET)]]
    words = merge_word_counts(*(WordFrequencyAgent().handle(_ctx(plan, i)) for i in (0, 1)))
    syntax = merge_syntax_stats(*(SyntaxStatsAgent().handle(_ctx(plan, i)) for i in (0, 1)))
    return words, syntax, CorpusTools().handle(_ctx(plan))


def test_report_shows_totals_words_coverage_and_the_wc_cross_check(tmp_path: Path) -> None:
    words, syntax, lines = _small_corpus(tmp_path)

    report = write_report(words, syntax, lines)

    assert report.startswith("# Corpus report: the Python standard library\n")
    assert f"sources under `{tmp_path}`" in report
    assert f"| Words | {words['total_words']} (code " in report
    assert f"| Lines (ast pass) | {syntax['lines']} |" in report
    assert f"| Lines (`wc -l`, 2 files) | {syntax['lines']} (agrees with the ast pass) |" in report
    assert "| Functions | 5 (1 async) |" in report
    assert "| Docstring coverage | 50.0% (3 of 6 functions and classes) |" in report
    assert "`outer` in `basket.py`: 7 lines." in report
    assert "| 1 | `apples` | 6 |" in report
    assert "Files not processed" not in report


def test_report_flags_a_line_count_mismatch_and_failed_files(tmp_path: Path) -> None:
    words, syntax, lines = _small_corpus(tmp_path)
    syntax = {**syntax, "lines": syntax["lines"] + 5, "failed_files": ["/x/bad.py: SyntaxError"]}

    report = write_report(words, syntax, lines)

    assert "(differs from the ast pass by -5)" in report
    assert "## Files not processed\n\n- /x/bad.py: SyntaxError\n" in report


def test_report_of_an_empty_corpus_says_so() -> None:
    empty = CommandResult(("wc", "-l", "--"), 0, "0\n", "", 0.0)
    report = write_report(count_words([]), syntax_stats([]), empty)
    assert "No functions found." in report
    assert "No words counted." in report


def test_report_refuses_inputs_in_the_wrong_order(tmp_path: Path) -> None:
    words, syntax, lines = _small_corpus(tmp_path)
    with pytest.raises(CorpusInputError, match="merge_word_counts part 0: missing field"):
        write_report(syntax, words, lines)
    with pytest.raises(CorpusInputError, match="expected the CommandResult"):
        write_report(words, syntax, words)  # type: ignore[arg-type]


# -- real stdlib shards --------------------------------------------------------------------


def test_real_stdlib_shards_give_real_numbers() -> None:
    plan = plan_shards(2, limit=16)
    paths = [path for shard in plan for path in shard]

    word_parts = [WordFrequencyAgent().handle(_ctx(plan, i)) for i in range(2)]
    syntax_parts = [SyntaxStatsAgent().handle(_ctx(plan, i)) for i in range(2)]
    words = merge_word_counts(*word_parts)
    syntax = merge_syntax_stats(*syntax_parts)
    wc = parse_wc_lines(CorpusTools().handle(_ctx(plan)))

    assert words["files"] == syntax["files"] == len(paths) == 16
    assert words["bytes"] == sum(os.path.getsize(p) for p in paths)
    assert words["total_words"] == sum(p["total_words"] for p in word_parts) > 10_000
    assert min(words["words_by_kind"][kind] for kind in ("code", "comment", "string")) > 0
    assert "self" in dict(words["top_words"][:20])
    assert syntax["functions"] > 100
    assert syntax["classes"] > 10
    assert 0 < syntax["docstring_coverage"] < 1
    assert syntax["failed_files"] == []
    with open(paths[0], "rb") as handle:
        first_lines = handle.read().count(b"\n")
    assert wc[paths[0]] == first_lines
    assert sum(wc.values()) == syntax["lines"]
