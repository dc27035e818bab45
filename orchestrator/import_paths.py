"""Resolve ``module:attribute`` import paths."""

from __future__ import annotations

import importlib
from typing import Any

from orchestrator.core.handler_policy import HandlerPolicy


class ImportPathError(ImportError):
    """An import path could not be resolved; the message says which part failed."""


def import_object(path: str) -> Any:
    """Return the object named by ``path`` (``package.module:attr.sub``).

    Raises:
        ImportPathError: the format is wrong, the module does not import, or the attribute
            is missing.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ImportPathError(f"{path!r} is not an import path of the form 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportPathError(f"cannot import module {module_name!r} of {path!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportPathError(
                f"module {module_name!r} has no attribute {attribute!r} (from {path!r})"
            ) from None
    return obj


def resolved_module(path: str) -> str | None:
    """Return the ``__module__`` of the object ``path`` leads to (None: unknown or none)."""
    try:
        obj = import_object(path)
    except ImportError:
        return None
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else None


def reference_problem(policy: HandlerPolicy, path: str) -> str | None:
    """Return why ``path`` may not be a handler under ``policy`` (None: it may).

    The module named is checked first, without importing it (importing runs its code);
    then the object is imported and the module it really comes from is checked too, so
    that ``agents.corpus.plan:os.system`` is refused. A path that does not import is
    left to the caller to report.
    """
    problem = policy.reference_problem(path)
    if problem is not None:
        return problem
    return policy.reference_problem(path, resolved_module(path))
