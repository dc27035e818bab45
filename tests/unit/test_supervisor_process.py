"""The supervisor's process set-up: collector thresholds and Ray's false warning quieted."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from ray._common.constants import RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR
from ray._common.utils import env_bool

from orchestrator.runtime.spawn import SUPERVISOR_GC_THRESHOLD, prepare_supervisor_process
from orchestrator.settings import Settings


@pytest.fixture
def restored_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what the set-up changes in this (the test's) process."""
    monkeypatch.delenv(RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR, raising=False)
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_process")
def test_the_set_up_quiets_rays_blocking_get_warning_as_ray_reads_it() -> None:
    # Ray warns unless this variable says otherwise, read the way Ray reads it: a renamed
    # variable in a later Ray fails here rather than bringing the warning back unseen.
    assert env_bool(RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR, True) is True

    prepare_supervisor_process(Settings())

    assert env_bool(RAY_WARN_BLOCKING_GET_INSIDE_ASYNC_ENV_VAR, True) is False
    assert gc.get_threshold() == SUPERVISOR_GC_THRESHOLD
