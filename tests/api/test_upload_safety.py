"""Uploads made safe to show (both databases): clean names, decompression bombs refused before anything is stored,
location data stripped from what people see while the original keeps its hash, HEIC photos with a JPEG preview."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from tests.support.asgi import TestClient
from tests.api.test_evidence import attachment_count, case_detail, open_case, png_1x1, stored_files, upload
from tests.support.portal import count, csrf_of, recent_order, sign_in_customer, sign_in_staff
from tests.support.world import make_order, make_shop

EN = {"Accept-Language": "en"}
GPS_IFD = 0x8825


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A valid-looking PNG of well under 1 KB whose header declares width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 512)) + chunk(b"IEND", b""))


def located_photo(fmt: str = "JPEG") -> bytes:
    """A 40×30 photo taken in Beijing (EXIF GPS), camera maker set, turned on its side (orientation 6)."""
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera Maker"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (39.0, 54.0, 15.0), 3: "E", 4: (116.0, 23.0, 30.0)})
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, fmt, exif=exif)
    return out.getvalue()


def no_location(data: bytes) -> Image.Image:
    """The image in `data`, after checking that it carries no GPS data, no EXIF at all and no XMP."""
    image = Image.open(io.BytesIO(data))
    assert not image.getexif().get_ifd(GPS_IFD)
    assert not image.info.get("exif") and not image.info.get("xmp")
    assert b"Camera Maker" not in data
    return image


@pytest.fixture
def world(client, db):
    shop = make_shop(db)
    make_order(db, shop)
    return shop, open_case(client, shop)


def test_a_right_to_left_override_and_path_parts_are_taken_out_of_the_name(client, db, world):
    shop, case = world
    r = upload(client, shop, case["number"], "photo\u202egpj.exe", png_1x1())
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "photogpj.exe"
    # Written by hand: an HTTP library would percent-encode the control characters a hostile client sends raw.
    name = "..\\..\\etc/\x00\x1b\u2066pass\u200bwd\u2069\x7f.png"
    raw = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n'
           b"Content-Type: image/png\r\n\r\n" + png_1x1() + b"\r\n--B--\r\n")
    named = client.post(f"/api/v1/cases/{case['number']}/attachments", content=raw,
                        headers=shop.headers(**{"Content-Type": "multipart/form-data; boundary=B"}))
    assert named.status_code == 201, named.text
    assert named.json()["filename"] == "passwd.png"
    long = upload(client, shop, case["number"], "x" * 500 + ".png", png_1x1()).json()["filename"]
    assert len(long) == 200 and long.endswith(".png")
    detail = case_detail(client, shop, case["number"])
    assert [a["filename"] for a in detail["attachments"]][:2] == ["photogpj.exe", "passwd.png"]
    assert detail["timeline"][-3]["payload"]["filename"] == "photogpj.exe"
    # The console shows the cleaned name: no override character reaches the page.
    web = TestClient(client.app, headers=EN)
    sign_in_staff(web, "agent@shop.test", "pw-agent")
    page = web.get(f"/staff/cases/{case['number']}").text
    assert "photogpj.exe" in page and "\u202e" not in page and "\u2066" not in page


def test_a_png_declaring_60000_by_60000_pixels_is_refused_and_nothing_is_stored(client, db, settings, world):
    shop, case = world
    data = bomb_png()
    assert len(data) < 1024
    zh = upload(client, shop, case["number"], "bomb.png", data)
    assert zh.status_code == 422, zh.text
    error = zh.json()["error"]
    assert (error["code"], error["field"]) == ("image_too_many_pixels", "file")
    assert "60000×60000" in error["message"] and "上限为 50000000 像素" in error["message"]
    en = upload(client, shop, case["number"], "bomb.png", data, **EN).json()["error"]["message"]
    assert "'bomb.png' has 60000×60000 pixels; the limit is 50000000 pixels" in en
    assert attachment_count(db) == 0 and stored_files(settings) == []
    # Just under the limit (and a real image) passes: the limit is the setting, not a guess.
    assert upload(client, shop, case["number"], "fine.png", png_1x1()).status_code == 201


def test_the_pixel_limit_is_a_setting_and_an_unreadable_header_is_refused(client, db, settings, world):
    shop, case = world
    settings.max_image_pixels = 40 * 30 - 1
    r = upload(client, shop, case["number"], "photo.jpg", located_photo(), **EN)
    assert r.status_code == 422 and "40×30 pixels; the limit is 1199 pixels" in r.json()["error"]["message"]
    broken = png_1x1()[:16] + b"\x00" * 40  # the PNG signature, then no header to read
    r = upload(client, shop, case["number"], "broken.png", broken, **EN)
    assert r.status_code == 422 and r.json()["error"]["code"] == "image_unreadable"
    assert attachment_count(db) == 0 and stored_files(settings) == []


def test_a_photo_with_gps_is_shown_without_it_and_the_original_keeps_its_hash(app, client, db, settings, world):
    shop, case = world
    data = located_photo()
    r = upload(client, shop, case["number"], "street.jpg", data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == sha(data) and body["size"] == len(data)
    url = f"/api/v1/cases/{case['number']}/attachments/{body['id']}"

    shown = client.get(url, headers=shop.headers())
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert no_location(shown.content).size == (30, 40)  # turned upright, as the orientation said
    assert shown.headers["x-checksum-sha256"] == sha(shown.content) != sha(data)
    assert shown.headers["x-original-sha256"] == sha(data)

    original = client.get(url, headers=shop.headers(), params={"original": "true"})
    assert original.content == data and original.headers["x-checksum-sha256"] == sha(data)
    assert original.headers["content-disposition"].startswith("attachment")
    # The stored evidence is the upload, byte for byte, under its own hash.
    originals = [p for p in stored_files(settings) if ".view." not in p.name]
    assert [p.name for p in originals] == [f"{sha(data)}.jpg"] and sha(originals[0].read_bytes()) == sha(data)

    # The console shows the stripped copy and links the original for staff.
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@shop.test", "pw-agent")
    page = staff.get(f"/staff/cases/{case['number']}").text
    assert f"/staff/cases/{case['number']}/files/{body['id']}/original" in page and "original file" in page
    no_location(staff.get(f"/staff/cases/{case['number']}/files/{body['id']}").content)
    assert staff.get(f"/staff/cases/{case['number']}/files/{body['id']}/original").content == data


def test_the_customer_sees_the_stripped_copy_and_never_the_original(app, client, db):
    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    data = located_photo()
    web = TestClient(app, headers=EN)
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")
    number = client.post("/api/v1/cases", headers=shop.headers("agent"), json={
        "order": "O-100", "type": "return_refund", "channel": "portal", "reason": "wrong_size",
        "lines": [{"line_no": 1, "quantity": 1}]}).json()["number"]
    sent = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "where it broke"},
                    files=[("files", ("IMG_\u202egnp.jpg", data, "image/jpeg"))])
    assert sent.status_code == 200, sent.text
    assert "IMG_gnp.jpg" in sent.text and "\u202e" not in sent.text
    attachment_id = case_detail(client, shop, number)["attachments"][0]["id"]
    no_location(web.get(f"/p/shop/cases/{number}/files/{attachment_id}").content)
    # The original's address is a staff page: the customer's session does not open it.
    refused = web.get(f"/staff/cases/{number}/files/{attachment_id}/original", follow_redirects=False)
    assert refused.status_code in (302, 303, 401, 403) and refused.content != data
    # A bomb sent with a message is refused on the page, in the customer's words, and nothing is kept.
    before = (count(db, "attachments"), count(db, "case_messages"))
    bomb = web.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "big one"},
                    files=[("files", ("huge.png", bomb_png(), "image/png"))])
    assert bomb.status_code == 422 and "huge.png has too many pixels: at most 50 megapixels." in bomb.text
    zh = TestClient(app, headers={"Accept-Language": "zh-CN"}, cookies=web.cookies)
    bomb = zh.post(f"/p/shop/cases/{number}/messages", data={"csrf": csrf_of(web), "body": "big one"},
                   files=[("files", ("huge.png", bomb_png(), "image/png"))])
    assert bomb.status_code == 422 and "huge.png 像素过多：最多 50 百万像素。" in bomb.text
    assert (count(db, "attachments"), count(db, "case_messages")) == before


def test_a_heic_photo_gets_a_jpeg_preview_staff_can_see(app, client, db, settings, world):
    shop, case = world
    data = located_photo("HEIF")
    r = upload(client, shop, case["number"], "IMG_0042.HEIC", data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["content_type"], body["sha256"]) == ("image/heic", sha(data))
    url = f"/api/v1/cases/{case['number']}/attachments/{body['id']}"
    preview = client.get(url, headers=shop.headers())
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:2] == b"\xff\xd8"
    assert no_location(preview.content).format == "JPEG"
    assert client.get(url, headers=shop.headers(), params={"original": "true"}).content == data
    staff = TestClient(app, headers=EN)
    sign_in_staff(staff, "agent@shop.test", "pw-agent")
    shown = staff.get(f"/staff/cases/{case['number']}/files/{body['id']}")
    assert shown.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(shown.content)).size[0] > 0


def test_parcel_photos_at_the_desk_are_stripped_refused_when_bombs_and_keep_both_after_matching(client, db):
    from tests.support.returns import case_awaiting_return, shop_with_warehouse

    shop = shop_with_warehouse(db, client)
    case = case_awaiting_return(client, shop, db)
    r = client.post("/api/v1/receiving/parcels", headers=shop.headers("warehouse", **EN),
                    json={"code": "YT9999999999999", "condition": "crushed", "note": "no label"})
    url = f"/api/v1/receiving/exceptions/{r.json()['receipt']['id']}/photos"
    bomb = client.post(url, headers=shop.headers("warehouse"), files={"file": ("b.png", bomb_png(), "image/png")})
    assert bomb.status_code == 422 and bomb.json()["error"]["code"] == "image_too_many_pixels"
    assert count(db, "receipt_photos") == 0
    data = located_photo()
    up = client.post(url, headers=shop.headers("warehouse"), files={"file": ("box\u202e.jpg", data, "image/jpeg")})
    assert up.status_code == 201 and up.json()["filename"] == "box.jpg" and up.json()["sha256"] == sha(data)
    no_location(client.get(f"{url}/{up.json()['id']}", headers=shop.headers("agent")).content)
    matched = client.post(url.rsplit("/", 1)[0] + "/match", headers=shop.headers("warehouse"),
                          json={"case": case["number"]})
    assert matched.status_code == 200, matched.text
    attachment_id = matched.json()["receipt"]["photos"][0]
    case_url = f"/api/v1/cases/{case['number']}/attachments/{attachment_id}"
    no_location(client.get(case_url, headers=shop.headers()).content)
    assert client.get(case_url, headers=shop.headers(), params={"original": "true"}).content == data


def test_a_portal_request_refuses_a_bomb_and_shows_its_photo_without_location(app, client, db):
    import re

    shop = make_shop(db, "shop")
    recent_order(db, shop.id, "O-100", customer="C-1", email="buyer@example.com")
    web = TestClient(app, headers={"Accept-Language": "zh-CN"})
    sign_in_customer(web, db, "shop", "O-100", "buyer@example.com")

    def open_return(name, data):
        return web.post("/p/shop/orders/O-100/return", follow_redirects=False, files=[("photos", (name, data, "x"))],
                        data={"csrf": csrf_of(web), "type": "return_refund", "reason": "wrong_size", "qty_1": "1",
                              "description": "偏小", "desired_outcome": "refund"})

    bomb = open_return("huge.png", bomb_png())
    assert bomb.status_code == 422 and "“huge.png”的图片尺寸过大，请上传小一些的照片。" in bomb.text  # in the shopper's words
    assert count(db, "cases") == 0 and count(db, "attachments") == 0
    data = located_photo()
    done = open_return("\u202eside.jpg", data)
    assert done.status_code == 303, done.text
    number = re.search(r"/cases/(AS\d+)", done.headers["location"]).group(1)
    attachment = case_detail(client, shop, number)["attachments"][0]
    assert (attachment["filename"], attachment["sha256"]) == ("side.jpg", sha(data))
    no_location(web.get(f"/p/shop/cases/{number}/files/{attachment['id']}").content)
