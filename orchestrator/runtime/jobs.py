"""Ray Jobs: the client ``orchestrator submit`` sends workflow files with."""

from __future__ import annotations

from typing import Any


def job_client(address: str | None) -> Any:
    """Return a ``JobSubmissionClient`` for the dashboard at ``address``.

    ``address`` is ``http(s)://host:port``, or None (Ray's own discovery: ``RAY_ADDRESS``,
    else the cluster this machine is in). Token authentication follows Ray's
    ``RAY_AUTH_MODE`` and ``RAY_AUTH_TOKEN_PATH``, set by the caller before this.

    Raises:
        Exception: whatever Ray raises when the dashboard cannot be reached or refuses.
    """
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)
