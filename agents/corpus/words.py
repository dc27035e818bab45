"""Word frequencies of Python sources: identifiers in code, words in comments and strings.

Each file is split with the `tokenize` module so that every word is counted under the
kind of token it came from: ``code`` (identifiers; keywords such as ``if`` and ``None``
are grammar, not vocabulary, and are left out), ``comment`` or ``string`` (docstrings
included). A file that does not tokenize is counted with a plain regular
expression under ``other``. Words are at least two characters long and lower-cased.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import ClassVar, TypedDict

from agents.corpus.checks import count_field, mapping_field, positive_int, sequence_field
from agents.corpus.plan import CorpusInputError, shard_task_paths
from orchestrator.agent import Agent, TaskContext

#: How many of the most frequent words a result keeps.
TOP_WORDS = 200
#: Kinds of token words are counted under.
WORD_KINDS = ("code", "comment", "string", "other")

# A letter or underscore, then at least one more word character.
_WORD_RE = re.compile(r"[^\W\d]\w+")


class WordCounts(TypedDict):
    """Word counts of some files.

    Attributes:
        files: Files counted.
        bytes: Their total size.
        total_words: Words counted (all of them, not just the top ones).
        words_by_kind: ``total_words`` split by token kind (see `WORD_KINDS`).
        top_words: The most frequent words as ``(word, count)``, most frequent first,
            ties by word.
        failed_files: ``"path: reason"`` for each file that could not be read (not counted).
    """

    files: int
    bytes: int
    total_words: int
    words_by_kind: dict[str, int]
    top_words: list[tuple[str, int]]
    failed_files: list[str]


def count_words(paths: Iterable[str], top: int = TOP_WORDS) -> WordCounts:
    """Count the words of the Python files ``paths``.

    Args:
        paths: Files to read.
        top: How many of the most frequent words to return.

    Returns:
        The counts; unreadable files are listed in ``failed_files``.

    Raises:
        CorpusInputError: ``top`` is not a positive integer.
    """
    positive_int("top", top)
    counter: Counter[str] = Counter()
    by_kind = dict.fromkeys(WORD_KINDS, 0)
    files = size = 0
    failed: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
            continue
        files += 1
        size += len(data)
        for kind, words in _words_by_kind(data).items():
            counter.update(words)
            by_kind[kind] += len(words)
    return WordCounts(
        files=files,
        bytes=size,
        total_words=sum(by_kind.values()),
        words_by_kind=by_kind,
        top_words=_top(counter, top),
        failed_files=failed,
    )


def merge_word_counts(*parts: Mapping[str, object]) -> WordCounts:
    """Combine the results of several shards into one.

    Totals are exact. A word's merged count is the sum over the shards whose top list
    holds it, so it is exact for words in every shard's list and a lower bound otherwise
    (shards are large and similar, so the leading words are in every list).

    Args:
        *parts: Results of `count_words` (or `WordFrequencyAgent`).

    Returns:
        The combined counts, keeping as many top words as the longest part.

    Raises:
        CorpusInputError: A part is not such a result; the message names it and the field.
    """
    counter: Counter[str] = Counter()
    by_kind = dict.fromkeys(WORD_KINDS, 0)
    files = size = 0
    failed: list[str] = []
    top = 0
    for index, part in enumerate(parts):
        where = f"merge_word_counts part {index}"
        files += count_field(part, "files", where)
        size += count_field(part, "bytes", where)
        kinds = mapping_field(part, "words_by_kind", where)
        for kind in kinds:
            if not isinstance(kind, str) or kind not in by_kind:
                raise CorpusInputError(f"{where}: unknown word kind {kind!r} in words_by_kind")
            by_kind[kind] += count_field(kinds, kind, f"{where} words_by_kind")
        pairs = sequence_field(part, "top_words", where)
        for pair in pairs:
            word, count = _word_pair(pair, where)
            counter[word] += count
        top = max(top, len(pairs))
        failed.extend(str(item) for item in sequence_field(part, "failed_files", where))
    return WordCounts(
        files=files,
        bytes=size,
        total_words=sum(by_kind.values()),
        words_by_kind=by_kind,
        top_words=_top(counter, top),
        failed_files=failed,
    )


class WordFrequencyAgent(Agent):
    """Counts the words of one shard of the corpus plan.

    Task: ``args: [{output_of: plan}, INDEX]``, optional ``kwargs: {top: N}``; returns
    `WordCounts`.
    """

    num_cpus: ClassVar[float] = 0.5
    memory_bytes: ClassVar[int] = 256 * 2**20
    replicas: ClassVar[int] = 2

    def handle(self, ctx: TaskContext) -> WordCounts:
        """Count the words of the shard named by the task's arguments.

        Raises:
            CorpusInputError: The arguments are not ``[plan, index]`` (plus ``top``).
        """
        paths = shard_task_paths(ctx.task_id, ctx.args, ctx.kwargs, frozenset({"top"}))
        top = positive_int("top", ctx.kwargs.get("top", TOP_WORDS))
        counts = count_words(paths, top)
        ctx.log.info(
            "shard words counted",
            files=counts["files"],
            bytes=counts["bytes"],
            total_words=counts["total_words"],
        )
        return counts


def _words_by_kind(data: bytes) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {kind: [] for kind in WORD_KINDS}
    code, comment, string = found["code"], found["comment"], found["string"]
    try:
        for token in tokenize.tokenize(io.BytesIO(data).readline):
            kind = token.type
            if kind == tokenize.NAME:
                if len(token.string) > 1 and not keyword.iskeyword(token.string):
                    code.append(token.string.lower())
            elif kind == tokenize.COMMENT:
                comment.extend(word.lower() for word in _WORD_RE.findall(token.string))
            elif kind == tokenize.STRING:
                string.extend(word.lower() for word in _WORD_RE.findall(token.string))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        # Not valid Python (or undecodable): count it, but say the kinds are unknown.
        text = data.decode("utf-8", errors="replace")
        found = {kind: [] for kind in WORD_KINDS}
        found["other"] = [word.lower() for word in _WORD_RE.findall(text)]
    return found


def _top(counter: Counter[str], top: int) -> list[tuple[str, int]]:
    # most_common breaks ties by insertion order; sort by word too, for stable results.
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]


def _word_pair(pair: object, where: str) -> tuple[str, int]:
    if (
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
        and not isinstance(pair[1], bool)
        and pair[1] >= 0
    ):
        return pair[0], pair[1]
    raise CorpusInputError(f"{where}: top_words entry {pair!r} is not [word, count]")
