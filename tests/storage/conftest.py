"""Every storage test runs against every backend: memory, a local directory, and S3 (a
real S3-compatible server, moto in server mode, started on 127.0.0.1 for the session)."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.storage import CheckpointStore, LocalDirectoryStore, MemoryStore

BACKENDS = ("memory", "local", "s3")
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on 127.0.0.1, stopped at the end of the session."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                raise RuntimeError("the moto S3 server exited at start")
            time.sleep(0.1)
        else:
            raise RuntimeError("the moto S3 server did not start within 30 s")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def make_s3_store(endpoint: str) -> CheckpointStore:
    """A store on a fresh bucket of the test server."""
    from orchestrator.storage.s3 import S3Store, create_bucket

    bucket = f"test-{os.getpid()}-{next(_names)}"
    create_bucket(endpoint, bucket)
    return S3Store(
        bucket,
        prefix="orchestrator",
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
    )


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CheckpointStore:
    """A fresh, empty store of each backend."""
    backend: str = request.param
    if backend == "memory":
        return MemoryStore(f"test-{next(_names)}")
    if backend == "local":
        return LocalDirectoryStore(tmp_path / "store")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return make_s3_store(endpoint)
