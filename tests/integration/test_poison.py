"""The poison-batch workflow of issue 6 on a real Ray: only the crasher pays.

One task kills its agent's process (``os._exit(3)``); six ordinary short tasks are batched
with it. A ledger file, written by every handler as it starts, is the oracle.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orchestrator import Orchestrator, Workflow
from orchestrator.core.states import TaskState, WorkflowState
from tests.integration import workloads

pytestmark = pytest.mark.integration

SHORT = 0.001  # an estimate that makes the scheduler batch the tasks together


def test_a_poison_task_never_takes_its_neighbours_down(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given the crasher first in line, batched with six ordinary short tasks
    ledger = str(tmp_path / "poison.jsonl")
    twice = {"max_attempts": 2, "initial_backoff_s": 0.0}
    wf = Workflow("poison-batch")
    crasher = wf.task(
        "crasher",
        workloads.crash,
        args=(ledger, "crasher"),
        retry=twice,
        estimated_duration_s=SHORT,
    )
    big = wf.task(
        "big_result",
        workloads.ledgered_payload,
        args=(ledger, "big_result", 50 * 2**20),
        estimated_duration_s=SHORT,
    )
    wf.task(
        "value_error",
        workloads.ledgered_fail,
        args=(ledger, "value_error"),
        retry=twice,
        estimated_duration_s=SHORT,
    )
    wf.task(
        "flaky",
        workloads.flaky_once,
        args=(ledger, "flaky"),
        retry=twice,
        estimated_duration_s=SHORT,
    )
    for index in range(3):
        wf.task(
            f"plain{index}",
            workloads.ledgered,
            args=(ledger, f"plain{index}", index),
            estimated_duration_s=SHORT,
        )
    wf.task("after_crasher", workloads.add, args=(crasher.output, 1))
    wf.task("size", workloads.length, args=(big.output,))

    # When it runs
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=120).state is WorkflowState.FAILED

    # Then every task but the crasher ends as if the crasher were not there
    infos = {info.task_id: info for info in run.tasks()}
    assert run.result("size") == 50 * 2**20
    assert run.result("flaky") == "flaky ok"
    assert [run.result(f"plain{i}") for i in range(3)] == [0, 1, 2]
    assert (infos["value_error"].state, infos["value_error"].error_type) == (
        TaskState.FAILED,
        "ValueError",
    )
    assert infos["after_crasher"].state is TaskState.SKIPPED
    # And the crasher failed after its two charged attempts, saying its process died
    crasher_info = infos["crasher"]
    assert (crasher_info.state, crasher_info.error_type) == (TaskState.FAILED, "AgentDied")
    assert "died while running this task alone" in (crasher_info.error_message or "")
    starts = Counter(e["task"] for e in workloads.read_ledger(ledger))
    assert starts["crasher"] == crasher_info.attempts
    # 2 charged attempts alone, plus the free one in the batch it took down first
    assert crasher_info.attempts == 3
    # Nobody else was charged for it
    for name, info in infos.items():
        if name != "crasher":
            assert info.error_type not in ("AgentDied", "AgentLost"), (name, info)
    assert starts["value_error"] == 2
