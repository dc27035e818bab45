"""Resolve ``module:attribute`` import paths."""

from __future__ import annotations

import importlib
from typing import Any


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
