"""Secret arguments in workflow files: ``{secret: true, env: NAME}`` (or ``value: ...``).

Either becomes a pydantic `SecretStr` (see `orchestrator.core.secrets`): shown as
``**********`` everywhere, never stored, handed to the handler plain. ``env`` reads the
variable from the environment of the process that loads the file, so the file itself holds
no secret. A keyword argument whose name says it is a secret (``password``, ``token``,
``api_key``...) given as a plain string is refused: it would be logged and stored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from orchestrator.core.errors import Problem

#: Keyword names that hold secrets; their plain string values are refused.
SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|secret|token|api_?key|private_?key|credentials?)$", re.IGNORECASE
)
_KEYS = {"secret", "value", "env"}
_MAX_DEPTH = 32


def with_secrets(entry: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    """Return a task entry whose secret placeholders are `SecretStr` values.

    Problems (a malformed placeholder, a missing variable, a secret in a plain field) are
    appended to ``problems``, named by field.
    """
    task = dict(entry)
    if isinstance(task.get("args"), list):
        task["args"] = [
            _convert(value, f"{where}.args[{index}]", problems, 0)
            for index, value in enumerate(task["args"])
        ]
    if isinstance(task.get("kwargs"), Mapping):
        kwargs = {}
        for key, value in task["kwargs"].items():
            field = f"{where}.kwargs[{key!r}]"
            if isinstance(key, str) and SECRET_NAME.search(key) and isinstance(value, str):
                problems.append(
                    Problem(
                        field,
                        "looks like a secret in a plain field (it would be logged and stored):"
                        " give {secret: true, env: VARIABLE} instead",
                    )
                )
            kwargs[key] = _convert(value, field, problems, 0)
        task["kwargs"] = kwargs
    return task


def _convert(value: Any, field: str, problems: list[Problem], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [_convert(v, f"{field}[{i}]", problems, depth + 1) for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    if "secret" not in value:
        return {k: _convert(v, f"{field}[{k!r}]", problems, depth + 1) for k, v in value.items()}
    return _secret(value, field, problems)


def _secret(value: Mapping[str, Any], field: str, problems: list[Problem]) -> Any:
    unknown = sorted(str(k) for k in value if k not in _KEYS)
    given = [k for k in ("value", "env") if k in value]
    if value.get("secret") is not True or unknown or len(given) != 1:
        problems.append(
            Problem(
                field, "a secret is {secret: true, env: VARIABLE} or {secret: true, value: TEXT}"
            )
        )
        return None
    if given == ["value"]:
        if not isinstance(value["value"], str):
            problems.append(Problem(f"{field}.value", "a secret's value must be a string"))
            return None
        return SecretStr(value["value"])
    name = value["env"]
    if not isinstance(name, str) or name not in os.environ:
        problems.append(Problem(f"{field}.env", f"environment variable {name!r} is not set"))
        return None
    return SecretStr(os.environ[name])
