"""Evidence uploads through the API (both databases): type by content, size caps, checksums, tenancy, workflow."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from sqlalchemy import func, select

from returnflow.cases.models import Attachment
from tests.support.world import make_order, make_shop

# ---- real (tiny) files, written by hand ---------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_1x1() -> bytes:
    """A baseline JPEG, 1x1 grey: one 8x8 block whose DC difference and AC run are both 'nothing'."""
    one_code = bytes([1] + [0] * 15)  # Huffman table with a single 1-bit code
    return (b"\xff\xd8"
            + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + _segment(0xDB, b"\x00" + b"\x01" * 64)                                   # quantisation table 0
            + _segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00")          # 1x1, one component
            + _segment(0xC4, b"\x00" + one_code + b"\x00" + b"\x10" + one_code + b"\x00")  # DC 0 and AC 0 tables
            + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")                                 # scan header
            + b"\x3f"                                                                      # DC=0, EOB, padding
            + b"\xff\xd9")


def png_1x1(rgb: bytes = b"\xff\x80\x00") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" + rgb)) + chunk(b"IEND", b""))


def _box(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", 8 + len(data)) + kind + data


def iso_media(major: bytes, compatible: list[bytes], payload: bytes = b"\x00" * 32) -> bytes:
    """An ISO base media file (MP4/MOV/HEIC family): the ftyp box, then a media data box."""
    return _box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible)) + _box(b"mdat", payload)


def mp4() -> bytes:
    return iso_media(b"isom", [b"isom", b"iso2", b"avc1", b"mp41"])


def webm() -> bytes:
    """An EBML header (version 1, DocType "webm"), then the start of a Segment."""
    fields = bytes.fromhex("4286810142F7810142F2810442F381084282847765626D4287810242858102")
    return bytes.fromhex("1A45DFA3") + bytes([0x80 | len(fields)]) + fields + bytes.fromhex("18538067") + b"\x00" * 16


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode"


# ---- helpers --------------------------------------------------------------------------------------------------


def open_case(client, shop, order="O-1"):
    r = client.post("/api/v1/cases", headers=shop.headers(), json={
        "order": order, "type": "return_refund", "channel": "portal", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]})
    assert r.status_code == 201, r.text
    return r.json()


def upload(client, shop, number, name, data, role="agent", **headers):
    return client.post(f"/api/v1/cases/{number}/attachments", headers=shop.headers(role, **headers),
                       files={"file": (name, data, "application/octet-stream")})


def attachment_count(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Attachment))


def stored_files(settings) -> list:
    root = settings.data_dir / "evidence"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def case_detail(client, shop, number):
    r = client.get(f"/api/v1/cases/{number}", headers=shop.headers())
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def world(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    return shop, open_case(client, shop)


# ---- accepted files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, kind, content_type, ext", [
    ("receipt.jpg", jpeg_1x1(), "image", "image/jpeg", "jpg"),
    ("scratch.png", png_1x1(), "image", "image/png", "png"),
    ("unboxing.mp4", mp4(), "video", "video/mp4", "mp4"),
    ("IMG_0001.HEIC", iso_media(b"heic", [b"mif1", b"heic"]), "image", "image/heic", "heic"),
    ("IMG_0002.MOV", iso_media(b"qt  ", [b"qt  "]), "video", "video/quicktime", "mov"),
    ("clip.webm", webm(), "video", "video/webm", "webm"),
    ("no-extension", png_1x1(), "image", "image/png", "png"),
])
def test_upload_and_download_round_trip(client, db, settings, world, name, data, kind, content_type, ext):
    shop, case = world
    r = upload(client, shop, case["number"], name, data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["content_type"], body["size"], body["filename"]) == (kind, content_type, len(data), name)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()

    got = client.get(f"/api/v1/cases/{case['number']}/attachments/{body['id']}", headers=shop.headers())
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
    assert got.headers["content-type"].split(";")[0] == content_type
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["x-content-type-options"] == "nosniff"

    # On disk under <merchant>/<case>/<sha256>.<ext>, named by content, not by the uploaded name.
    files = stored_files(settings)
    assert [p.relative_to(settings.data_dir / "evidence").as_posix() for p in files] == [
        f"{shop.id}/{case['number']}/{body['sha256']}.{ext}"]
    assert files[0].read_bytes() == data

    detail = case_detail(client, shop, case["number"])
    assert [a["id"] for a in detail["attachments"]] == [body["id"]]
    event = detail["timeline"][-1]
    assert event["action"] == "attach"
    assert event["payload"] == {"attachment_id": body["id"], "filename": name, "kind": kind,
                                "sha256": body["sha256"], "size": len(data)}
    assert detail["version"] == case["version"] + 1
    assert detail["state"] == case["state"]  # evidence does not move the case


def test_the_same_file_twice_is_two_attachments_and_one_object(client, db, settings, world):
    shop, case = world
    first = upload(client, shop, case["number"], "a.png", png_1x1())
    second = upload(client, shop, case["number"], "again.png", png_1x1())
    assert first.status_code == second.status_code == 201
    assert first.json()["sha256"] == second.json()["sha256"] and first.json()["id"] != second.json()["id"]
    assert attachment_count(db) == 2
    assert len(stored_files(settings)) == 1
    for a in (first.json(), second.json()):
        got = client.get(f"/api/v1/cases/{case['number']}/attachments/{a['id']}", headers=shop.headers())
        assert got.content == png_1x1()


# ---- refused files --------------------------------------------------------------------------------------------


def test_a_windows_program_named_photo_jpg_is_refused_and_nothing_is_stored(client, db, settings, world):
    shop, case = world
    r = upload(client, shop, case["number"], "photo.jpg", EXE, **{"Accept-Language": "en"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "file_type" and err["field"] == "file"
    assert "photo.jpg" in err["message"] and "application/x-msdownload" in err["message"]
    assert "image/jpeg" in err["allowed"]
    assert attachment_count(db) == 0
    assert stored_files(settings) == []
    detail = case_detail(client, shop, case["number"])
    assert detail["version"] == case["version"]
    assert [e["action"] for e in detail["timeline"]] == ["open"]


def test_type_errors_in_chinese_by_default(client, world):
    shop, case = world
    r = upload(client, shop, case["number"], "photo.jpg", EXE)
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("file：「photo.jpg」的实际类型为 application/x-msdownload")


def test_a_text_file_renamed_mp4_is_refused(client, db, world):
    shop, case = world
    r = upload(client, shop, case["number"], "video.mp4", b"this is not a video\n" * 50, **{"Accept-Language": "en"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "file_type"
    assert "'video.mp4' is unknown" in r.json()["error"]["message"]
    assert attachment_count(db) == 0


def test_an_empty_file_is_refused(client, db, settings, world):
    shop, case = world
    r = upload(client, shop, case["number"], "empty.jpg", b"", **{"Accept-Language": "en"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert (err["code"], err["field"], err["message"]) == ("file_empty", "file", "file: 'empty.jpg' is empty")
    zh = upload(client, shop, case["number"], "empty.jpg", b"", **{"Accept-Language": "zh-CN"})
    assert zh.json()["error"]["message"] == "file：「empty.jpg」是空文件"
    assert attachment_count(db) == 0 and stored_files(settings) == []


def test_a_request_without_a_file_field_names_the_field(client, world):
    shop, case = world
    r = client.post(f"/api/v1/cases/{case['number']}/attachments", headers=shop.headers(**{"Accept-Language": "en"}),
                    files={"photo": ("a.png", png_1x1(), "image/png")})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "file" and r.json()["error"]["code"] == "required"
    r = client.post(f"/api/v1/cases/{case['number']}/attachments", headers=shop.headers(**{"Accept-Language": "en"}),
                    content=png_1x1())
    assert r.status_code == 422 and "multipart/form-data" in r.json()["error"]["message"]


@pytest.fixture
def small_limits(settings):
    settings.max_image_bytes = 2000
    settings.max_video_bytes = 300_000
    return settings


def test_an_oversized_image_is_refused_with_the_limit(small_limits, client, db, world):
    shop, case = world
    big = png_1x1() + b"\x00" * 2500  # a PNG followed by junk: the type is right, the size is not
    r = upload(client, shop, case["number"], "huge.png", big, **{"Accept-Language": "en"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "file_too_large" and err["field"] == "file"
    assert "2000 bytes" in err["message"] and "images" in err["message"]
    assert "RETURNFLOW_MAX_IMAGE_BYTES" in err["message"]
    assert str(len(big)) in err["message"]  # small enough to arrive in one piece: the exact size is named
    zh = upload(client, shop, case["number"], "huge.png", big, **{"Accept-Language": "zh-CN"})
    assert "图片的上限为 2000 字节" in zh.json()["error"]["message"]
    assert attachment_count(db) == 0

    # The video limit is separate: the same size as a video is fine.
    video = iso_media(b"isom", [b"isom"], b"\x00" * 2500)
    assert upload(client, shop, case["number"], "ok.mp4", video).status_code == 201


def test_a_large_upload_is_refused_while_it_arrives(small_limits, client, db, settings, world):
    """A file sent in pieces is refused with the limit and the bytes seen (the test client delivers the body in
    one piece; a real server hands it over in chunks, see the next test)."""
    shop, case = world

    def body():
        boundary = b"----evidence"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="long.mp4"\r\n\r\n'
        yield mp4()
        for _ in range(8):
            yield b"\x00" * 65536
        yield b"\r\n--" + boundary + b"--\r\n"

    r = client.post(f"/api/v1/cases/{case['number']}/attachments",
                    headers=shop.headers(**{"Accept-Language": "en",
                                            "Content-Type": "multipart/form-data; boundary=----evidence"}),
                    content=body())
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "'long.mp4' is larger than the limit for videos of 300000 bytes (RETURNFLOW_MAX_VIDEO_BYTES)" in message
    seen = int(message.rsplit("after ", 1)[1].split(" ")[0])
    assert 300_000 < seen <= len(mp4()) + 8 * 65536
    assert attachment_count(db) == 0 and stored_files(settings) == []


def test_the_receiver_stops_at_the_limit_without_reading_the_rest(small_limits):
    """Fed chunk by chunk (as a server delivers a request), the check refuses on the chunk that crosses the
    limit: the rest of the stream is never consumed."""
    from returnflow.cases.evidence import Receiver
    from returnflow.errors import InvalidInput

    consumed = []

    def stream():
        yield png_1x1()
        for i in range(1000):  # would be 64 MB if read to the end
            consumed.append(i)
            yield b"\x00" * 65536

    receiver = Receiver("big.png", small_limits)
    with pytest.raises(InvalidInput) as refused:
        for chunk in stream():
            receiver.write(chunk)
    assert len(consumed) == 1  # the first junk chunk crossed the 2000-byte image limit
    assert refused.value.key == "file_too_large"
    en = refused.value.render("en")["message"]
    assert f"refused after {len(png_1x1()) + 65536} bytes" in en and "2000 bytes" in en
    assert "图片的上限 2000 字节" in refused.value.render("zh-CN")["message"]
    assert receiver.spool.closed


# ---- who may attach, and when ---------------------------------------------------------------------------------


def test_another_merchant_can_neither_upload_nor_download(client, db, settings, world):
    shop, case = world
    mine = upload(client, shop, case["number"], "a.png", png_1x1())
    assert mine.status_code == 201
    other = make_shop(db, "other")
    r = upload(client, other, case["number"], "b.png", png_1x1(b"\x00\x00\x00"))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"
    r = client.get(f"/api/v1/cases/{case['number']}/attachments/{mine.json()['id']}", headers=other.headers())
    assert r.status_code == 404
    assert attachment_count(db) == 1 and len(stored_files(settings)) == 1


def test_an_attachment_is_only_reachable_through_its_own_case(client, db, world):
    shop, case = world
    make_order(db, shop, "O-2")
    second = open_case(client, shop, "O-2")
    a = upload(client, shop, case["number"], "a.png", png_1x1()).json()
    r = client.get(f"/api/v1/cases/{second['number']}/attachments/{a['id']}", headers=shop.headers())
    assert r.status_code == 404 and r.json()["error"]["field"] == "attachment_id"


def test_without_a_token_nothing_is_read_or_stored(client, db, settings, world):
    _shop, case = world
    r = client.post(f"/api/v1/cases/{case['number']}/attachments", files={"file": ("a.png", png_1x1(), "image/png")})
    assert r.status_code == 401
    assert attachment_count(db) == 0 and stored_files(settings) == []


@pytest.mark.parametrize("how", ["cancel", "close"])
def test_a_finished_case_takes_no_new_evidence(client, db, settings, world, how):
    shop, case = world
    steps = [("cancel", "agent", {"reason": "changed mind"})] if how == "cancel" else [
        ("reject", "agent", {"reason": "outside the return window"}), ("close", "agent", {})]
    for action, role, payload in steps:
        r = client.post(f"/api/v1/cases/{case['number']}/actions/{action}", headers=shop.headers(role),
                        json={"version": case["version"], "payload": payload})
        assert r.status_code == 200, r.text
        case = r.json()
    assert case["state"] in ("cancelled", "closed")
    r = upload(client, shop, case["number"], "late.png", png_1x1(), **{"Accept-Language": "en"})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "illegal_transition" and "'attach'" in err["message"] and case["state"] in err["message"]
    assert attachment_count(db) == 0
    assert stored_files(settings) == []  # the workflow refused before anything was written
    assert case_detail(client, shop, case["number"])["version"] == case["version"]


def test_an_idempotent_retry_returns_the_first_result_and_stores_once(client, db, settings, world):
    shop, case = world
    first = upload(client, shop, case["number"], "a.jpg", jpeg_1x1(), **{"Idempotency-Key": "upload-1"})
    again = upload(client, shop, case["number"], "a.jpg", jpeg_1x1(), **{"Idempotency-Key": "upload-1"})
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert attachment_count(db) == 1 and len(stored_files(settings)) == 1
    detail = case_detail(client, shop, case["number"])
    assert [e["action"] for e in detail["timeline"]] == ["open", "attach"]

    # The same key with a different file is a different request.
    other = upload(client, shop, case["number"], "b.png", png_1x1(), **{"Idempotency-Key": "upload-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_mismatch"
    assert attachment_count(db) == 1


def test_a_retry_after_a_lost_commit_finds_the_object_in_place(client, db, settings, world):
    """The object is written before the commit; if the commit never happens, the retry re-uses the same key."""
    shop, case = world
    from returnflow.cases.evidence import from_bytes, storage_key
    from returnflow.cases.models import Case

    upload_ = from_bytes("a.png", png_1x1(), settings)
    with db.read() as session:
        loaded = session.scalar(select(Case).where(Case.number == case["number"]))
        key = storage_key(loaded, upload_)
    client.app.state.store.put(key, png_1x1(), "image/png")  # what a first attempt whose commit failed leaves
    r = upload(client, shop, case["number"], "a.png", png_1x1())
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/cases/{case['number']}/attachments/{r.json()['id']}", headers=shop.headers())
    assert got.content == png_1x1()
    assert len(stored_files(settings)) == 1 and attachment_count(db) == 1
