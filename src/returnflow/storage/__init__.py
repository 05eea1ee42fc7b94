"""Where evidence files live: a local folder by default, any S3-compatible object store at scale.

Keys are relative, slash-separated paths (``<merchant id>/<case number>/<sha256>.<ext>``); both stores refuse keys
that are absolute or climb out with ``..``. ``put`` takes bytes or a readable binary file (read from its current
position, in chunks), so a 200 MB video never has to sit in memory; ``open`` yields the stored bytes in chunks for a
streaming download.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol

from ..config import Settings

CHUNK = 1024 * 1024


class EvidenceStore(Protocol):
    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...


class ObjectMissing(LookupError):
    """The key names no stored object."""


def check_key(key: str) -> str:
    """The key itself, if it is a plain relative path; ValueError otherwise."""
    parts = key.split("/")
    if (not key or key.startswith("/") or "\\" in key or "\x00" in key
            or any(part in ("", ".", "..") for part in parts)):
        raise ValueError(f"not a valid storage key: {key!r}")
    return key


class LocalStore:
    """Files under one folder; keys are relative paths. Writes go to a temporary file that is renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        check_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()  # resolves symlinks too: a link pointing outside is refused as well
        if path == root or not path.is_relative_to(root):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name in the same folder: concurrent writers of one key never share a half-written
        # file, and the rename below is atomic, so a reader sees the old object or the whole new one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with suppress(OSError):  # make the rename itself durable where the platform allows it
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def open(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return _chunks(handle)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey",
                                                                                          "NotFound", "NoSuchBucket")


class S3Store:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph, OSS/COS in S3 mode); credentials from the usual AWS variables."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str, connect_timeout: float = 5,
                 read_timeout: float = 60) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.region = region
        # Bounded waits: an object store that stops answering fails the request instead of holding it forever.
        config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout)
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=config)

    def ensure_bucket(self) -> None:
        """Creates the bucket if it is missing (and only then: a bucket we may not read is an error, not a cue)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _missing(exc):
                raise
        extra = {} if self.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.region}}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",):
                raise

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        check_key(key)
        body = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
        # upload_fileobj switches to a multipart upload for large files; the object appears only when complete.
        self.client.upload_fileobj(body, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        check_key(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:
            if _missing(exc):
                raise ObjectMissing(key) from None
            raise
        return _s3_chunks(body)

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:
            if _missing(exc):
                return False
            raise  # no permission, no network: not the same as "absent"


def _s3_chunks(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def make_store(settings: Settings) -> EvidenceStore:
    """The store the settings ask for."""
    if settings.storage == "s3":
        store = S3Store(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                        connect_timeout=settings.s3_connect_timeout_seconds,
                        read_timeout=settings.s3_read_timeout_seconds)
        store.ensure_bucket()
        return store
    if settings.storage != "local":
        raise ValueError(f"RETURNFLOW_STORAGE must be 'local' or 's3', not {settings.storage!r}")
    return LocalStore(settings.data_dir / "evidence")
