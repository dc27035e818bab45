"""`open_store`: a `CheckpointStore` named by a URI.

- ``memory://name``: this process's in-memory store of that name (tests, notebooks);
- ``file:///abs/path`` or a plain path: a local directory (the default);
- ``s3://bucket/prefix``: S3-compatible object storage; the endpoint (for MinIO, Ceph,
  moto...), credentials and region come from the arguments or the usual ``AWS_*``
  environment variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from orchestrator.storage.base import CheckpointStore
from orchestrator.storage.local import LocalDirectoryStore
from orchestrator.storage.memory import MemoryStore


def open_store(
    uri: str,
    *,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
) -> CheckpointStore:
    """Return the store ``uri`` names (see the module docstring).

    Raises:
        ValueError: the scheme is unknown or the URI incomplete (naming what is wrong).
    """
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "memory":
        name = (parsed.netloc + parsed.path).strip("/") or "default"
        return MemoryStore.named(name)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URI {uri!r} names a host; use file:///absolute/path")
        return LocalDirectoryStore(Path(unquote(parsed.path)))
    if scheme == "":
        return LocalDirectoryStore(Path(uri))
    if scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"S3 URI {uri!r} names no bucket; use s3://bucket/prefix")
        from orchestrator.storage.s3 import S3Store

        return S3Store(
            parsed.netloc,
            prefix=parsed.path.strip("/"),
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
        )
    raise ValueError(
        f"unknown storage scheme {parsed.scheme!r} in {uri!r}; use memory://, file:// (or a"
        " path) or s3://"
    )
