"""`_fetch_inputs` with nothing to fetch (a lost object needs a second node: tests/cluster)."""

from __future__ import annotations

import pytest

from orchestrator.runtime.agent_host import _fetch_inputs

pytestmark = pytest.mark.integration


def test_nothing_to_fetch() -> None:
    assert _fetch_inputs([]) == ([], set(), "")
