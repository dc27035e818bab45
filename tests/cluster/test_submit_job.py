"""``orchestrator submit`` and ``orchestrator status --follow`` against a real head node.

The test starts ``ray start --head --block`` itself, as a child in its own process group,
with token authentication on (a token file of its own) and every port chosen free, so
other Rays on the machine are neither joined nor disturbed; it ends the head node by that
process group (never ``ray stop``, which would end every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(420)]

BIN = Path(sys.executable).parent

WORKFLOW = """\
name: jobs-demo
tasks:
  - id: nap-a
    function: agents.simulated:simulate
    args: [1.0]
    resources: {num_cpus: 0.5}
  - id: nap-b
    function: agents.simulated:simulate
    args: [1.0]
    resources: {num_cpus: 0.5}
  - id: sum
    function: math:fsum
    args: [[20, 22]]
    depends_on: [nap-a, nap-b]
    resources: {num_cpus: 0.5}
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Head:
    gcs_address: str
    dashboard_url: str
    env: dict[str, str]
    token_file: Path


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    gcs, dashboard, agent, client, metrics = _free_ports(5)
    # A short temp dir of its own (Unix socket paths are limited to about 100 bytes).
    temp_dir = tempfile.mkdtemp(prefix="rayops-", dir="/tmp")
    token_file = Path(temp_dir) / "token"
    token_file.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
    }
    env.pop("RAY_ADDRESS", None)
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={gcs}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--dashboard-agent-listen-port={agent}",
        f"--ray-client-server-port={client}",
        f"--metrics-export-port={metrics}",
        "--include-dashboard=true",
        "--num-cpus=2",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    log = (Path(temp_dir) / "head.log").open("w")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{dashboard}"
    version = urllib.request.Request(
        f"{url}/api/version", headers={"Authorization": f"Bearer {token_file.read_text()}"}
    )
    try:
        deadline_s = time.monotonic() + 120
        while True:  # the dashboard answers once the head is up
            assert process.poll() is None, (Path(temp_dir) / "head.log").read_text()
            try:
                with urllib.request.urlopen(version, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline_s:
                    raise
                time.sleep(1)
        yield Head(f"127.0.0.1:{gcs}", url, env, token_file)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the head node and every process it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # whatever of the group is left
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _cli(head: Head, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "orchestrator"), *args],
        env=head.env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_submit_as_a_ray_job_then_follow_it_to_the_end(head: Head, tmp_path: Path) -> None:
    workflow_file = tmp_path / "jobs-demo.yaml"
    workflow_file.write_text(WORKFLOW)
    # When the workflow is submitted as a Ray Job with the cluster's token
    submitted = _cli(
        head,
        "submit",
        str(workflow_file),
        "--address",
        head.dashboard_url,
        "--token-file",
        str(head.token_file),
        "--workflow-id",
        "jobs-demo-1",
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    lines = dict(line.split(": ", 1) for line in submitted.stdout.strip().splitlines())
    assert lines["workflow"] == "jobs-demo-1"
    assert lines["job"]

    # Then status --follow prints its changes until it ends, and exits 0 (succeeded).
    followed = _cli(head, "status", "jobs-demo-1", "--follow", "--address", head.gcs_address)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    updates = [line for line in followed.stdout.splitlines() if " jobs-demo-1: " in line]
    assert len(updates) >= 1
    assert "jobs-demo-1: succeeded 3/3" in updates[-1]

    # The job ends succeeded; its logs say what the workflow did (Ray's own CLI, with the
    # same token: this process's Ray settings are the cluster tests' ones).
    def ray_job(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "ray"), "job", *args, lines["job"], "--address", head.dashboard_url],
            env=head.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout + done.stderr

    deadline_s = time.monotonic() + 120
    # `ray job status` ends with "Job '<id>' succeeded" (or failed, stopped...).
    while not any(s in ray_job("status").lower() for s in ("succeeded", "failed", "stopped")):
        assert time.monotonic() < deadline_s, ray_job("logs")
        time.sleep(1)
    assert "succeeded" in ray_job("status").lower()
    assert "jobs-demo-1 succeeded: 3 succeeded" in ray_job("logs")

    # The supervisor is detached: the workflow is still there after its job ended.
    tasks = _cli(head, "tasks", "jobs-demo-1", "--address", head.gcs_address)
    assert tasks.returncode == 0, tasks.stderr
    assert "3 of 3 task(s)" in tasks.stdout


def test_a_bad_file_is_refused_before_reaching_the_cluster(head: Head, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntasks:\n  - id: a\n    depends_on: [missing]\n")
    refused = _cli(head, "submit", str(bad), "--address", head.dashboard_url)
    assert refused.returncode == 2
    assert "missing" in refused.stderr


def test_a_wrong_token_is_refused_clearly(head: Head, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text(secrets.token_hex(32))
    workflow_file = tmp_path / "jobs-demo.yaml"
    workflow_file.write_text(WORKFLOW)
    refused = _cli(
        head,
        "submit",
        str(workflow_file),
        "--address",
        head.dashboard_url,
        "--token-file",
        str(wrong),
    )
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert head.dashboard_url in refused.stderr
