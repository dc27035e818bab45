"""The corpus report: word, syntax and line counts of the corpus as one Markdown page."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from agents.command import CommandResult
from agents.corpus.lines import parse_wc_lines
from agents.corpus.syntax import merge_syntax_stats
from agents.corpus.words import merge_word_counts

#: Words listed in the report.
REPORT_TOP_WORDS = 20


def write_report(
    words: Mapping[str, object],
    syntax: Mapping[str, object],
    line_counts: CommandResult,
) -> str:
    """Return the Markdown report of the corpus.

    Args:
        words: Merged word counts (`merge_word_counts`).
        syntax: Merged syntax statistics (`merge_syntax_stats`).
        line_counts: The ``wc -l`` run of the line-count task (`CorpusTools`).

    Returns:
        The report: totals, docstring coverage, longest function, top words, the ``wc``
        cross-check of the line count, and any files that could not be processed.

    Raises:
        CorpusInputError: An input is not the result it should be; the message names it.
    """
    # Merging a single part checks every field and gives typed values.
    word_counts = merge_word_counts(words)
    stats = merge_syntax_stats(syntax)
    wc_lines = parse_wc_lines(line_counts)
    wc_total = sum(wc_lines.values())

    out: list[str] = ["# Corpus report: the Python standard library", ""]
    if wc_lines:
        root = os.path.commonpath(list(wc_lines))
        out += [f"Python {sys.version.split()[0]} sources under `{root}`.", ""]

    total_words = word_counts["total_words"]
    kinds = ", ".join(
        f"{kind} {count:,}" for kind, count in word_counts["words_by_kind"].items() if count
    )
    agreement = (
        "agrees with the ast pass"
        if wc_total == stats["lines"] and len(wc_lines) == stats["files"]
        else f"differs from the ast pass by {wc_total - stats['lines']:+,}"
    )
    definitions = stats["functions"] + stats["classes"]
    out += [
        "## Totals",
        "",
        "| Measure | Value |",
        "|---|---:|",
        f"| Files (word count) | {word_counts['files']:,} |",
        f"| Bytes | {word_counts['bytes']:,} |",
        f"| Words | {total_words:,} ({kinds or 'none'}) |",
        f"| Files parsed | {stats['files']:,} |",
        f"| Lines (ast pass) | {stats['lines']:,} |",
        f"| Lines (`wc -l`, {len(wc_lines):,} files) | {wc_total:,} ({agreement}) |",
        f"| Functions | {stats['functions']:,} ({stats['async_functions']:,} async) |",
        f"| Classes | {stats['classes']:,} |",
        f"| Docstring coverage | {stats['docstring_coverage']:.1%} "
        f"({stats['documented']:,} of {definitions:,} functions and classes) |",
        "",
        "## Longest function",
        "",
    ]
    longest = stats["longest_function"]
    if longest is None:
        out.append("No functions found.")
    else:
        out.append(
            f"`{longest['name']}` in `{os.path.basename(longest['file'])}`: "
            f"{longest['lines']:,} lines."
        )

    out += ["", f"## Top {REPORT_TOP_WORDS} words", ""]
    top = word_counts["top_words"][:REPORT_TOP_WORDS]
    if top:
        out += ["| Rank | Word | Count | Share |", "|---:|---|---:|---:|"]
        out += [
            f"| {rank} | `{word}` | {count:,} | {count / total_words:.2%} |"
            for rank, (word, count) in enumerate(top, start=1)
        ]
    else:
        out.append("No words counted.")

    failed = sorted(set(word_counts["failed_files"]) | set(stats["failed_files"]))
    if failed:
        out += ["", "## Files not processed", ""]
        out += [f"- {item}" for item in failed]
    return "\n".join(out) + "\n"
