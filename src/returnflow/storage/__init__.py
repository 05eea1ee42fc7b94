"""Where evidence files live: a local folder by default, any S3-compatible object store at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..config import Settings


class EvidenceStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


class LocalStore:
    """Files under one folder; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not str(path).startswith(str(self.root.resolve())):
            raise ValueError(f"key escapes the store: {key}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


class S3Store:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph, OSS/COS in S3 mode); credentials from the usual AWS variables."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str) -> None:
        import boto3

        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def ensure_bucket(self) -> None:
        """Creates the bucket if it is missing."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError:
            return False


def make_store(settings: Settings) -> EvidenceStore:
    """The store the settings ask for."""
    if settings.storage == "s3":
        store = S3Store(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
        store.ensure_bucket()
        return store
    if settings.storage != "local":
        raise ValueError(f"RETURNFLOW_STORAGE must be 'local' or 's3', not {settings.storage!r}")
    return LocalStore(settings.data_dir / "evidence")
