"""Checks for values that reach the corpus functions from other tasks or from files.

Upstream results cross process boundaries and workflow files are written by hand, so the
merge functions check each field and name the part and field that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agents.corpus.plan import CorpusInputError


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool).

    Raises:
        CorpusInputError: It is not; the message names ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CorpusInputError(f"{name} must be a positive integer, got {value!r}")
    return value


def _get(part: object, key: str, where: str) -> object:
    if not isinstance(part, Mapping):
        raise CorpusInputError(f"{where}: expected a shard result, got {type(part).__name__}")
    if key not in part:
        raise CorpusInputError(f"{where}: missing field {key!r}")
    return part[key]


def count_field(part: object, key: str, where: str) -> int:
    """Return the non-negative int ``part[key]``.

    Raises:
        CorpusInputError: ``part`` is not a mapping, lacks ``key``, or the value is not
            a non-negative int.
    """
    value = _get(part, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorpusInputError(f"{where}: field {key!r} must be a non-negative int, got {value!r}")
    return value


def mapping_field(part: object, key: str, where: str) -> Mapping[object, object]:
    """Return the mapping ``part[key]``.

    Raises:
        CorpusInputError: ``part`` is not a mapping, lacks ``key``, or the value is not a
            mapping.
    """
    value = _get(part, key, where)
    if not isinstance(value, Mapping):
        raise CorpusInputError(f"{where}: field {key!r} must be a mapping, got {value!r}")
    return value


def sequence_field(part: object, key: str, where: str) -> Sequence[object]:
    """Return the list (or tuple) ``part[key]``.

    Raises:
        CorpusInputError: ``part`` is not a mapping, lacks ``key``, or the value is not a
            list or tuple.
    """
    value = _get(part, key, where)
    if not isinstance(value, list | tuple):
        raise CorpusInputError(f"{where}: field {key!r} must be a list, got {value!r}")
    return value
