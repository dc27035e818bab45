"""The built-in handler of Taskmaster tasks, so that a ``tasks.json`` runs out of the box."""

from __future__ import annotations


def summarise_task(
    *,
    taskmaster_id: str,
    title: str,
    description: str = "",
    details: str = "",
    test_strategy: str = "",
) -> dict[str, str]:
    """Return a summary of a Taskmaster task instead of doing it.

    Any handler given with ``--taskmaster-handler`` receives the same keyword arguments.

    Args:
        taskmaster_id: The task's Taskmaster id, ``"4"`` or ``"4.2"`` for a subtask.
        title: Its ``title``.
        description: Its ``description``.
        details: Its ``details`` (how to do it).
        test_strategy: Its ``testStrategy`` (how to check it).

    Returns:
        ``{"id": ..., "title": ..., "description": ...}``.
    """
    del details, test_strategy  # a real agent would follow them
    return {"id": taskmaster_id, "title": title, "description": description}
