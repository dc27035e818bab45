"""``orchestrator submit FILE``: run a workflow file on a cluster as a Ray Job.

The file is checked here first (a refused file never reaches the cluster), then sent with
``ray.job_submission.JobSubmissionClient`` to the cluster's dashboard (``--address``,
e.g. ``http://head:8265``): the job runs `orchestrator.job_entry` on the head node,
which submits the workflow to the cluster's (detached) supervisor under the id chosen
here. ``submit`` waits until the supervisor accepted it and prints the job's id and the
workflow's id; follow it with ``orchestrator status WORKFLOW_ID --follow`` or
``ray job logs JOB_ID --follow``.

Token authentication (Ray 2.60's default): the Jobs API wants the cluster's token.
``RAY_AUTH_MODE`` is set from ``ray.auth_mode`` unless already set, and ``--token-file``
(else ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``) names the token; the job's
own driver gets the same mode.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click

from orchestrator.cli_dlq import EXIT_REFUSED, EXIT_UNAVAILABLE, _fail
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.job_entry import ACCEPTED_MARK

_ENDED = {"FAILED", "STOPPED", "SUCCEEDED"}


def configure_auth(auth_mode: str, token_file: str | None) -> None:
    """Set Ray's client authentication from ``auth_mode`` and ``token_file``.

    An explicit ``RAY_AUTH_MODE`` in the environment wins; ``token_file`` must exist.
    """
    os.environ.setdefault("RAY_AUTH_MODE", auth_mode)
    if token_file is not None:
        path = Path(token_file).expanduser()
        if not path.is_file():
            _fail(f"--token-file {token_file}: no such file", EXIT_REFUSED)
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(path.resolve())


def _job_client(address: str) -> Any:
    from orchestrator.runtime.jobs import job_client

    try:
        return job_client(None if address == "auto" else address)
    except Exception as exc:  # no dashboard there, refused token, ...
        _fail(f"cannot reach Ray Jobs at {address}: {exc}", EXIT_UNAVAILABLE)


def wait_accepted(client: Any, job_id: str, workflow_id: str, timeout_s: float) -> None:
    """Wait until job ``job_id`` says its workflow was accepted; fail with its logs if not."""
    deadline_s = time.monotonic() + timeout_s
    mark = f"{ACCEPTED_MARK}{workflow_id}"
    while True:
        logs = client.get_job_logs(job_id)
        if mark in logs:
            return
        state = str(client.get_job_status(job_id))
        if state.rsplit(".", 1)[-1] in _ENDED:
            tail = "\n".join(logs.strip().splitlines()[-20:])
            _fail(f"job {job_id} ended ({state}) before its workflow ran:\n{tail}", EXIT_REFUSED)
        if time.monotonic() >= deadline_s:
            _fail(f"job {job_id} did not start its workflow within {timeout_s:g}s", 1)
        time.sleep(0.5)


@click.command()
@click.argument("workflow_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--address",
    default="auto",
    show_default=True,
    help="The cluster's dashboard (http://head:8265); 'auto': the cluster this machine is in.",
)
@click.option("--workflow-id", help="Id of the run (default: NAME-<8 hex digits>).")
@click.option(
    "--python",
    "python",
    default=sys.executable,
    show_default="this interpreter",
    help="Python on the head node that has this project installed.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="The cluster's auth token (default: RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token).",
)
@click.option("--tag", default="master", show_default=True, help="Taskmaster: the tag to read.")
@click.option("--taskmaster-handler", metavar="MODULE:ATTR", help="Taskmaster: the handler.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds to wait for the job to start the workflow.",
)
def submit(
    workflow_file: str,
    address: str,
    workflow_id: str | None,
    python: str,
    token_file: str | None,
    tag: str,
    taskmaster_handler: str | None,
    timeout_s: float,
) -> None:
    """Submit WORKFLOW_FILE as a Ray Job; print the job id and the workflow id."""
    from orchestrator.loader import load_workflow_file
    from orchestrator.settings import Settings

    try:
        spec = load_workflow_file(workflow_file, tag=tag, taskmaster_handler=taskmaster_handler)
    except WorkflowRejectedError as exc:
        _fail(str(exc), EXIT_REFUSED)
    run_id = workflow_id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
    auth_mode = Settings().ray.auth_mode
    configure_auth(auth_mode, token_file)
    client = _job_client(address)
    name = Path(workflow_file).name
    command = [python, "-m", "orchestrator.job_entry", name, "--workflow-id", run_id]
    command += ["--tag", tag]
    if taskmaster_handler:
        command += ["--taskmaster-handler", taskmaster_handler]
    with tempfile.TemporaryDirectory(prefix="orchestrator-job-") as upload:
        # Only the workflow file travels; the code is the project installed on the cluster.
        shutil.copy(workflow_file, Path(upload) / name)
        runtime_env = {
            "working_dir": upload,
            "env_vars": {"RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]},
        }
        try:
            job_id = client.submit_job(
                entrypoint=shlex.join(command),
                runtime_env=runtime_env,
                metadata={"workflow_id": run_id, "workflow_file": name},
            )
        except Exception as exc:
            _fail(f"Ray Jobs at {address} refused the job: {exc}", EXIT_UNAVAILABLE)
    wait_accepted(client, job_id, run_id, timeout_s)
    click.echo(f"job: {job_id}")
    click.echo(f"workflow: {run_id}")
