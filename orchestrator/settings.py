"""Settings: ``config/default.toml``, then an optional file, then environment variables.

Precedence, highest first: arguments passed in code, ``ORCHESTRATOR_*`` environment
variables (nested with ``__``, e.g. ``ORCHESTRATOR_HEARTBEAT__INTERVAL_S=0.5``), the file
named by ``ORCHESTRATOR_CONFIG_FILE``, ``config/default.toml``, then the defaults below
(which equal the shipped file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from orchestrator.core.access import Role, default_roles
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.handler_policy import SAFE_FILE_MODULES
from orchestrator.core.quotas import TenantQuota

#: The settings file shipped with the project.
DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RaySettings(_Section):
    """How to reach (or start) Ray.

    Attributes:
        address: ``local`` starts an embedded Ray; ``auto`` or ``ray://host:port`` joins one.
        num_cpus: CPUs of the embedded Ray (default: what the machine has).
        num_gpus: GPUs of the embedded Ray (default: what Ray detects).
        namespace: Ray namespace of the supervisor and its actors.
        include_dashboard: Start Ray's dashboard with the embedded Ray (about 1 GiB more),
            bound to 127.0.0.1.
        dashboard_port: Port of that dashboard (0: Ray's default, 8265). Ray's state API
            (``ray.util.state``, ``ray list actors``) and Ray Jobs go through it.
        metrics_export_port: Port of the embedded Ray's Prometheus metrics endpoint, where
            the orchestrator's metrics appear (0: Ray picks a free one).
        auth_mode: ``token`` (Ray's default: clients need ``~/.ray/auth_token``) or
            ``disabled``; applied to the embedded Ray through ``RAY_AUTH_MODE``.
        log_to_driver: Forward agents' and the supervisor's logs to the driver.
        supervisor_name: Name of the supervisor actor in the namespace.
        detached: Keep the supervisor alive after the driver exits.
        supervisor_on_head: Run the supervisor and the heartbeat actor on the head node
            (Ray's ``node:__internal_head__`` resource): worker nodes come and go, and the
            supervisor (which needs no CPU, so Ray would place it anywhere) must not go
            with one.
    """

    address: str = "local"
    num_cpus: int | None = Field(default=None, ge=1)
    num_gpus: int | None = Field(default=None, ge=0)
    namespace: str = "orchestrator"
    include_dashboard: bool = False
    dashboard_port: int = Field(default=0, ge=0, le=65535)
    metrics_export_port: int = Field(default=0, ge=0, le=65535)
    auth_mode: Literal["token", "disabled"] = "token"
    log_to_driver: bool = True
    supervisor_name: str = "supervisor"
    detached: bool = False
    supervisor_on_head: bool = True


class HeartbeatSettings(_Section):
    """How agents are watched.

    Attributes:
        interval_s: Time between pings of one agent.
        slow_after_s: A pong later than this marks the agent slow (logged, not replaced).
        hung_after_s: An unanswered ping older than this marks it hung: it is replaced.
        start_timeout_s: An agent that never answers within this is replaced.
        resync_interval_s: How often the supervisor hands the heartbeat actor its list of
            live agents (a restarted heartbeat actor has lost its own).
    """

    interval_s: float = Field(default=1.0, gt=0)
    slow_after_s: float = Field(default=2.0, gt=0)
    hung_after_s: float = Field(default=30.0, gt=0)
    start_timeout_s: float = Field(default=120.0, gt=0)
    resync_interval_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _slow_before_hung(self) -> HeartbeatSettings:
        # Checked here, not when the heartbeat actor starts minutes later in another process.
        if self.slow_after_s > self.hung_after_s:
            raise ValueError(
                f"heartbeat.slow_after_s ({self.slow_after_s:g}) must not exceed"
                f" heartbeat.hung_after_s ({self.hung_after_s:g})"
            )
        return self


class LoggingSettings(_Section):
    """structlog output.

    Attributes:
        level: Lowest level written.
        format: ``console`` (coloured key=value) or ``json`` (one object per line).
        task_lines_max_tasks: Workflows with more tasks than this log their per-task
            lines (re-queued, retried, failed, skipped, cancelled) at debug level: a
            10,000-task workflow cancelled would otherwise write 10,000 lines. Its
            summary line stays. 0 (the default): every workflow's per-task lines are
            at debug level; each task event is on the bus (``orch.events()``) anyway.
    """

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"
    task_lines_max_tasks: int = Field(default=0, ge=0)


class TracingSettings(_Section):
    """OpenTelemetry traces made by the supervisor.

    Attributes:
        exporter: ``none``, ``console`` (stdout), ``jsonl`` (one span per line in a file)
            or ``otlp`` (OTLP over HTTP/protobuf to a collector).
        jsonl_path: File for the ``jsonl`` exporter; a relative path is relative to the
            driver's working directory (the driver makes it absolute before the
            supervisor and the agents, which run elsewhere, receive it).
        otlp_endpoint: Where the ``otlp`` exporter posts spans (a collector's
            ``/v1/traces``).
        otlp_timeout_s: How long one export to the collector may take.
        service_name: ``service.name`` resource attribute.
    """

    exporter: Literal["none", "console", "jsonl", "otlp"] = "none"
    jsonl_path: str = "traces.jsonl"
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    otlp_timeout_s: float = Field(default=10.0, gt=0)
    service_name: str = "ray-agent-orchestrator"


class MetricsSettings(_Section):
    """Metrics on Ray's Prometheus endpoint (``ray.util.metrics``), from the supervisor.

    Attributes:
        enabled: Record the ``orchestrator_*`` metrics.
        interval_s: How often the supervisor samples its gauges (queues, running
            attempts, agents, breakers) and hands the counts and timings gathered since
            to Ray. Ray exports what it holds about every 10 s on top of this.
        max_timings_per_interval: Attempts whose queue wait and run time are handed to
            Ray's histograms per interval at most (a uniform sample of those finished),
            so that the cost stays flat at thousands of tasks a second. The histograms'
            ``_count`` then counts the sample; the counters count every attempt.
    """

    enabled: bool = True
    interval_s: float = Field(default=2.0, gt=0)
    max_timings_per_interval: int = Field(default=1000, ge=1)


class CheckpointSettings(_Section):
    """Durable state: where and when the supervisor saves its checkpoints.

    Attributes:
        storage: Where (``file:///abs/dir``, a plain path, ``s3://bucket/prefix``,
            ``memory://name``); empty: nothing is saved, and a supervisor that dies takes
            its workflows with it. A supervisor that starts with storage set continues
            every unfinished workflow saved there (after a crash, or a whole new cluster).
        every_n_completions: Save (a delta: what changed) once this many tasks ended
            since the last save. 1: after every batch of outcomes, so that a crash loses
            no finished task.
        full_every_s: Write a full checkpoint (and drop older ones) at most this often;
            deltas in between.
        max_deltas: Write a full checkpoint after this many deltas in a row anyway.
        keep_full: Full checkpoints kept, with the deltas after them.
        wait_for_saves: Handle no further outcomes (and so start no further work) until
            each save is written: after a crash, the tasks run again are at most those
            that were running. Off (the default): saves are written in the background
            while work goes on, and the tasks that ended during the last save may run
            again too; it costs far less (see benchmarks/results/checkpoints.md).
        save_results: Store the results of succeeded tasks beside the checkpoints, so
            that dependents and drivers find them after a restart on a new cluster. Off:
            a succeeded task whose result is needed after a restart runs again.
    """

    storage: str = ""
    every_n_completions: int = Field(default=1, ge=1)
    full_every_s: float = Field(default=60.0, gt=0)
    max_deltas: int = Field(default=1000, ge=1)
    keep_full: int = Field(default=2, ge=1)
    wait_for_saves: bool = False
    save_results: bool = True


class BusSettings(_Section):
    """The message bus (`orchestrator.runtime.bus`).

    Attributes:
        max_message_bytes: Largest payload of one message, as JSON.
        subscriber_lease_s: A ``block`` subscription that is full and reads nothing for
            this long is dropped (its subscriber died or hangs): publishers go on.
        events_capacity: Buffer of a driver's ``orch.events()`` stream (``drop_oldest``).
        supervisor_max_pending: Lifecycle events the supervisor holds while the bus is
            slow; past it, new ones are dropped and counted, never waited for.
        supervisor_linger_s: The supervisor's lifecycle events gather this long before
            they are shipped to the bus in one call (unless a batch fills up): subscribers
            hear of a task change up to this late, and the bus's actor is called this
            rarely instead of at every step of the supervisor.
    """

    max_message_bytes: int = Field(default=1_000_000, ge=1)
    subscriber_lease_s: float = Field(default=30.0, gt=0)
    events_capacity: int = Field(default=10_000, ge=1)
    supervisor_max_pending: int = Field(default=100_000, ge=1)
    supervisor_linger_s: float = Field(default=0.1, ge=0, le=10, allow_inf_nan=False)


def _default_principals() -> dict[str, tuple[str, ...]]:
    return {"local": ("admin",)}


class SecuritySettings(_Section):
    """Who may do what, how much, and the trail they leave (see README, "Security").

    Attributes:
        principal: The principal of this driver's calls, unless ``ORCHESTRATOR_PRINCIPAL``
            or ``principal_file`` names another.
        principal_file: A file holding the principal's name (read by drivers and the
            CLI; empty: none).
        roles: Role name to grants (permissions, pools, priorities, handler modules).
        principals: Principal name to the roles it holds.
        default_roles: Roles of principals not listed in ``principals``.
        file_handler_modules: Modules that workflow files (CLI, Ray Jobs) may name
            handlers from; ``*`` allows any but the dangerous ones (``os``,
            ``subprocess``, ``builtins``...), which must be listed by name.
        audit_path: The audit trail's file when no checkpoint storage is set (with
            storage, records are kept beside the checkpoints).
        quotas: Tenant name to its quota.
        default_quota: The quota of tenants not listed (and of workflows without one).
        max_argument_bytes: Largest argument of a task (and message payload), pickled.
        max_workflow_tasks: Most tasks in one submission.
    """

    principal: str = Field(default="local", min_length=1, max_length=200)
    principal_file: str = ""
    roles: dict[str, Role] = Field(default_factory=default_roles)
    principals: dict[str, tuple[str, ...]] = Field(default_factory=_default_principals)
    default_roles: tuple[str, ...] = ()
    file_handler_modules: tuple[str, ...] = SAFE_FILE_MODULES
    audit_path: str = "~/.orchestrator/audit.jsonl"
    quotas: dict[str, TenantQuota] = Field(default_factory=dict)
    default_quota: TenantQuota = TenantQuota()
    max_argument_bytes: int = Field(default=16 * 2**20, ge=1)
    max_workflow_tasks: int = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _roles_exist(self) -> SecuritySettings:
        named = [(f"principals.{p}", r) for p, held in self.principals.items() for r in held]
        named += [("default_roles", r) for r in self.default_roles]
        missing = [f"{where}: {role!r}" for where, role in named if role not in self.roles]
        if missing:
            raise ValueError(f"security: unknown role(s) {', '.join(missing)}")
        return self


class Settings(BaseSettings):
    """Everything configurable, in sections."""

    model_config = SettingsConfigDict(
        env_prefix="ORCHESTRATOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    ray: RaySettings = RaySettings()
    scheduler: SchedulerConfig = SchedulerConfig()
    heartbeat: HeartbeatSettings = HeartbeatSettings()
    logging: LoggingSettings = LoggingSettings()
    tracing: TracingSettings = TracingSettings()
    metrics: MetricsSettings = MetricsSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()
    security: SecuritySettings = SecuritySettings()
    bus: BusSettings = BusSettings()

    def for_driver(self) -> Settings:
        """Return these settings with the driver's relative paths made absolute.

        The supervisor and the agents run in other processes (and other working
        directories): ``tracing.jsonl_path`` must name the file the driver meant.
        """
        path = Path(self.tracing.jsonl_path)
        if path.is_absolute():
            return self
        tracing = self.tracing.model_copy(update={"jsonl_path": str(path.resolve())})
        return self.model_copy(update={"tracing": tracing})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read code arguments, then environment, then the extra file, then the default file."""
        files = [DEFAULT_CONFIG_FILE]
        extra = os.environ.get("ORCHESTRATOR_CONFIG_FILE")
        if extra:
            files.append(Path(extra))
        # Later files win in pydantic-settings' TOML source.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=[f for f in files if f.exists()])
        return (init_settings, env_settings, toml)
