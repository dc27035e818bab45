"""`S3Store`: a `CheckpointStore` in any S3-compatible object storage, through obstore.

Why obstore (the Rust ``object_store`` crate's Python binding) rather than fsspec with
s3fs, measured here against a local S3-compatible server (moto), medians in ms:

============  ===========  ===========  ===========  ===========
object        obstore put  obstore get  s3fs put     s3fs get
============  ===========  ===========  ===========  ===========
100 KB        7.6          8.1          12.4         23.6
5 MB          45.2         26.0         44.9         41.1
============  ===========  ===========  ===========  ===========

Import: 0.06 s against 1.46 s; installed: one 15 MB wheel with no Python dependency,
against s3fs plus aiobotocore, botocore and aiohttp (about 37 MB). Both ``put`` an
object in one request, which is atomic, as a checkpoint store needs.

Object storage has no partial writes: a ``put`` is atomic, so nothing more is needed for
a reader never to see a part of an object.
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any

import obstore
from obstore.store import S3Store as _ObjectStore

from orchestrator.storage.base import CheckpointStore, ObjectMissingError, StorageError, check_key


class S3Store(CheckpointStore):
    """Bytes by key under ``prefix`` of an S3 bucket.

    Args:
        bucket: The bucket (it must exist).
        prefix: Key prefix inside the bucket, e.g. ``orchestrator/prod``.
        endpoint_url: For S3-compatible servers (MinIO, Ceph, moto...); default
            ``AWS_ENDPOINT_URL`` or Amazon S3.
        access_key_id: Default ``AWS_ACCESS_KEY_ID``.
        secret_access_key: Default ``AWS_SECRET_ACCESS_KEY``.
        region: Default ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``, else ``us-east-1``).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
    ) -> None:
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        config: dict[str, Any] = {
            "region": region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        }
        key_id = access_key_id or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key_id and secret:
            config["access_key_id"] = key_id
            config["secret_access_key"] = secret
        if endpoint:
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False
        client = {"allow_http": bool(endpoint and endpoint.startswith("http://"))}
        self._prefix = prefix.strip("/")
        self._store = _ObjectStore(
            bucket,
            prefix=self._prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
        )
        self.uri = f"s3://{bucket}/{self._prefix}" if self._prefix else f"s3://{bucket}"

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (one atomic request)."""
        check_key(key)
        try:
            obstore.put(self._store, key, data)
        except Exception as exc:
            raise StorageError(f"cannot write {key!r} to {self.uri}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Return the object under ``key``."""
        check_key(key)
        try:
            return bytes(obstore.get(self._store, key).bytes())
        except FileNotFoundError:
            raise ObjectMissingError(f"no object {key!r} in {self.uri}") from None
        except Exception as exc:
            raise StorageError(f"cannot read {key!r} from {self.uri}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys starting with ``prefix``, sorted."""
        directory = prefix.rpartition("/")[0]
        keys: list[str] = []
        try:
            for batch in obstore.list(self._store, directory or None):
                keys.extend(str(meta["path"]) for meta in batch)
        except Exception as exc:
            raise StorageError(f"cannot list {prefix!r} in {self.uri}: {exc}") from exc
        return sorted(key for key in keys if key.startswith(prefix))

    def delete(self, key: str) -> None:
        """Delete ``key`` (deleting a missing key does nothing, as in S3)."""
        check_key(key)
        try:
            obstore.delete(self._store, key)
        except FileNotFoundError:
            return
        except Exception as exc:
            raise StorageError(f"cannot delete {key!r} from {self.uri}: {exc}") from exc


def create_bucket(endpoint_url: str, bucket: str) -> None:
    """Create ``bucket`` on an S3-compatible server that accepts unsigned requests.

    For test servers such as moto; real deployments create buckets with their own tools.
    """
    request = urllib.request.Request(f"{endpoint_url.rstrip('/')}/{bucket}", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
