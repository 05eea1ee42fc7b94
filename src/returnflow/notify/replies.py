"""话术: agent reply templates in zh-CN and en per step and outcome, with case placeholders.

Built-in replies follow the service norms of the merchants' manuals (greet, empathise, plain words, never promise
what cannot be kept, thank at the end); a merchant adds its own or overrides one by code and locale.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cases.store import CaseRecord
from ..db import utcnow
from ..errors import Explained
from ..i18n import N_
from .models import ReplyTemplate
from .templates import TemplateError, fill, placeholders

FIELDS = ("number", "customer_name", "order", "state_label", "merchant")
VISIBILITY = ("agents", "hidden")  # offered on the case page | kept in the settings only

# code -> (step, outcome, {locale: (title, body)})
BUILTIN: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "greeting": ("intake", "", {
        "zh-CN": ("问候", "您好{customer_name}，我是售后客服，很高兴为您服务。您的售后单号是 {number}。"),
        "en": ("Greeting", "Hello {customer_name}, thank you for contacting us. Your case number is {number}.")}),
    "need_photos": ("review", "more_info", {
        "zh-CN": ("请补充照片", "非常理解您的心情。为了尽快为您处理，麻烦您补充商品问题部位的照片或视频，谢谢配合！"),
        "en": ("Ask for photos", "I understand how frustrating this is. To help you quickly, could you send a photo "
                                 "or short video of the problem? Thank you!")}),
    "approved_return": ("review", "approved", {
        "zh-CN": ("审核通过（需寄回）", "您的申请 {number} 已审核通过。请按页面提示的地址寄回商品，并在包裹内注明售后单号，"
                                 "寄出后填写物流单号即可。"),
        "en": ("Approved, please return", "Your request {number} is approved. Please send the item to the address "
                                          "shown, with the case number inside, and enter the tracking number.")}),
    "rejected_polite": ("review", "rejected", {
        "zh-CN": ("礼貌驳回", "非常抱歉，您的申请 {number} 暂不符合售后政策，具体原因已在售后单中说明。"
                          "如您愿意，我们可以为您提供维修或换货等其他方案。"),
        "en": ("Polite rejection", "We are sorry: request {number} does not meet the return policy, for the reason "
                                   "stated in the case. We would be glad to offer a repair or an exchange instead.")}),
    "refund_done": ("refund", "resolved", {
        "zh-CN": ("退款完成", "您的退款已原路退回，到账时间以支付渠道为准。感谢您的耐心与支持！"),
        "en": ("Refund sent", "Your refund has been sent back to your original payment method; the time it takes "
                              "to arrive depends on your bank. Thank you for your patience!")}),
    "closing_thanks": ("closing", "", {
        "zh-CN": ("结束语", "感谢您的耐心与理解，祝您生活愉快！如还有其他问题，随时联系我们。"),
        "en": ("Closing", "Thank you for your patience. Have a great day, and contact us any time!")}),
}


def check(title: str, body: str) -> None:
    for part, text in (("title", title), ("body", body)):
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise Explained(part, N_("placeholder {{{name}}} is not allowed"), code="template_placeholder",
                            allowed=list(FIELDS), name=str(exc)) from None
        for name in names:
            if name not in FIELDS:
                raise Explained(part, N_("placeholder {{{name}}} is not a case field"), code="template_placeholder",
                                allowed=list(FIELDS), name=name)


def case_data(case: CaseRecord, locale: str) -> dict:
    from ..cases.views import STATE_LABELS

    customer = (case.customer or {}).get("name") or ""
    return {"number": case.number, "customer_name": customer, "order": case.order_number or "",
            "state_label": STATE_LABELS[case.state][locale], "merchant": case.merchant_code or ""}


def listing(session: Session, merchant_id: int, *, locale: str | None, step: str | None, outcome: str | None,
            case: CaseRecord | None, hidden: bool | None = None) -> list[dict]:
    """The merchant's replies (its own wording over the defaults). Hidden ones are left out where agents pick a
    reply (`case` given, or `hidden=False`); the settings page passes `hidden=True` to list them all."""
    if hidden is None:
        hidden = case is None
    items: dict[tuple[str, str], dict] = {}
    for code, (st, oc, texts) in BUILTIN.items():
        for loc, (title, body) in texts.items():
            items[(code, loc)] = {"code": code, "locale": loc, "step": st, "outcome": oc, "title": title,
                                  "body": body, "source": "default", "visibility": "agents"}
    for r in session.scalars(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id)):
        items[(r.code, r.locale)] = {"code": r.code, "locale": r.locale, "step": r.step, "outcome": r.outcome,
                                     "title": r.title, "body": r.body, "source": "merchant",
                                     "visibility": r.visibility or "agents"}
    result = []
    for item in sorted(items.values(), key=lambda x: (x["step"], x["code"], x["locale"])):
        if (locale and item["locale"] != locale) or (step and item["step"] != step) or \
                (outcome and item["outcome"] != outcome) or (not hidden and item["visibility"] == "hidden"):
            continue
        if case is not None:
            try:
                item["text"] = fill(item["body"], case_data(case, item["locale"]), item["code"])
            except TemplateError:
                item["text"] = None
        result.append(item)
    return result


def save(session: Session, merchant_id: int, *, code: str, locale: str, step: str, outcome: str, title: str,
         body: str, visibility: str | None = None) -> dict:
    row = session.scalar(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id,
                                                     ReplyTemplate.code == code, ReplyTemplate.locale == locale))
    if row is None:
        row = ReplyTemplate(merchant_id=merchant_id, code=code, locale=locale, title=title, body=body)
        session.add(row)
    row.step, row.outcome, row.title, row.body, row.updated_at = step, outcome, title, body, utcnow()
    if visibility is not None:
        row.visibility = visibility
    return {"code": code, "locale": locale, "step": step, "outcome": outcome, "title": title, "body": body,
            "source": "merchant", "visibility": row.visibility or "agents"}


def remove(session: Session, merchant_id: int, code: str) -> int:
    """Deletes the merchant's wording of a reply in every language (a built-in one is back to its default)."""
    rows = list(session.scalars(select(ReplyTemplate).where(ReplyTemplate.merchant_id == merchant_id,
                                                            ReplyTemplate.code == code)))
    for row in rows:
        session.delete(row)
    return len(rows)
