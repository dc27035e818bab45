"""The supervisor's door on a real Ray: roles, quotas, input limits and the audit trail.

One supervisor runs with a policy of four principals; drivers join it as each of them
(``Orchestrator(principal=...)``, or the CLI with ``ORCHESTRATOR_PRINCIPAL``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner

from orchestrator import EVENT_PAYLOAD, Orchestrator, Priority, Workflow
from orchestrator.audit import AUDIT_FOLDER, AuditTrail
from orchestrator.cli import main
from orchestrator.core.access import AccessDeniedError, default_roles
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.quotas import TenantQuota
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import WorkflowState
from orchestrator.settings import CheckpointSettings, SecuritySettings, Settings
from orchestrator.storage import open_store
from tests.integration import workloads
from tests.integration.conftest import fast_settings

pytestmark = pytest.mark.integration


def _settings(audit_path: Path) -> Settings:
    security = SecuritySettings(
        roles=default_roles(),
        principals={
            "local": ("admin",),
            "olga": ("operator",),
            "sam": ("submitter",),
            "viv": ("viewer",),
        },
        audit_path=str(audit_path),
        quotas={"small": TenantQuota(max_tasks_per_workflow=2, max_queued_tasks=3)},
        max_argument_bytes=4096,
    )
    return fast_settings().model_copy(update={"security": security})


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def admin(audit_path: Path) -> Iterator[Orchestrator]:
    with Orchestrator(settings=_settings(audit_path)) as orch:
        yield orch


def _as(principal: str, audit_path: Path) -> Orchestrator:
    """Return a driver joined to the running supervisor as ``principal``."""
    return Orchestrator(settings=_settings(audit_path), principal=principal).start()


def _small(name: str, *, priority: Priority = Priority.MEDIUM, tasks: int = 1) -> WorkflowSpec:
    wf = Workflow(name)
    for index in range(tasks):
        wf.task(f"t{index}", workloads.sleep_then, args=(0.01, index), priority=priority)
    return wf.to_spec().model_copy(update={"tenant": "small"})


def test_a_submitter_may_not_submit_critical_nor_cancel(
    admin: Orchestrator, audit_path: Path
) -> None:
    sam = _as("sam", audit_path)
    with pytest.raises(AccessDeniedError, match="may not submit priority 'critical'") as caught:
        sam.submit(_small("urgent", priority=Priority.CRITICAL), workflow_id="urgent-1")
    assert caught.value.permission == "priority"
    with pytest.raises(KeyError):
        admin.attach("urgent-1")  # denied before anything ran: nothing kept
    run = sam.submit(_small("normal", priority=Priority.HIGH))
    with pytest.raises(AccessDeniedError, match="lacks permission 'cancel'"):
        run.cancel()
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # An operator may submit CRITICAL work.
    olga = _as("olga", audit_path)
    assert olga.run(_small("ops", priority=Priority.CRITICAL), timeout_s=60).status().state is (
        WorkflowState.SUCCEEDED
    )


def test_a_viewer_may_only_look(admin: Orchestrator, audit_path: Path) -> None:
    run = admin.submit(_small("looked-at"))
    viv = _as("viv", audit_path)
    assert viv.attach(run.id).wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    with pytest.raises(AccessDeniedError, match="principal 'viv' lacks permission 'submit'"):
        viv.submit(_small("nope"))
    with pytest.raises(AccessDeniedError, match="lacks permission 'purge'"):
        viv.purge_dead_letters(run.id)


def test_dangerous_handlers_are_refused_even_for_an_admin(admin: Orchestrator) -> None:
    wf = Workflow("pwned")
    wf.task("a", "os:system", args=("echo pwned",))
    with pytest.raises(AccessDeniedError, match="module 'os' is never allowed"):
        admin.submit(wf, workflow_id="pwned-1")
    with pytest.raises(KeyError):
        admin.attach("pwned-1")


def test_quotas_and_size_limits_refuse_the_whole_workflow(admin: Orchestrator) -> None:
    with pytest.raises(WorkflowRejectedError) as caught:
        admin.submit(_small("too-many", tasks=3), workflow_id="too-many-1")
    assert (
        "quota.max_tasks_per_workflow: tenant 'small': 3 tasks in one workflow exceed the"
        " quota of 2"
    ) in str(caught.value)
    big = Workflow("big")
    big.task("a", workloads.length, args=(b"x" * 10_000,))
    with pytest.raises(WorkflowRejectedError, match=r"tasks\['a'\]\.args\[0\]: about 10005"):
        admin.submit(big, workflow_id="big-1")
    for refused in ("too-many-1", "big-1"):
        with pytest.raises(KeyError):
            admin.attach(refused)


def test_the_cli_is_refused_naming_the_permission(admin: Orchestrator) -> None:
    run = admin.submit(_small("cli-target"))
    run.wait(timeout_s=60)
    refused = CliRunner().invoke(
        main, ["dlq", "purge", run.id, "--address", "auto"], env={"ORCHESTRATOR_PRINCIPAL": "viv"}
    )
    assert refused.exit_code == 2, refused.output
    assert "permission denied: principal 'viv' lacks permission 'purge'" in refused.output


def test_every_decision_is_in_the_audit_trail(admin: Orchestrator, audit_path: Path) -> None:
    trail = AuditTrail(path=audit_path)
    expected = {
        ("sam", "submit", "denied"),
        ("sam", "cancel", "denied"),
        ("sam", "submit", "allowed"),
        ("olga", "submit", "allowed"),
        ("viv", "submit", "denied"),
        ("viv", "purge", "denied"),
        ("local", "submit", "denied"),  # os:system
        ("local", "submit", "rejected"),  # over quota, too large
    }
    deadline = time.monotonic() + 30  # records are written by the supervisor's audit thread
    while not expected <= {(r.principal, r.action, r.outcome) for r in trail.records()}:
        assert time.monotonic() < deadline, "records missing from the audit trail"
        time.sleep(0.1)
    assert trail.verify() is None
    listed = CliRunner().invoke(
        main, ["audit", "list", "--file", str(audit_path), "--principal", "viv"]
    )
    assert listed.exit_code == 0 and "purge" in listed.output and "sam" not in listed.output


def test_edits_need_their_permission_and_stay_within_the_quota(
    admin: Orchestrator, audit_path: Path
) -> None:
    slow = Workflow("editable")
    slow.task("wait", workloads.sleep_then, args=(3.0, 1))
    run = admin.submit(slow.to_spec().model_copy(update={"tenant": "small"}))
    fragment = Workflow("more")
    fragment.task("after", workloads.sleep_then, args=(0.01, 2), depends_on=["wait"])
    sam = _as("sam", audit_path)
    with pytest.raises(AccessDeniedError, match="lacks permission 'edit'"):
        sam.attach(run.id).add_tasks(fragment)
    # The tenant's quota counts the workflow's tasks after the edit: 1 + 2 > 2.
    two = Workflow("two")
    two.task("x1", workloads.sleep_then, args=(0.01, 1))
    two.task("x2", workloads.sleep_then, args=(0.01, 2))
    with pytest.raises(WorkflowRejectedError, match="3 tasks in one workflow exceed the quota"):
        run.add_tasks(two)
    assert run.add_tasks(fragment) == ["after"]
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED


def test_a_large_payload_is_refused_before_anything_starts(admin: Orchestrator) -> None:
    with pytest.raises(ValueError, match=r"payload: about 10005 bytes exceed"):
        admin.publish("orders", b"z" * 10_000)


def test_a_tenant_storing_too_many_result_bytes_submits_nothing_more(
    admin: Orchestrator, audit_path: Path, tmp_path: Path
) -> None:
    settings = _settings(audit_path)
    settings = settings.model_copy(
        update={
            "ray": settings.ray.model_copy(update={"supervisor_name": "door-durable"}),
            "checkpoint": CheckpointSettings(storage=str(tmp_path / "state")),
            "security": settings.security.model_copy(
                update={"quotas": {"hoarder": TenantQuota(max_result_bytes=1000)}}
            ),
        }
    )

    def hoard(name: str) -> WorkflowSpec:
        wf = Workflow(name)
        wf.task("blob", workloads.payload, args=(2000,))
        return wf.to_spec().model_copy(update={"tenant": "hoarder"})

    with Orchestrator(settings=settings) as durable:
        run = durable.submit(hoard("first"))
        before = ray.get(durable.supervisor.last_checkpoint.remote())
        assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        deadline = time.monotonic() + 30
        while ray.get(durable.supervisor.last_checkpoint.remote()) == before:
            assert time.monotonic() < deadline, "the result was never saved"
            time.sleep(0.1)
        over = r"quota\.max_result_bytes: tenant 'hoarder'"
        with pytest.raises(WorkflowRejectedError, match=over):
            durable.submit(hoard("second"))
        run.release()  # its stored results are deleted: the tenant may submit again
        assert durable.submit(hoard("third")).wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # The records of a durable supervisor are kept beside its checkpoints.
    trail = AuditTrail(
        store=open_store(str(tmp_path / "state")),
        prefix=f"orchestrator/door-durable/{AUDIT_FOLDER}",
    )
    assert trail.verify() is None
    assert [r.outcome for r in trail.records() if r.action == "submit"] == [
        "allowed",
        "rejected",
        "allowed",
    ]


def test_a_trigger_over_the_bus_passes_the_door_as_a_direct_call_would(
    admin: Orchestrator, audit_path: Path
) -> None:
    # Given a workflow started by each message on topic "orders"
    wf = Workflow("on-orders")
    wf.task("echo", workloads.sleep_then, args=(0.0, EVENT_PAYLOAD))
    admin.on("orders", wf)
    # When a principal without the "publish" permission publishes on it (over the bus)
    with pytest.raises(AccessDeniedError, match="publish"):
        _as("sam", audit_path).publish("orders", {"id": 1})
    # Then nothing started, and an allowed principal's message starts its run
    [run_id] = admin.publish("orders", {"id": 2})
    run = admin.attach(run_id)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert run.result("echo") == {"id": 2}
    # And both decisions are in the audit trail
    trail = AuditTrail(path=audit_path)
    expected = {("sam", "publish", "denied"), ("local", "publish", "allowed")}
    deadline = time.monotonic() + 30
    while not expected <= {(r.principal, r.action, r.outcome) for r in trail.records()}:
        assert time.monotonic() < deadline, "publish decisions missing from the audit trail"
        time.sleep(0.1)


def test_the_door_forgets_the_tenant_of_a_released_workflow(admin: Orchestrator) -> None:
    # Given a finished workflow of a tenant without a queue quota
    tracked = admin.client.process_stats()["tenants_tracked"]
    run = admin.submit(_small("forgotten").model_copy(update={"tenant": None}))
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert admin.client.process_stats()["tenants_tracked"] == tracked + 1
    # When it is released
    run.release()
    # Then the door no longer keeps its tenant (many small workflows would pile up)
    assert admin.client.process_stats()["tenants_tracked"] == tracked


def test_a_queue_quota_still_counts_unfinished_workflows(admin: Orchestrator) -> None:
    # Given a tenant limited to 3 unfinished tasks, holding 2 in a workflow that runs
    slow = Workflow("holding")
    for index in range(2):
        slow.task(f"t{index}", workloads.sleep_then, args=(5.0, index))
    held = admin.submit(slow.to_spec().model_copy(update={"tenant": "small"}))
    try:
        # When it submits 2 more, Then the quota refuses them (2 + 2 > 3)
        with pytest.raises(WorkflowRejectedError, match=r"quota\.max_queued_tasks"):
            admin.submit(_small("over-quota", tasks=2), workflow_id="over-quota-1")
    finally:
        held.cancel()
        held.wait(timeout_s=60)
