"""Import a Taskmaster ``tasks.json`` (https://github.com/eyaltoledano/claude-task-master).

Taskmaster keeps a project's plan as tasks with dependencies, priorities, statuses and
subtasks. `load_taskmaster` turns the unfinished ones into a workflow, so that the
independent tasks run in parallel, each handled by an agent.

Formats: the classic ``{"tasks": [...]}`` (the ``master`` tag), and the tagged
``{"master": {"tasks": [...], "metadata": {...}}, "<tag>": {...}}``, of which one tag is
read (``master`` by default). The fields used:

- ``id``: a whole number >= 1, written ``3`` or ``"3"``; a subtask's id is unique within
  its task.
- ``title`` (required), ``description``, ``details``, ``testStrategy``: passed to the
  handler.
- ``status``: ``pending``, ``in-progress``, ``done``, ``review``, ``deferred``,
  ``cancelled``, ``blocked`` or ``completed`` (``pending`` when absent).
- ``priority``: ``critical``, ``high``, ``medium``, ``low`` (``medium`` when absent; a
  subtask without one takes its task's), mapped to the orchestrator's priority of the same
  name.
- ``dependencies``: in a task, ids of tasks (``3``, ``"3"``) or subtasks (``"3.2"``); in a
  subtask, as Taskmaster's next-task logic reads them, a plain number (``2`` or ``"2"``)
  names a sibling subtask and ``"3.2"`` any subtask.
- ``subtasks``: a task's subtasks, each with the fields above.

Other fields (``complexity``, ``acceptanceCriteria``, ``updatedAt``...) are not used.

The mapping:

- Task ``4`` becomes task ``task-4``, subtask ``4.2`` becomes ``task-4.2``.
- **Subtasks.** A task with subtasks completes after them: ``task-4`` depends on each
  ``task-4.N``, so its handler runs last, as the step that integrates and checks the
  whole (its ``testStrategy``). Its subtasks depend on the task's own dependencies (the
  task cannot start, in part or whole, before them). A dependency on task ``4`` is
  therefore a dependency on all of it, subtasks included.
- **Finished tasks are not run again.** Tasks whose status is ``done``, ``completed`` or
  ``cancelled``, and every subtask of such a task, are left out of the workflow, and the
  dependencies on them are dropped as satisfied (a cancelled task will never be done:
  its dependents do not wait for it). They are listed in `TaskmasterImport.not_run` and
  in the workflow's ``taskmaster.not_run`` metadata. Every other status runs.
- **The handler**, a function or an agent class (or its import path), handles every task.
  A function is called with the keyword arguments ``taskmaster_id``, ``title``,
  ``description``, ``details`` and ``test_strategy``; an agent class finds them in
  ``ctx.kwargs``. The default, `handlers.summarise_task`, returns a summary of the task.

Validation follows Taskmaster's ``validate-dependencies`` and goes further, reporting
every problem at once, each located by its JSON path and naming its task: a malformed
structure (a field of the wrong type, a missing id or title), duplicate ids, an invalid
status or priority, a self-dependency, a dependency on a task or subtask not in the file,
and circular dependencies, named task by task (with the dependencies implied by subtasks).
The fields and ids of finished tasks are checked too, but not their own dependencies: they
do not run, and the history of a real ``tasks.json`` often keeps stale ones there.
A file with nothing left to run is refused, saying so.

Modules: `tags` (detection, tags), `document` (fields), `graph` (ids, dependencies, cycles),
`convert` (`load_taskmaster`, `read_taskmaster`), `handlers` (the default handler).
"""

from orchestrator.taskmaster.convert import (
    DEFAULT_HANDLER,
    TaskmasterImport,
    load_taskmaster,
    read_taskmaster,
    task_id,
)
from orchestrator.taskmaster.document import FINISHED_STATUSES, PRIORITIES, STATUSES
from orchestrator.taskmaster.handlers import summarise_task
from orchestrator.taskmaster.tags import DEFAULT_TAG, is_taskmaster

__all__ = [
    "DEFAULT_HANDLER",
    "DEFAULT_TAG",
    "FINISHED_STATUSES",
    "PRIORITIES",
    "STATUSES",
    "TaskmasterImport",
    "is_taskmaster",
    "load_taskmaster",
    "read_taskmaster",
    "summarise_task",
    "task_id",
]
