"""The customer's copy of a closed case's archive: only what the customer may see (cases/visibility.py).

The staff archive (audit/archive.py) keeps everything, internal items marked. The customer's copy is built from the
customer-visible rows alone: the timeline in the portal's words (never raw event payloads, which carry staff
detail such as inspection notes), the messages, the files as the portal shows them (location data stripped), the
refunds paid, a PDF summary in zh-CN and en, and a manifest of SHA-256 sums. No vouchers, no hash chain (it covers
internal events too), no staff names.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from xml.sax.saxutils import escape

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases import handoffs, reasons as reason_taxonomy
from ..cases.messages import messages_of
from ..cases.models import Attachment, CaseEvent, CaseState
from ..cases.service import get_case
from ..cases.views import STATE_LABELS
from ..cases.visibility import CUSTOMER
from ..errors import Explained
from ..i18n import N_, gettext
from ..labels import reason_label
from ..pdf import cjk_font
from . import follow
from .frame import when

LOCALES = ("zh-CN", "en")


def _json(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)


def build(session: Session, store, *, actor: Actor, number: str) -> bytes:
    """The customer's ZIP copy of a closed case (the actor: the customer, or staff preparing it for them)."""
    case = get_case(session, actor=actor, number=number)
    if case.state != CaseState.CLOSED.value:
        raise Explained("state", N_("a copy is made once the request is closed; {number} is not closed yet"),
                        number=number, code="not_closed", status=409)
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                          CaseEvent.visibility == CUSTOMER)
                                  .order_by(CaseEvent.seq)))
    shared = handoffs.of_case(session, case.id, customer=True)
    refunds = follow.refunds_paid(session, case.id)
    taxonomy = reason_taxonomy.for_merchant(session, case.merchant_id)
    steps = {}
    for locale in LOCALES:
        names = {r.code: reason_label(r, locale) for r in taxonomy}
        steps[locale] = follow.customer_steps(events, refunds, locale, names, shared)
    timeline = [{"at": zh["at"], "zh-CN": zh["text"], "en": en["text"],
                 "details": [{"zh-CN": gettext(LOCALES[0], label), "en": label, "value": value}
                             for label, value in en["details"]]}
                for zh, en in zip(steps["zh-CN"], steps["en"])]
    messages = [{"at": m.created_at, "from": "customer" if m.author_kind == "customer" else "shop", "body": m.body,
                 "files": m.attachment_ids} for m in messages_of(session, case.id, customer=True)]
    attachments = list(session.scalars(select(Attachment).where(Attachment.case_id == case.id,
                                                                Attachment.visibility == CUSTOMER)
                                       .order_by(Attachment.id)))
    paid = [{"number": r["number"], "amount": r["amount"], "currency": r["currency"], "route": r["route"],
             "at": r["at"]} for r in refunds]
    files: dict[str, bytes] = {"timeline.json": _json(timeline), "messages.json": _json(messages),
                               "refunds.json": _json(paid)}
    for a in attachments:
        # The copy the portal shows (location data taken out), never the staff-only original.
        key = a.view_key or a.storage_key
        files[f"files/{a.id}-{os.path.basename(a.filename)}"] = b"".join(store.open(key))
    files["summary.pdf"] = _summary(case, timeline, paid, attachments, lambda at: when(at, "zh-CN"))
    manifest = {"case": case.number, "copy": "customer",
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{case.number}/{name}", data)
        zf.writestr(f"{case.number}/manifest.json", _json(manifest))
    return out.getvalue()


def _summary(case, timeline, paid, attachments, when) -> bytes:
    from reportlab.lib.pagesizes import A4  # loaded when a PDF is made (see logistics/labels.py)
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    """The bilingual summary of the customer's copy (ReportLab, CJK font embedded)."""
    font = cjk_font()
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, wordWrap="CJK", spaceAfter=4)
    head = ParagraphStyle("head", fontName=font, fontSize=13, leading=18, wordWrap="CJK", spaceBefore=6)
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12.5, wordWrap="CJK")
    story = [Paragraph(escape(f"售后单副本 Your request  {case.number}"), title)]

    def line(text: str, style=body) -> None:
        story.append(Paragraph(escape(text), style))

    label = STATE_LABELS.get(case.state, {"zh-CN": case.state, "en": case.state})
    line(f"订单 Order: {case.order_number}")
    line(f"状态 State: {label['zh-CN']} / {label['en']}")
    line("商品 Items", head)
    for item in case.lines:
        line(f"{item.title or item.sku} × {item.quantity}")
    line("退款 Refunds", head)
    for r in paid or [{"amount": "-", "currency": "", "at": None}]:
        line(f"{r['amount']} {r['currency']} {when(r['at']) if r['at'] else ''}".strip())
    line("文件 Files", head)
    for a in attachments:
        line(a.filename)
    line("处理记录 What happened", head)
    for step in timeline:
        line(f"{when(step['at'])}  {step['zh-CN']} / {step['en']}")
        for detail in step["details"]:
            line(f"    {detail['zh-CN']} {detail['en']}: {detail['value']}")
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                      bottomMargin=15 * mm, title=case.number, creator="returnflow", invariant=True).build(story)
    return out.getvalue()
