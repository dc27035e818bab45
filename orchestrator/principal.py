"""Which principal a driver (a script, a notebook, the CLI) acts as.

In order: the ``principal`` given in code (``Orchestrator(principal=...)``), the
``ORCHESTRATOR_PRINCIPAL`` environment variable, the file named by
``security.principal_file`` (its first line; a token file handed to a CLI user), then
``security.principal`` (default ``local``, the embedded single user, who holds the
``admin`` role).

The principal is asserted by the driver, not proven: it separates duties among people who
may reach the cluster (Ray's token authentication decides who may reach it at all).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from orchestrator.settings import Settings

#: The environment variable naming the principal.
PRINCIPAL_ENV = "ORCHESTRATOR_PRINCIPAL"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@:\-]{0,199}$")


def check_principal(name: str, source: str) -> str:
    """Return ``name`` if it is a valid principal name; else raise `ValueError` naming where."""
    if not _NAME.match(name):
        raise ValueError(f"{source}: principal {name!r} must be 1-200 letters, digits or _ . @ : -")
    return name


def resolve_principal(settings: Settings, explicit: str | None = None) -> str:
    """Return the principal of this driver (see the module docstring for the order).

    Raises:
        ValueError: the name found is not a valid principal name, or the principal
            file cannot be read; the message names where it came from.
    """
    if explicit is not None:
        return check_principal(explicit, "principal")
    from_env = os.environ.get(PRINCIPAL_ENV)
    if from_env:
        return check_principal(from_env.strip(), PRINCIPAL_ENV)
    file = settings.security.principal_file
    if file:
        path = Path(file).expanduser()
        try:
            first = path.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise ValueError(f"security.principal_file: cannot read {str(path)!r}: {exc}") from None
        return check_principal(first[0].strip() if first else "", f"security.principal_file {path}")
    return check_principal(settings.security.principal, "security.principal")
