"""Principals and roles: who may submit what, and who may steer which workflows.

Every submission and operation reaching the supervisor carries a principal (a name). The
`AccessPolicy` maps principals to roles; a `Role` grants permissions (``submit``,
``pause``, ``cancel``...), the agent pools and priorities one may submit to, and the
modules handler references may come from. A principal holds the union of its roles'
grants. The shipped default gives the embedded single user, ``local``, the ``admin`` role
(everything), so nothing changes until roles are configured.

Pure: the supervisor asks, this module answers; denials are values, the caller audits
and raises them (`AccessDeniedError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.core.handler_policy import HandlerPolicy
from orchestrator.core.specs import Priority

#: What a role may be granted (``*``: all of them).
Permission = Literal[
    "submit",
    "edit",
    "pause",
    "resume",
    "cancel",
    "requeue",
    "purge",
    "schedule",
    "publish",
    "release",
]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
#: The pool of tasks that name a function rather than an agent.
FUNCTION_POOL = "function"
_PRIORITIES = tuple(p.name.lower() for p in Priority)
#: Most per-task denials listed for one submission.
_MAX_DENIALS = 20


class AccessDeniedError(PermissionError):
    """An operation was refused: the principal lacks ``permission``; nothing was done."""

    def __init__(self, principal: str, permission: str, message: str) -> None:
        self.principal = principal
        self.permission = permission
        super().__init__(f"permission denied: {message}")

    def __reduce__(self) -> tuple[type[AccessDeniedError], tuple[str, str, str]]:
        text = str(self).removeprefix("permission denied: ")
        return (AccessDeniedError, (self.principal, self.permission, text))


class Role(BaseModel):
    """What holders of a role may do.

    Attributes:
        permissions: Operations allowed (see `Permission`); ``*`` for all.
        pools: Agent names (``function`` for function tasks) it may submit to; ``*`` all.
        priorities: Priorities (``critical``...``background``) it may submit; ``*`` all.
        handler_modules: Modules its handler references (``module:attr``) may come from;
            ``*`` any module but the dangerous ones, which must be listed by name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    permissions: tuple[str, ...] = ()
    pools: tuple[str, ...] = ("*",)
    priorities: tuple[str, ...] = ("*",)
    handler_modules: tuple[str, ...] = ("*",)

    @model_validator(mode="after")
    def _known_names(self) -> Role:
        unknown = [p for p in self.permissions if p != "*" and p not in PERMISSIONS]
        if unknown:
            raise ValueError(
                f"permissions: unknown {unknown} (expected {', '.join(PERMISSIONS)} or *)"
            )
        bad = [p for p in self.priorities if p != "*" and p not in _PRIORITIES]
        if bad:
            raise ValueError(f"priorities: unknown {bad} (expected {', '.join(_PRIORITIES)} or *)")
        return self


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused request.

    Attributes:
        permission: The permission (or grant: ``priority``, ``pool``, ``handler``) lacking.
        message: A sentence naming the principal, the permission and what was asked.
    """

    permission: str
    message: str


class AccessPolicy(BaseModel):
    """Roles and who holds them.

    Attributes:
        roles: Role name to its grants.
        principals: Principal name to its role names.
        default_roles: Roles of a principal not listed in ``principals`` (empty: none, so
            it may do nothing).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: dict[str, Role] = Field(default_factory=dict)
    principals: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    default_roles: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _roles_exist(self) -> AccessPolicy:
        named = [(f"principals.{p}", r) for p, rs in self.principals.items() for r in rs]
        named += [("default_roles", r) for r in self.default_roles]
        missing = [f"{where}: {role!r}" for where, role in named if role not in self.roles]
        if missing:
            raise ValueError(f"unknown role(s): {', '.join(missing)}")
        return self

    def roles_of(self, principal: str) -> list[Role]:
        """Return the roles ``principal`` holds."""
        names = self.principals.get(principal, self.default_roles)
        return [self.roles[name] for name in names]

    def check(self, principal: str, permission: str, target: str = "") -> Denial | None:
        """Return the denial of ``permission`` to ``principal`` (on ``target``), or None."""
        held = {p for role in self.roles_of(principal) for p in role.permissions}
        if permission in held or "*" in held:
            return None
        on = f" on {target!r}" if target else ""
        return Denial(
            permission,
            f"principal {principal!r} lacks permission {permission!r}{on}"
            f" (roles: {', '.join(self._role_names(principal)) or 'none'})",
        )

    def check_tasks(
        self,
        principal: str,
        tasks: Iterable[tuple[str, str, int]],
        references: Iterable[tuple[str, str | None]] = (),
    ) -> list[Denial]:
        """Check what a submission asks for: pools, priorities and handler modules.

        Args:
            principal: Who submits.
            tasks: ``(task id, pool, priority value)`` of each task.
            references: ``(module:attr, module of the object it leads to or None)`` of
                each handler reference the submission names.
        """
        roles = self.roles_of(principal)
        pools = {p for r in roles for p in r.pools}
        priorities = {p for r in roles for p in r.priorities}
        denials: list[Denial] = []
        if "*" in pools and "*" in priorities:
            tasks = ()  # every pool and priority granted: nothing to check per task
        allowed = {int(p) for p in Priority if "*" in priorities or p.name.lower() in priorities}
        for task_id, pool, priority in tasks:
            if len(denials) >= _MAX_DENIALS:  # enough to say why; a huge workflow stops here
                break
            if priority not in allowed:
                name = Priority(priority).name.lower()
                denials.append(
                    Denial(
                        "priority",
                        f"principal {principal!r} may not submit priority {name!r}"
                        f" (task {task_id!r}; allowed: {', '.join(sorted(priorities)) or 'none'})",
                    )
                )
            if "*" not in pools and pool not in pools:
                denials.append(
                    Denial(
                        "pool",
                        f"principal {principal!r} may not submit to pool {pool!r}"
                        f" (task {task_id!r}; allowed: {', '.join(sorted(pools)) or 'none'})",
                    )
                )
        handlers = self.handler_policy(principal)
        for reference, resolved in dict.fromkeys(references):
            problem = handlers.reference_problem(reference)
            if problem is None and resolved is not None:
                problem = handlers.reference_problem(reference, resolved)
            if problem is not None:
                denials.append(Denial("handler", f"principal {principal!r}: {problem}"))
        return denials

    def handler_policy(self, principal: str) -> HandlerPolicy:
        """Return the handler modules ``principal``'s roles allow together."""
        roles = self.roles_of(principal)
        modules = tuple(dict.fromkeys(m for role in roles for m in role.handler_modules))
        return HandlerPolicy(allowed_modules=modules)

    def _role_names(self, principal: str) -> tuple[str, ...]:
        return self.principals.get(principal, self.default_roles)


def default_roles() -> dict[str, Role]:
    """Return the shipped roles: admin (everything), operator, submitter, viewer."""
    return {
        "admin": Role(permissions=("*",)),
        "operator": Role(
            permissions=("submit", "edit", "pause", "resume", "cancel", "requeue", "purge")
        ),
        "submitter": Role(
            permissions=("submit",),
            priorities=("high", "medium", "low", "background"),
        ),
        "viewer": Role(permissions=(), pools=(), priorities=()),
    }


def policy_from(
    roles: Mapping[str, Role], principals: Mapping[str, Iterable[str]], default: Iterable[str]
) -> AccessPolicy:
    """Build a policy from settings' plain values."""
    return AccessPolicy(
        roles=dict(roles),
        principals={name: tuple(held) for name, held in principals.items()},
        default_roles=tuple(default),
    )
