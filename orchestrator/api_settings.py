"""Settings a driver compares with those of the running supervisor it joins."""

from __future__ import annotations

import warnings
from typing import Any

from orchestrator.settings import Settings

#: Sections whose values a driver joining a running supervisor compares with its own.
COMPARED_SECTIONS = ("scheduler", "heartbeat", "checkpoint", "logging", "tracing")


def report_mismatch(mine: Settings, theirs: Settings) -> dict[str, tuple[Any, Any]]:
    """Warn about the settings in which a joined supervisor differs from this driver's.

    The running supervisor keeps its own settings: a driver's that differ do not apply,
    and saying so beats silently ignoring them. Returns ``{"section.key": (mine, theirs)}``.
    """
    mine_values, their_values = mine.model_dump(), theirs.model_dump()
    differences: dict[str, tuple[Any, Any]] = {}
    for section in COMPARED_SECTIONS:
        for key, value in mine_values[section].items():
            other = their_values[section].get(key)
            if value != other:
                differences[f"{section}.{key}"] = (value, other)
    if differences:
        listed = ", ".join(f"{k}: yours {a!r}, running {b!r}" for k, (a, b) in differences.items())
        warnings.warn(
            f"joined a running supervisor whose settings differ from this driver's ({listed});"
            " the running supervisor's apply",
            UserWarning,
            stacklevel=3,
        )
    return differences
