"""Read workflow files (YAML or JSON) into a validated `WorkflowSpec`.

The format::

    name: corpus-report
    tenant: research       # optional: shares its tenant's limit and share of capacity
    weight: 2              # optional: its share among the tenant's workflows (default 1)
    agents:
      - class: agents.corpus:WordFrequencyAgent   # import path; other keys override the
        replicas: 2                               # class's name/resources/replicas/...
    tasks:
      - id: plan
        function: agents.corpus:plan_shards       # or `agent: <agent name>`
        kwargs: {shards: 8}
        priority: high
        resources: {num_cpus: 0.25}
      - id: words-0
        agent: WordFrequencyAgent
        args: [{output_of: plan}, 0]              # the result of `plan`, and a dependency

WfCommons WfFormat instances (JSON with ``schemaVersion`` and ``workflow``) are recognised
and imported as simulated tasks; Taskmaster ``tasks.json`` files (a ``tasks`` array of
entries with a ``title``, or tags holding one) as tasks of one handler
(`orchestrator.taskmaster`).

Every problem (syntax, unknown field, wrong type, unknown agent, import path that does not
resolve, cycle, missing dependency, negative resources, a bad schedule) is reported at
once, located by task id, before anything runs. A file may also declare when it runs
(``schedule:`` or ``on_topic:``, see `orchestrator.workflow_triggers`).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from orchestrator.agent import agent_spec
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.handler_policy import HandlerPolicy
from orchestrator.core.input_limits import argument_problems, workflow_size_problem
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import AgentSpec, TaskSpec, WorkflowSpec
from orchestrator.import_paths import import_object, reference_problem
from orchestrator.loader_secrets import with_secrets
from orchestrator.validation_problems import format_location, problems_from_validation_error
from orchestrator.workflow import structure_problems
from orchestrator.workflow_triggers import TRIGGER_KEYS, read_trigger

# Fields of the workflow itself (the others are agents, tasks and its trigger).
_WORKFLOW_FIELDS = ("name", "id", "metadata", "tenant", "weight")
_EXPECTED = (*_WORKFLOW_FIELDS, "agents", "tasks", *sorted(TRIGGER_KEYS))
_TOP_LEVEL_KEYS = set(_EXPECTED)


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file. Raises `WorkflowRejectedError` naming the file and line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowRejectedError(
            file.name, [Problem(str(file), f"cannot read: {exc}")]
        ) from None
    except UnicodeDecodeError as exc:
        where = f"{file}: byte {exc.start}"
        raise WorkflowRejectedError(file.name, [Problem(where, "not UTF-8 text")]) from None
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        where = f"{file}:{exc.lineno}:{exc.colno}"
        raise WorkflowRejectedError(
            file.name, [Problem(where, f"not valid JSON: {exc.msg}")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorkflowRejectedError(
            file.name, [Problem(where, f"not valid YAML: {problem}")]
        ) from None


def load_workflow_file(
    path: str | Path,
    *,
    time_scale: float = 1.0,
    mode: Literal["sleep", "compute"] = "sleep",
    max_cores: int | None = None,
    tag: str = "master",
    taskmaster_handler: str | None = None,
    handler_modules: Sequence[str] | None = None,
) -> WorkflowSpec:
    """Read and validate a workflow file.

    Args:
        path: A ``.yaml``/``.yml`` or ``.json`` file in the format above, a WfFormat
            instance or a Taskmaster ``tasks.json``.
        time_scale: For WfFormat instances: each task runs for its recorded runtime times this.
        mode: For WfFormat instances: ``sleep`` or ``compute`` for the recorded runtime.
        max_cores: For WfFormat instances: cap on each task's core count.
        tag: For Taskmaster files: the tag to read.
        taskmaster_handler: For Taskmaster files: import path of the function or agent
            class that handles every task (default: a summary of the task).
        handler_modules: Modules handler references may come from (default:
            ``security.file_handler_modules`` of the settings); see
            `orchestrator.core.handler_policy`.

    Raises:
        WorkflowRejectedError: listing every problem found.
    """
    policy = file_policy(handler_modules)
    data = read_document(path)
    if isinstance(data, Mapping) and "schemaVersion" in data and "workflow" in data:
        from orchestrator.wfformat import load_wfformat

        spec = load_wfformat(data, time_scale=time_scale, mode=mode, max_cores=max_cores)
        return _allowed_handlers(spec, policy)
    from orchestrator.taskmaster import is_taskmaster, load_taskmaster

    if is_taskmaster(data):
        stem = Path(path).stem
        name = stem if tag == "master" else f"{stem}-{tag}"
        spec = load_taskmaster(data, tag=tag, handler=taskmaster_handler, name=name)
        return _allowed_handlers(spec, policy)
    return workflow_from_mapping(data, default_name=Path(path).stem, policy=policy)


def file_policy(handler_modules: Sequence[str] | None = None) -> HandlerPolicy:
    """Return the handler policy of workflow files (from the settings by default)."""
    if handler_modules is None:
        from orchestrator.settings import Settings

        handler_modules = Settings().security.file_handler_modules
    return HandlerPolicy(allowed_modules=tuple(handler_modules))


def _allowed_handlers(spec: WorkflowSpec, policy: HandlerPolicy) -> WorkflowSpec:
    problems = []
    for where, path in handler_references(spec):
        problem = reference_problem(policy, path)
        if problem is not None:
            problems.append(Problem(where, problem))
    if problems:
        raise WorkflowRejectedError(spec.name, problems)
    return spec


def handler_references(spec: WorkflowSpec) -> list[tuple[str, str]]:
    """Return ``(where, import path)`` of every handler a spec names by import path."""
    found = []
    for agent in spec.agents:
        if isinstance(agent.agent_class, str):
            found.append((f"agents[{agent.name!r}].class", agent.agent_class))
    for task in spec.tasks:
        for field in ("function", "compensate", "run_if"):
            value = getattr(task, field)
            if isinstance(value, str):
                found.append((f"tasks[{task.id!r}].{field}", value))
    return found


def load_trigger(path: str | Path) -> ScheduleSpec | None:
    """Return the schedule or trigger (``schedule:``, ``on_topic:``) of a valid workflow file."""
    data = read_document(path)
    if not isinstance(data, Mapping) or not TRIGGER_KEYS & set(data):
        return None
    schedule, _ = read_trigger(data, str(data.get("name", Path(path).stem)))
    return schedule


def workflow_from_mapping(
    data: Any,
    *,
    default_name: str = "workflow",
    policy: HandlerPolicy | None = None,
    max_argument_bytes: int | None = None,
    max_workflow_tasks: int | None = None,
) -> WorkflowSpec:
    """Validate a parsed document into a `WorkflowSpec` (see the module docstring).

    Handler references must be allowed by ``policy`` (default: `file_policy`); arguments
    and the number of tasks must be within the limits (default: ``security`` settings).
    """
    policy = policy if policy is not None else file_policy()
    if max_argument_bytes is None or max_workflow_tasks is None:
        from orchestrator.settings import Settings

        security = Settings().security
        max_argument_bytes = max_argument_bytes or security.max_argument_bytes
        max_workflow_tasks = max_workflow_tasks or security.max_workflow_tasks
    if not isinstance(data, Mapping):
        kind = type(data).__name__
        raise WorkflowRejectedError(
            default_name, [Problem("", f"expected a mapping with 'name' and 'tasks', got {kind}")]
        )
    name = str(data.get("name", default_name))
    problems = [
        Problem(str(key), f"unknown field (expected {', '.join(_EXPECTED)})")
        for key in data
        if key not in _TOP_LEVEL_KEYS
    ]
    problems.extend(read_trigger(data, name)[1])
    agents = _agents(data.get("agents") or [], problems, policy)
    tasks = _tasks(data, problems, policy)
    document = {key: value for key, value in data.items() if key in _WORKFLOW_FIELDS}
    document.setdefault("name", name)
    try:
        spec = WorkflowSpec(**document, tasks=tasks, agents=agents)
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, data))
        raise WorkflowRejectedError(name, problems) from None
    # Graph and agent problems are found even when some tasks were invalid: those take
    # part in the graph with the dependencies they declare.
    problems.extend(structure_problems(spec))
    too_many = workflow_size_problem(len(spec.tasks), max_workflow_tasks)
    problems.extend([too_many] if too_many is not None else [])
    rows = ((task.id, task.args, task.kwargs) for task in spec.tasks)
    problems.extend(argument_problems(rows, max_argument_bytes, _pickled_size))
    if problems:
        raise WorkflowRejectedError(name, problems)
    return spec


def _pickled_size(value: Any) -> int:
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # a value a file cannot hold anyway: counted as nothing
        return 0


def _tasks(
    data: Mapping[str, Any], problems: list[Problem], policy: HandlerPolicy
) -> list[TaskSpec]:
    entries = data.get("tasks")
    if not isinstance(entries, list) or not entries:
        problems.append(Problem("tasks", "expected a non-empty list of tasks"))
        return []
    _check_functions(entries, data, problems, policy)
    tasks = []
    for index, entry in enumerate(entries):
        where = format_location(("tasks", index), data)
        if not isinstance(entry, Mapping):
            problems.append(Problem(where, "expected a mapping with 'id' and a handler"))
            continue
        fields = with_secrets(entry, where, problems)
        try:
            tasks.append(TaskSpec(**fields))
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix=where))
            stand_in = _stand_in(entry)
            if stand_in is not None:
                tasks.append(stand_in)
        except TypeError as exc:  # e.g. a key that is not a string
            problems.append(Problem(where, str(exc)))
    return tasks


def _stand_in(entry: Mapping[str, Any]) -> TaskSpec | None:
    """Return a placeholder keeping an invalid task's id and dependencies in the graph."""
    task_id = entry.get("id")
    depends_on = entry.get("depends_on", [])
    if not isinstance(task_id, str) or not isinstance(depends_on, list):
        return None
    try:
        return TaskSpec(
            id=task_id,
            function="orchestrator.loader:load_workflow_file",
            depends_on=tuple(d for d in depends_on if isinstance(d, str)),
        )
    except ValidationError:
        return None


def _agents(entries: Any, problems: list[Problem], policy: HandlerPolicy) -> list[AgentSpec]:
    if not isinstance(entries, list):
        problems.append(Problem("agents", "expected a list of agents"))
        return []
    agents = []
    for index, entry in enumerate(entries):
        where = f"agents[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("class"), str):
            problems.append(Problem(where, "expected a mapping with 'class: module:Class'"))
            continue
        overrides = {key: value for key, value in entry.items() if key != "class"}
        refused = reference_problem(policy, entry["class"])
        if refused is not None:
            problems.append(Problem(f"{where}.class", refused))
            continue
        try:
            import_object(entry["class"])
            agents.append(agent_spec(entry["class"], **overrides))
        except ImportError as exc:
            problems.append(Problem(f"{where}.class", str(exc)))
        except TypeError as exc:
            problems.append(Problem(f"{where}.class", str(exc)))
        except ValidationError as exc:
            problems.extend(problems_from_validation_error(exc, prefix=where))
    return agents


def _check_functions(
    tasks: list[Any], data: Any, problems: list[Problem], policy: HandlerPolicy
) -> None:
    for index, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            continue
        for field in ("function", "compensate", "run_if"):
            path = task.get(field)
            if isinstance(path, str):
                where = format_location(("tasks", index, field), data)
                _check_function(path, where, problems, policy)


def _check_function(path: str, where: str, problems: list[Problem], policy: HandlerPolicy) -> None:
    refused = reference_problem(policy, path)
    if refused is not None:
        problems.append(Problem(where, refused))
        return
    try:
        function = import_object(path)
    except ImportError as exc:
        problems.append(Problem(where, str(exc)))
        return
    if not callable(function):
        problems.append(Problem(where, f"{path!r} is not callable"))
