"""Evidence in S3-compatible storage against a real S3 server (moto, a separate process), and LocalStore's rules."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from returnflow.config import Settings
from returnflow.storage import LocalStore, ObjectMissing, S3Store
from tests.api.test_evidence import jpeg_1x1, mp4, open_case, png_1x1, upload
from tests.support.world import make_order, make_shop

DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """A moto S3 server on a free 127.0.0.1 port, for this module; always terminated."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **DUMMY_AWS})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto server did not start within 30 s")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in DUMMY_AWS.items():  # moto accepts any credentials; these are placeholders, not secrets
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def bucket() -> str:
    """A fresh bucket per test (the server lives for the module; merchant ids and case numbers restart per test)."""
    return f"rf-evidence-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_settings(tmp_path, s3_endpoint, aws_env, bucket) -> Settings:
    # The app creates the bucket itself on start (S3Store.ensure_bucket).
    return Settings(data_dir=tmp_path / "data", database_url="unused", storage="s3", s3_endpoint_url=s3_endpoint,
                    s3_bucket=bucket)


@pytest.fixture
def s3_client(s3_endpoint, aws_env):
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def s3_app_client(db, s3_settings):
    from tests.support.asgi import TestClient

    from returnflow.app import create_app

    with TestClient(create_app(s3_settings, db=db)) as c:
        yield c


def _keys(s3_client, bucket: str, prefix: str = "") -> list[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_uploads_land_in_the_bucket_and_come_back_identical(s3_app_client, s3_client, db, s3_settings, bucket):
    client = s3_app_client
    shop = make_shop(db)
    make_order(db, shop)
    case = open_case(client, shop)
    prefix = f"{shop.id}/{case['number']}/"
    assert not (s3_settings.data_dir / "evidence").exists()  # nothing on the local disk in S3 mode

    for name, data, content_type, ext in [("a.jpg", jpeg_1x1(), "image/jpeg", "jpg"),
                                          ("b.mp4", mp4(), "video/mp4", "mp4")]:
        r = upload(client, shop, case["number"], name, data)
        assert r.status_code == 201, r.text
        digest = hashlib.sha256(data).hexdigest()
        assert r.json()["sha256"] == digest
        obj = s3_client.get_object(Bucket=bucket, Key=f"{prefix}{digest}.{ext}")
        assert obj["Body"].read() == data
        assert obj["ContentType"] == content_type
        got = client.get(f"/api/v1/cases/{case['number']}/attachments/{r.json()['id']}", headers=shop.headers())
        assert got.status_code == 200 and got.content == data
        assert got.headers["x-checksum-sha256"] == digest
        assert got.headers["content-type"].split(";")[0] == content_type

    assert len(_keys(s3_client, bucket, prefix)) == 2
    assert not (s3_settings.data_dir / "evidence").exists()


def test_the_same_file_twice_is_one_object(s3_app_client, s3_client, db, bucket):
    client = s3_app_client
    shop = make_shop(db)
    make_order(db, shop)
    case = open_case(client, shop)
    first = upload(client, shop, case["number"], "one.png", png_1x1())
    second = upload(client, shop, case["number"], "two.png", png_1x1())
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    digest = hashlib.sha256(png_1x1()).hexdigest()
    assert _keys(s3_client, bucket, f"{shop.id}/{case['number']}/") == [f"{shop.id}/{case['number']}/{digest}.png"]


def test_a_refused_file_puts_nothing_in_the_bucket(s3_app_client, s3_client, db, bucket):
    client = s3_app_client
    shop = make_shop(db)
    make_order(db, shop)
    case = open_case(client, shop)
    r = upload(client, shop, case["number"], "photo.jpg", b"MZ\x90\x00" + b"\x00" * 200)
    assert r.status_code == 422
    assert _keys(s3_client, bucket, f"{shop.id}/") == []


def test_s3_store_directly(s3_endpoint, aws_env, s3_client):
    store = S3Store(bucket="rf-direct-test", endpoint_url=s3_endpoint, region="us-east-1")
    store.ensure_bucket()
    store.ensure_bucket()  # a second call finds the bucket and leaves it be
    assert not store.exists("1/AS1/x.png")
    with pytest.raises(ObjectMissing):
        store.get("1/AS1/x.png")
    big = os.urandom(9 * 1024 * 1024)  # above boto3's multipart threshold (8 MiB): a multipart upload
    store.put("1/AS1/big.bin", big, "video/mp4")
    assert store.exists("1/AS1/big.bin")
    assert b"".join(store.open("1/AS1/big.bin")) == big
    assert s3_client.head_object(Bucket="rf-direct-test", Key="1/AS1/big.bin")["ContentLength"] == len(big)
    with pytest.raises(ValueError):
        store.put("../escape.png", b"x", "image/png")


def test_an_object_store_that_never_answers_fails_within_its_timeouts(aws_env, tmp_path):
    from botocore.exceptions import ReadTimeoutError

    from tests.support.fake_receiver import fake_receiver

    with fake_receiver(tmp_path / "s3.jsonl", "hang") as url:
        store = S3Store(bucket="rf-silent", endpoint_url=url, region="us-east-1", connect_timeout=0.5,
                        read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            store.ensure_bucket()
        assert time.monotonic() - started < 15  # a few retries of half a second, not a hung request


def test_a_non_default_region_creates_its_bucket(s3_endpoint, aws_env):
    store = S3Store(bucket="rf-region-test", endpoint_url=s3_endpoint, region="eu-central-1")
    store.ensure_bucket()
    assert store.client.get_bucket_location(Bucket="rf-region-test")["LocationConstraint"] == "eu-central-1"


# ---- LocalStore ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../outside.png", "a/../../outside.png", "/etc/passwd", "a//b.png", "", ".",
                                 "a/./b.png", "a\\..\\b.png", "a/b\x00.png", "evidence2/../../evidence2/x.png"])
def test_local_store_refuses_keys_escaping_the_folder(tmp_path, key):
    store = LocalStore(tmp_path / "evidence")
    with pytest.raises(ValueError):
        store.put(key, b"data", "image/png")
    with pytest.raises(ValueError):
        store.exists(key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_store_refuses_a_sibling_folder_with_the_same_prefix(tmp_path):
    """'evidence' must not accept a key that resolves into 'evidence-other' (a plain prefix check would)."""
    (tmp_path / "evidence-other").mkdir()
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "link").symlink_to(tmp_path / "evidence-other")
    store = LocalStore(tmp_path / "evidence")
    with pytest.raises(ValueError):
        store.put("link/x.png", b"data", "image/png")
    assert list((tmp_path / "evidence-other").iterdir()) == []


def test_local_store_round_trip_and_missing(tmp_path):
    store = LocalStore(tmp_path / "evidence")
    assert not store.exists("1/AS1/a.png")
    with pytest.raises(ObjectMissing):
        store.get("1/AS1/a.png")
    store.put("1/AS1/a.png", png_1x1(), "image/png")
    assert store.exists("1/AS1/a.png") and store.get("1/AS1/a.png") == png_1x1()
    assert b"".join(store.open("1/AS1/a.png")) == png_1x1()


class _BrokenSource:
    """A file-like upload that fails halfway, like a client that disconnects."""

    def __init__(self, good: bytes) -> None:
        self.good, self.calls = good, 0

    def read(self, _size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return self.good
        raise ConnectionError("client went away")


def test_local_store_writes_atomically(tmp_path):
    store = LocalStore(tmp_path / "evidence")
    store.put("1/AS1/a.png", b"old complete content", "image/png")
    with pytest.raises(ConnectionError):
        store.put("1/AS1/a.png", _BrokenSource(b"new but only half"), "image/png")
    # The reader sees the old object whole, and no temporary file is left behind.
    assert store.get("1/AS1/a.png") == b"old complete content"
    folder = tmp_path / "evidence" / "1" / "AS1"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]

    with pytest.raises(ConnectionError):
        store.put("1/AS1/new.png", _BrokenSource(b"half"), "image/png")
    assert not store.exists("1/AS1/new.png")
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]

    store.put("1/AS1/a.png", b"replaced", "image/png")
    assert store.get("1/AS1/a.png") == b"replaced"
    assert sorted(p.name for p in Path(folder).iterdir()) == ["a.png"]
