"""Roles, quotas and input limits: the pure policies behind the supervisor's door."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.core.access import (
    AccessDeniedError,
    AccessPolicy,
    Role,
    default_roles,
)
from orchestrator.core.input_limits import (
    argument_problems,
    estimate_size,
    payload_problem,
    workflow_size_problem,
)
from orchestrator.core.quotas import TenantQuota, quota_of, quota_problems
from orchestrator.core.specs import Priority
from orchestrator.principal import PRINCIPAL_ENV, resolve_principal
from orchestrator.settings import SecuritySettings, Settings

POLICY = AccessPolicy(
    roles={
        **default_roles(),
        "gpu": Role(permissions=("submit",), pools=("Trainer",), handler_modules=("mypkg",)),
    },
    principals={"ada": ("admin",), "olga": ("operator",), "sam": ("submitter",), "g": ("gpu",)},
)


@pytest.mark.parametrize(
    ("principal", "permission", "allowed"),
    [
        ("ada", "purge", True),
        ("olga", "cancel", True),
        ("olga", "schedule", False),
        ("sam", "submit", True),
        ("sam", "cancel", False),
        ("stranger", "submit", False),  # not listed, no default roles
    ],
)
def test_permissions(principal: str, permission: str, allowed: bool) -> None:
    denial = POLICY.check(principal, permission, "wf-1")
    assert (denial is None) is allowed
    if denial is not None:
        assert f"principal {principal!r} lacks permission {permission!r} on 'wf-1'" in (
            denial.message
        )


def test_priorities_pools_and_handler_modules_of_a_submission() -> None:
    tasks = [("a", "function", int(Priority.CRITICAL)), ("b", "function", int(Priority.LOW))]
    [denial] = POLICY.check_tasks("sam", tasks)
    assert denial.permission == "priority"
    assert "may not submit priority 'critical' (task 'a'" in denial.message
    assert POLICY.check_tasks("olga", tasks) == []  # operators submit CRITICAL
    denials = POLICY.check_tasks(
        "g", [("t", "function", 2)], [("mypkg:f", None), ("other:f", None)]
    )
    assert {d.permission for d in denials} == {"pool", "handler"}
    assert any("'other' is not an allowed handler module" in d.message for d in denials)
    # An allowed name that really leads to a dangerous module is refused.
    [sneaky] = POLICY.check_tasks("ada", [], [("mypkg:os.system", "posix")])
    assert "'posix' is never allowed" in sneaky.message


def test_unknown_names_in_roles_and_policies_are_refused() -> None:
    with pytest.raises(ValidationError, match="permissions: unknown"):
        Role(permissions=("fly",))
    with pytest.raises(ValidationError, match="priorities: unknown"):
        Role(priorities=("urgent",))
    with pytest.raises(ValidationError, match="unknown role"):
        AccessPolicy(roles={}, principals={"x": ("admin",)})
    with pytest.raises(ValidationError, match="unknown role"):
        SecuritySettings(principals={"x": ("nobody",)})


def test_access_denied_error_survives_pickling() -> None:
    error = AccessDeniedError("sam", "cancel", "principal 'sam' lacks permission 'cancel'")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, AccessDeniedError)
    assert (again.principal, again.permission, str(again)) == ("sam", "cancel", str(error))


def test_quotas_name_the_quota_and_the_numbers() -> None:
    quota = TenantQuota(
        max_queued_tasks=10,
        max_tasks_per_workflow=4,
        max_retries_per_task=2,
        max_workflow_retries=3,
    )
    problems = quota_problems(
        "acme",
        quota,
        new_tasks=5,
        workflow_tasks=5,
        queued_now=7,
        retries=[("a", 3), ("b", 1)],
    )
    text = [str(p) for p in problems]
    assert text == [
        "quota.max_tasks_per_workflow: tenant 'acme': 5 tasks in one workflow exceed the"
        " quota of 4",
        "quota.max_queued_tasks: tenant 'acme': 7 unfinished + 5 submitted = 12 tasks exceed the"
        " quota of 10",
        "tasks['a'].retry.max_attempts: tenant 'acme': 3 retries exceed the"
        " quota.max_retries_per_task of 2",
        "quota.max_workflow_retries: tenant 'acme': 4 retries asked by the workflow's tasks exceed"
        " the quota of 3",
    ]
    assert (
        quota_problems("acme", quota, new_tasks=1, workflow_tasks=1, queued_now=0, retries=[]) == []
    )
    assert quota_of(None, {"acme": quota}, TenantQuota()) == ("default", TenantQuota())
    [stored] = quota_problems(
        "acme",
        TenantQuota(max_result_bytes=100),
        new_tasks=1,
        workflow_tasks=1,
        queued_now=0,
        retries=[],
        stored_bytes=150,
    )
    assert str(stored) == (
        "quota.max_result_bytes: tenant 'acme': 150 bytes of stored results reach the quota of"
        " 100; release finished workflows first"
    )
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        TenantQuota(max_queued_tasks=-1)


def test_input_limits_estimate_plain_data_and_measure_the_rest() -> None:
    measured: list[object] = []

    def measure(value: object) -> int:
        measured.append(value)
        return 1000

    assert estimate_size({"k": [b"x" * 100, 1.5, None]}, measure) < 150
    assert measured == []
    assert estimate_size({1, 2}, measure) < 30 and estimate_size(object(), measure) == 1000
    [problem] = argument_problems([("t", ("x" * 2000,), {"small": 1})], 1024, measure)
    assert problem.where == "tasks['t'].args[0]"
    assert "exceed security.max_argument_bytes (1024)" in problem.message
    too_big = payload_problem(b"y" * 5000, 1024, measure)
    assert too_big is not None and too_big.startswith("payload: about 5005 bytes")
    size = workflow_size_problem(11, 10)
    assert (
        size is not None and str(size) == "tasks: 11 tasks exceed security.max_workflow_tasks (10)"
    )
    assert workflow_size_problem(10, 10) is None


def test_principal_comes_from_code_then_environment_then_file_then_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRINCIPAL_ENV, raising=False)
    token = tmp_path / "principal"
    token.write_text("olga\n")
    settings = Settings(security=SecuritySettings(principal_file=str(token)))
    assert resolve_principal(Settings()) == "local"
    assert resolve_principal(settings) == "olga"
    monkeypatch.setenv(PRINCIPAL_ENV, "sam")
    assert resolve_principal(settings) == "sam"
    assert resolve_principal(settings, "ada") == "ada"
    with pytest.raises(ValueError, match="ORCHESTRATOR_PRINCIPAL: principal 'a b' must be"):
        monkeypatch.setenv(PRINCIPAL_ENV, "a b")
        resolve_principal(settings)
    monkeypatch.delenv(PRINCIPAL_ENV)
    missing = Settings(security=SecuritySettings(principal_file=str(tmp_path / "none")))
    with pytest.raises(ValueError, match=r"security\.principal_file: cannot read"):
        resolve_principal(missing)
