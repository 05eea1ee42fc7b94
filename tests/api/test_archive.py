"""A closed case exports as one archive: a bilingual PDF summary with an embedded Chinese font, the evidence as
uploaded, events with their hash chain, refunds and vouchers as JSON, and a manifest that matches every file."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pypdfium2 as pdfium

from tests.api.test_evidence import png_1x1
from tests.support.flows import run
from tests.support.money import paid_order, refund_only_case
from tests.support.world import make_shop


def test_a_closed_case_archives_whole_and_an_open_one_is_refused(client, db):
    shop = make_shop(db)
    paid_order(db, shop, payments=(("alipay", None), ("points", "5.00")))
    case = refund_only_case(db, shop, "M-1", line_no=2)
    photo = png_1x1()
    up = client.post(f"/api/v1/cases/{case}/attachments", headers=shop.headers(),
                     files={"file": ("破损.png", photo, "image/png")})
    assert up.status_code == 201, up.text
    early = client.get(f"/api/v1/cases/{case}/archive", headers=shop.headers())
    assert early.status_code == 409 and early.json()["error"]["field"] == "state"
    refund = client.post(f"/api/v1/cases/{case}/refunds", headers=shop.headers(), json={}).json()
    leg = next(p for p in refund["payments"] if p["gateway"] == "manual")
    client.post(f"/api/v1/refund-payments/{leg['number']}/mark-paid", headers=shop.headers("finance"),
                json={"reference": "BANK-7"})
    run(db, case, "close", shop.actors["agent"])

    r = client.get(f"/api/v1/cases/{case}/archive", headers=shop.headers("finance"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(zf.namelist())
    assert {f"{case}/{n}" for n in ("summary.pdf", "events.json", "chain.json", "refunds.json", "vouchers.json",
                                    "manifest.json")} <= names
    manifest = json.loads(zf.read(f"{case}/manifest.json"))
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(zf.read(f"{case}/{name}")).hexdigest() == digest, name
    evidence = [n for n in names if "/evidence/" in n]
    assert len(evidence) == 1 and evidence[0].endswith("破损.png") and zf.read(evidence[0]) == photo
    events = json.loads(zf.read(f"{case}/events.json"))
    assert [e["action"] for e in events] == ["open", "approve", "attach", "resolve", "close"]
    chain = json.loads(zf.read(f"{case}/chain.json"))
    assert [x["seq"] for x in chain["links"]] == [1, 2, 3, 4, 5] and chain["head"] == chain["links"][-1]["hash"]
    assert manifest["chain_head"] == chain["head"]
    vouchers = json.loads(zf.read(f"{case}/vouchers.json"))
    assert [v["kind"] for v in vouchers] == ["refund_decision", "refund_settlement", "refund_settlement"]
    pdf = zf.read(f"{case}/summary.pdf")
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # the Chinese font is embedded, not referenced
    document = pdfium.PdfDocument(pdf)
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document))).replace("\r", "")
    assert f"售后单归档 Case archive {case}" in text and "防篡改 / Tamper evidence" in text
    assert chain["head"] in text.replace("\n", "")  # the seal is printed in full, wrapped or not
    # Times in the merchant's zone (Asia/Shanghai unless its SLA settings say otherwise), as on its pages.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    opened = datetime.fromisoformat(events[0]["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{opened:%Y-%m-%d %H:%M}" in text and "Asia/Shanghai" in text
    document.close()
    assert client.get(f"/api/v1/cases/{case}/archive", headers=shop.headers("warehouse")).status_code == 403
