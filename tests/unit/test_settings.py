"""Settings: shipped file, extra file, environment, code arguments — in that order of weight."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.settings import DEFAULT_CONFIG_FILE, HeartbeatSettings, Settings


def test_shipped_file_lists_every_setting_with_the_schema_default() -> None:
    shipped = tomllib.loads(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
    defaults = {
        name: field.default.model_dump(mode="json") for name, field in Settings.model_fields.items()
    }
    shipped["ray"].setdefault("num_cpus", None)  # TOML has no null: left out on purpose
    shipped["ray"].setdefault("num_gpus", None)
    shipped["scheduler"].setdefault("default_breaker", None)  # off unless configured
    shipped["scheduler"].setdefault("max_running_attempts", None)  # no limit unless set
    for key in defaults["security"]["default_quota"]:  # no quota unless set
        shipped["security"]["default_quota"].setdefault(key, None)
    assert shipped == defaults


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_HEARTBEAT__INTERVAL_S", "0.25")
    monkeypatch.setenv("ORCHESTRATOR_SCHEDULER__DEFAULT_FUNCTION_RESOURCES__NUM_CPUS", "0.5")
    settings = Settings()
    assert settings.heartbeat.interval_s == 0.25
    assert settings.scheduler.default_function_resources.num_cpus == 0.5
    assert settings.heartbeat.hung_after_s == 30.0  # untouched keys keep the file's value


def test_extra_file_overrides_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "site.toml"
    extra.write_text('[logging]\nlevel = "DEBUG"\n[ray]\nauth_mode = "disabled"\n')
    monkeypatch.setenv("ORCHESTRATOR_CONFIG_FILE", str(extra))
    settings = Settings()
    assert settings.logging.level == "DEBUG"
    assert settings.ray.auth_mode == "disabled"
    assert settings.ray.namespace == "orchestrator"
    monkeypatch.setenv("ORCHESTRATOR_LOGGING__LEVEL", "ERROR")
    assert Settings().logging.level == "ERROR"  # the environment beats the files


def test_code_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_HEARTBEAT__INTERVAL_S", "9")
    settings = Settings(heartbeat=HeartbeatSettings(interval_s=0.1))
    assert settings.heartbeat.interval_s == 0.1


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ORCHESTRATOR_HEARTBEAT__INTERVAL_S", "-1", "interval_s"),
        ("ORCHESTRATOR_LOGGING__LEVEL", "LOUD", "level"),
        ("ORCHESTRATOR_RAY__AUTH_MODE", "maybe", "auth_mode"),
        ("ORCHESTRATOR_SCHEDULER__MAX_BATCH_SIZE", "0", "max_batch_size"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=field):
        Settings()


def test_unknown_key_in_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "typo.toml"
    extra.write_text("[heartbeat]\ninterval_secs = 2\n")
    monkeypatch.setenv("ORCHESTRATOR_CONFIG_FILE", str(extra))
    with pytest.raises(ValidationError, match="interval_secs"):
        Settings()


def test_slow_after_must_not_exceed_hung_after() -> None:
    from pydantic import ValidationError

    from orchestrator.settings import HeartbeatSettings

    with pytest.raises(ValidationError, match=r"slow_after_s \(40\) must not exceed"):
        HeartbeatSettings(slow_after_s=40.0, hung_after_s=30.0)
    assert HeartbeatSettings(slow_after_s=30.0, hung_after_s=30.0).hung_after_s == 30.0
