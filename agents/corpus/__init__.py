"""The corpus demo: analyse the text of Python's own standard library sources.

The workflow (``examples/corpus_report.yaml``)::

    plan (HIGH) ──┬─> words-0..7  (WordFrequencyAgent, MEDIUM) ─> merge-words  ─┐
                  ├─> syntax-0..7 (SyntaxStatsAgent, MEDIUM)   ─> merge-syntax ─┼─> report.md
                  └─> line-count  (CorpusTools: wc -l, BACKGROUND) ─────────────┘  (CRITICAL)

`plan_shards` splits the stdlib's top-level ``*.py`` files into shards of similar size;
the shard agents count words (`tokenize`) and definitions (`ast`); the merge functions
combine the shards; `write_report` renders Markdown, cross-checking the line count of the
``ast`` pass against ``wc -l``.
"""

from agents.corpus.lines import CorpusTools, parse_wc_lines, wc_argv
from agents.corpus.plan import CorpusInputError, plan_shards, shard_paths, stdlib_dir
from agents.corpus.summary_page import write_report
from agents.corpus.syntax import (
    LongestFunction,
    SyntaxStats,
    SyntaxStatsAgent,
    merge_syntax_stats,
    syntax_stats,
)
from agents.corpus.words import WordCounts, WordFrequencyAgent, count_words, merge_word_counts

__all__ = [
    "CorpusInputError",
    "CorpusTools",
    "LongestFunction",
    "SyntaxStats",
    "SyntaxStatsAgent",
    "WordCounts",
    "WordFrequencyAgent",
    "count_words",
    "merge_syntax_stats",
    "merge_word_counts",
    "parse_wc_lines",
    "plan_shards",
    "shard_paths",
    "stdlib_dir",
    "syntax_stats",
    "wc_argv",
    "write_report",
]
