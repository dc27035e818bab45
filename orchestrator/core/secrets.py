"""Secret arguments: typed as pydantic `SecretStr`, shown nowhere, handed to handlers plain.

A task argument that is a `SecretStr` (``{secret: true, value|env: ...}`` in workflow
files) prints as ``**********`` in logs, status, dead letters and errors, and dumps so in
JSON. It is never written to storage: `redact` replaces it by a `RedactedSecret` before a
spec is stored beside the checkpoints. The agent host calls `reveal` just before the
handler runs, which hands over the plain value; a secret lost across a restart from
storage (a `RedactedSecret`) fails its task at once, saying so, instead of running it
with a wrong value.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

#: Deepest nesting walked (arguments are small trees; deeper values are left as they are).
_MAX_DEPTH = 32


class SecretLostError(Exception):
    """A secret argument was not stored and is gone (the workflow came back from storage)."""


class RedactedSecret:
    """What a secret argument becomes in storage: nothing of its value is kept."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RedactedSecret()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedactedSecret)

    def __hash__(self) -> int:
        return hash(RedactedSecret)


def _walk(value: Any, replace: Any, depth: int) -> Any:
    """Return ``value`` with secrets replaced (the same object when none were found)."""
    if isinstance(value, SecretStr | RedactedSecret):
        return replace(value)
    if depth >= _MAX_DEPTH:
        return value
    kind = type(value)
    if kind is tuple or kind is list:
        items = [_walk(item, replace, depth + 1) for item in value]
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        return kind(items) if changed else value
    if kind is dict:
        pairs = {key: _walk(item, replace, depth + 1) for key, item in value.items()}
        changed = any(pairs[key] is not item for key, item in value.items())
        return pairs if changed else value
    return value


def redact(value: Any) -> Any:
    """Return ``value`` with every `SecretStr` in it replaced by a `RedactedSecret`."""
    return _walk(value, lambda _: RedactedSecret(), 0)


def _plain(secret: SecretStr | RedactedSecret) -> str:
    if isinstance(secret, RedactedSecret):
        raise SecretLostError(
            "a secret argument is not kept in storage and was lost when the workflow was"
            " restored: submit the workflow again with its secrets"
        )
    return secret.get_secret_value()


def reveal(value: Any) -> Any:
    """Return ``value`` with every `SecretStr` replaced by its plain value.

    Raises:
        SecretLostError: a secret was lost (see the module docstring).
    """
    return _walk(value, _plain, 0)


def has_secret(value: Any) -> bool:
    """Return whether ``value`` holds a secret (or a lost one)."""
    found: list[bool] = []

    def note(secret: Any) -> Any:
        found.append(True)
        return secret

    _walk(value, note, 0)
    return bool(found)
