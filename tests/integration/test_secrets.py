"""A secret argument reaches its handler and nothing else: no log, trace, checkpoint,
stored spec, status, dead letter or audit record written during the run holds it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from pydantic import SecretStr

from orchestrator import Orchestrator, Workflow, WorkflowState
from orchestrator.audit import AUDIT_FOLDER, AuditTrail
from orchestrator.loader import load_workflow_file
from orchestrator.settings import (
    CheckpointSettings,
    LoggingSettings,
    SecuritySettings,
    Settings,
    TracingSettings,
)
from orchestrator.storage import open_store
from orchestrator.telemetry import settings_tracer_provider_factory
from tests.integration.conftest import fast_settings

pytestmark = pytest.mark.integration

SECRET = "hunter2-Zq8xW3-never-written"


def digest(password: str) -> str:
    """The handler: proves it got the plain value without returning it."""
    assert isinstance(password, str)
    return hashlib.sha256(password.encode()).hexdigest()


def refuse(token: str) -> None:
    """A handler that fails (its arguments go to the dead letters)."""
    raise ValueError(f"rejected a token of {len(token)} characters")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(scope="module")
def orchestrator(state: Path) -> Iterator[Orchestrator]:
    base = fast_settings()
    settings: Settings = base.model_copy(
        update={
            "ray": base.ray.model_copy(update={"log_to_driver": True}),
            "logging": LoggingSettings(level="DEBUG", format="json"),
            "checkpoint": CheckpointSettings(storage=str(state / "checkpoints")),
            "security": SecuritySettings(audit_path=str(state / "unused-audit.jsonl")),
        }
    )
    tracing = TracingSettings(exporter="jsonl", jsonl_path=str(state / "traces.jsonl"))
    factory = settings_tracer_provider_factory(tracing)
    with Orchestrator(settings=settings, tracer_provider_factory=factory) as orch:
        yield orch


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def _holds(path: Path, needle: bytes) -> bool:
    """Whether ``path`` holds ``needle``; a file gone since it was listed holds nothing.

    (The supervisor still runs: a checkpoint's temporary file may be renamed into place
    between the listing and the read; the renamed file is read on the second pass.)
    """
    try:
        return needle in path.read_bytes()
    except FileNotFoundError:
        return False


def test_a_secret_argument_is_handed_over_and_written_nowhere(
    orchestrator: Orchestrator, state: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wf = Workflow("secretive")
    wf.task("digest", digest, kwargs={"password": SecretStr(SECRET)})
    wf.task("refuse", refuse, args=(SecretStr(SECRET),))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=90).state is WorkflowState.FAILED
    # The handler received the plain value.
    assert run.result("digest") == hashlib.sha256(SECRET.encode()).hexdigest()
    # Status, task infos and dead letters show it masked.
    shown = repr((run.status(), run.tasks(), run.dead_letters(), orchestrator.workflows()))
    assert "**********" in shown and SECRET not in shown
    # The same from a workflow file reading the secret from the environment.
    file = tmp_path / "wf.yaml"
    file.write_text(
        "name: from-file\ntasks:\n"
        "  - {id: d, function: 'tests.integration.test_secrets:digest',"
        " kwargs: {password: {secret: true, env: WF_PASSWORD}}}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WF_PASSWORD", SECRET)
        spec = load_workflow_file(file)
    from_file = orchestrator.submit(spec)
    assert from_file.wait(timeout_s=90).state is WorkflowState.SUCCEEDED
    assert from_file.result("d") == hashlib.sha256(SECRET.encode()).hexdigest()
    # The audit trail went beside the checkpoints (storage is set) and holds the submissions.
    store = open_store(str(state / "checkpoints"))
    trail = AuditTrail(store=store, prefix=f"orchestrator/supervisor/{AUDIT_FOLDER}")
    assert trail.verify() is None
    assert {r.workflow_id for r in trail.records() if r.action == "submit"} >= {
        run.id,
        from_file.id,
    }
    # Then no file written (checkpoints, stored specs, results, audit, traces, Ray's
    # logs of the supervisor and the agents) and nothing printed holds the secret.
    node = ray._private.worker._global_node
    assert node is not None
    logs = Path(node.get_logs_dir_path())
    written = _files(state, logs)
    assert any(p.name == "traces.jsonl" for p in written)
    assert len([p for p in written if "checkpoints" in p.parts]) >= 3
    needle = SECRET.encode()
    assert [p for p in written if _holds(p, needle)] == []
    assert [p for p in _files(state, logs) if _holds(p, needle)] == []
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
