"""The driver of a workflow submitted as a Ray Job (``orchestrator submit``).

Ray runs ``python -m orchestrator.job_entry FILE --workflow-id ID`` on the cluster's head
node: it joins the cluster, finds (or starts, detached) the supervisor, submits the
workflow under the id the submitter chose and printed, says so on a line of its own
(``orchestrator: accepted ID``, which ``orchestrator submit`` waits for in the job's
logs), waits for the workflow and exits 0 when it succeeded, 1 when it did not, 2 when it
was refused. The supervisor is detached: the workflow's state and results stay reachable
(``orchestrator status``, ``Orchestrator("auto").attach(ID)``) after the job ends.
"""

from __future__ import annotations

import argparse
import sys

#: The line the job prints once the supervisor accepted the workflow (then its id).
ACCEPTED_MARK = "orchestrator: accepted "

#: Exit codes: succeeded, a task failed, refused.
EXIT_OK, EXIT_FAILED, EXIT_REJECTED = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Submit the workflow file named in ``argv`` and wait for it; return the exit code."""
    parser = argparse.ArgumentParser(prog="orchestrator.job_entry")
    parser.add_argument("workflow_file")
    parser.add_argument("--workflow-id", required=True)
    parser.add_argument("--tag", default="master")
    parser.add_argument("--taskmaster-handler", default=None)
    args = parser.parse_args(argv)

    from orchestrator.api import Orchestrator
    from orchestrator.core.errors import WorkflowRejectedError
    from orchestrator.core.states import WorkflowState
    from orchestrator.loader import load_workflow_file
    from orchestrator.settings import Settings

    settings = Settings()
    # The supervisor outlives this job: its workflows stay reachable after it ends.
    settings = settings.model_copy(
        update={"ray": settings.ray.model_copy(update={"detached": True})}
    )
    try:
        spec = load_workflow_file(
            args.workflow_file, tag=args.tag, taskmaster_handler=args.taskmaster_handler
        )
        with Orchestrator("auto", settings=settings) as orchestrator:
            run = orchestrator.submit(spec, workflow_id=args.workflow_id)
            print(f"{ACCEPTED_MARK}{run.id}", flush=True)
            status = run.wait(progress=False)
            summary = run.summary()
    except WorkflowRejectedError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_REJECTED
    print(
        f"orchestrator: {run.id} {status.state.value}: {summary.succeeded} succeeded,"
        f" {summary.failed} failed, {summary.skipped} skipped in {summary.wall_s:.2f}s",
        flush=True,
    )
    return EXIT_OK if status.state is WorkflowState.SUCCEEDED else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
