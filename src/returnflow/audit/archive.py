"""The archive (归档) of a closed case: one ZIP with a PDF summary in zh-CN and en, the evidence files as uploaded,
the event log with its hash chain, the refunds and the finance vouchers as JSON, and a manifest of SHA-256 sums.
This is the staff archive, internal items included and marked; the customer's copy is pages/customer_copy.py (in the portal's words)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import timezone
from xml.sax.saxutils import escape

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..cases.models import Attachment, CaseEvent, CaseState
from ..cases.service import get_case
from ..cases.views import STATE_LABELS
from ..errors import Explained
from ..i18n import N_
from ..money import fmt
from ..pdf import cjk_font
from ..refunds.models import Compensation, Voucher, VoucherLine
from ..refunds.reports import case_refunds, compensation_dict
from .chain import GENESIS, head
from ..cases.models import EventLink
from ..merchants.clock import zone_of

# The staff archive keeps internal items, marked; the customer's copy (pages/customer_copy.py) leaves them out.
INTERNAL_MARK = {"customer": "", "internal": " [内部 internal]"}


def _json(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)


def build(session: Session, store, *, actor: Actor, number: str) -> bytes:
    """The ZIP archive of a closed case."""
    case = get_case(session, actor=actor, number=number)
    if case.state != CaseState.CLOSED.value:
        raise Explained("state", N_("only a closed case is archived; {number} is {state}"), number=number,
                        state=case.state, code="not_closed", status=409)
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    links = session.scalars(select(EventLink).where(EventLink.case_id == case.id).order_by(EventLink.seq)).all()
    attachments = session.scalars(select(Attachment).where(Attachment.case_id == case.id)
                                  .order_by(Attachment.id)).all()
    refunds = case_refunds(session, case.id)
    vouchers = []
    for v in session.scalars(select(Voucher).where(Voucher.case_id == case.id).order_by(Voucher.id)):
        lines = session.scalars(select(VoucherLine).where(VoucherLine.voucher_id == v.id).order_by(VoucherLine.id))
        vouchers.append({"number": v.number, "period": v.period, "kind": v.kind, "currency": v.currency,
                         "memo": v.memo, "created_at": v.created_at,
                         "lines": [{"account": x.account, "debit": fmt(x.debit, v.currency),
                                    "credit": fmt(x.credit, v.currency)} for x in lines]})
    compensations = [compensation_dict(c) for c in session.scalars(
        select(Compensation).where(Compensation.case_id == case.id).order_by(Compensation.id))]
    event_rows = [{"seq": e.seq, "action": e.action, "from_state": e.from_state, "to_state": e.to_state,
                   "actor": {"kind": e.actor_kind, "role": e.actor_role, "id": e.actor_id, "name": e.actor_name},
                   "payload": e.payload, "at": e.created_at, "visibility": e.visibility} for e in events]
    seal = head(session, case.id)
    files: dict[str, bytes] = {
        "events.json": _json(event_rows),
        "chain.json": _json({"genesis": GENESIS, "head": seal,
                             "links": [{"seq": x.seq, "prev_hash": x.prev_hash, "hash": x.hash} for x in links]}),
        "refunds.json": _json(refunds),
        "vouchers.json": _json(vouchers),
        "compensations.json": _json(compensations),
    }
    for a in attachments:
        files[f"evidence/{a.id}-{a.sha256[:12]}-{os.path.basename(a.filename)}"] = b"".join(store.open(a.storage_key))

    files["summary.pdf"] = summary_pdf(case, event_rows, refunds, vouchers, compensations, attachments, seal,
                                       zone=zone_of(session, case.merchant_id))
    manifest = {"case": case.number, "chain_head": seal,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{case.number}/{name}", data)
        zf.writestr(f"{case.number}/manifest.json", _json(manifest))
    return out.getvalue()


def summary_pdf(case, events, refunds, vouchers, compensations, attachments, seal: str, zone=timezone.utc) -> bytes:
    """A bilingual summary: the case, its lines, money, evidence and timeline (ReportLab, CJK font embedded)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font = cjk_font()
    title_style = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, wordWrap="CJK", spaceAfter=4)
    head_style = ParagraphStyle("head", fontName=font, fontSize=13, leading=18, wordWrap="CJK", spaceBefore=6)
    body_style = ParagraphStyle("body", fontName=font, fontSize=9, leading=12.5, wordWrap="CJK")
    story: list = []

    def heading(zh: str, en: str) -> None:
        story.append(Paragraph(escape(f"{zh} / {en}"), head_style))

    def row(zh: str, en: str, value) -> None:
        story.append(Paragraph(escape(f"{zh} {en}: {value}"), body_style))

    story.append(Paragraph(escape(f"售后单归档 Case archive  {case.number}"), title_style))
    label = STATE_LABELS.get(case.state, {"zh-CN": case.state, "en": case.state})
    row("订单", "Order", case.order_number)
    row("类型", "Type", case.type)
    row("状态", "State", f"{label['zh-CN']} / {label['en']} ({case.outcome or '-'})")
    row("原因", "Reason", case.reason_code or "-")
    row("顾客", "Customer", (case.customer or {}).get("name") or "-")
    row("描述", "Description", case.description or "-")
    def local(moment) -> str:  # times as the shop's pages show them, in the merchant's zone
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"

    row("创建 / 结案", "Opened / closed", f"{local(case.created_at)} / {local(case.closed_at)}" if case.closed_at
        else local(case.created_at))
    row("时区", "Time zone", str(zone))
    heading("商品行", "Lines")
    for line in case.lines:
        row(f"#{line.line_no}", line.sku, f"{line.title} × {line.quantity}; 收货 received {line.received_quantity}, "
            f"验收 accepted {line.accepted_quantity}")
    heading("退款", "Refunds")
    if not refunds:
        row("无", "None", "-")
    for r in refunds:
        row(r["number"], r["state"], f"{r['amount']} {r['currency']} (商品 goods {r['goods']}, 运费 shipping "
            f"{r['shipping']}, 扣款 deducted {r['deducted']}); 方式 route {r['route']}")
        for leg in r["payments"]:
            row("  ·", leg["method"], f"{leg['amount']} → {leg['destination']} {leg['gateway'] or ''} "
                f"[{leg['state']}] {leg['reference'] or leg['provider_ref'] or ''}")
    if compensations:
        heading("补偿", "Compensation")
        for c in compensations:
            row(c["kind"], c["code"] or "", f"{c['amount']} {c['currency']} [{c['state']}]: {c['reason']}")
    heading("财务凭证", "Vouchers")
    for v in vouchers:
        row(v["number"], v["kind"], "; ".join(f"{x['account']} 借Dr {x['debit']} 贷Cr {x['credit']}"
                                              for x in v["lines"]))
    heading("凭证文件", "Evidence")
    for a in attachments:
        row(a.kind, a.filename, f"{a.size} bytes, SHA-256 {a.sha256}{INTERNAL_MARK[a.visibility]}")
    heading("处理记录", "Timeline")
    for e in events:
        row(f"{e['seq']}.", local(e["at"]), f"{e['action']} {e['from_state'] or '-'} → {e['to_state']} "
            f"({e['actor']['role']} {e['actor']['name'] or e['actor']['id'] or ''}){INTERNAL_MARK[e['visibility']]}")
    heading("防篡改", "Tamper evidence")
    row("事件链末端哈希", "Event chain head (SHA-256)", seal)
    story.append(Spacer(1, 2 * mm))
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=case.number, creator="returnflow", invariant=True)
    doc.build(story)
    return out.getvalue()
