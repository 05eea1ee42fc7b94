"""Notification templates in zh-CN and en with {placeholders}: built in, editable per merchant.

Placeholders are plain names (`{number}`); a template may use only the fields its key documents, so a merchant's
typo is refused when saved, and a message whose data lacks a field fails visibly (and retries) when rendered.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import Explained
from .models import MessageTemplate

LOCALES = ("zh-CN", "en")
CASE = ("number", "state", "state_label")


@dataclass(frozen=True)
class Builtin:
    fields: tuple[str, ...]
    texts: dict[str, tuple[str, str]]  # locale -> (subject, body)


BUILTIN: dict[str, Builtin] = {
    "otp_code": Builtin(("code", "minutes"), {
        "zh-CN": ("您的验证码", "您的验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。"),
        "en": ("Your sign-in code", "Your code is {code}. It is valid for {minutes} minutes. Do not share it.")}),
    "case_opened": Builtin(CASE, {
        "zh-CN": ("售后申请已受理：{number}", "您的售后申请已受理，售后单号 {number}。我们会尽快处理，请留意后续通知。"),
        "en": ("Request received: {number}", "We have received your after-sales request {number} and will keep "
                                             "you posted at every step.")}),
    "case_update": Builtin(CASE, {
        "zh-CN": ("售后进度更新：{number}", "您的售后单 {number} 当前状态：{state_label}。"),
        "en": ("Update on {number}", "Your request {number} is now: {state_label}.")}),
    "case_info_requested": Builtin(CASE + ("message",), {
        "zh-CN": ("请补充资料：{number}", "为了处理您的售后单 {number}，请补充以下资料：{message}"),
        "en": ("More information needed: {number}", "To handle your request {number} we need: {message}")}),
    "case_rejected": Builtin(CASE + ("reason",), {
        "zh-CN": ("售后申请未通过：{number}", "很抱歉，您的售后单 {number} 未能通过审核。原因：{reason}。"
                                       "如有疑问，您可以补充说明或申请平台介入。"),
        "en": ("Request declined: {number}", "We are sorry: request {number} was declined. Reason: {reason}. "
                                             "You may add information or ask the platform to review it.")}),
    "case_message": Builtin(("case", "body"), {
        "zh-CN": ("商家回复：{case}", "关于您的售后单 {case}，商家回复：{body}"),
        "en": ("A reply about {case}", "The shop replied about your request {case}: {body}")}),
    "case_shared": Builtin(("number", "message"), {
        "zh-CN": ("售后进度更新：{number}", "您的售后单 {number}：{message}"),
        "en": ("Update on {number}", "Your request {number}: {message}")}),
    "return_instructions": Builtin(CASE + ("address", "deadline"), {
        "zh-CN": ("请寄回商品：{number}", "请在 {deadline} 前将商品寄回：{address}。请在包裹中注明售后单号 {number}。"),
        "en": ("Please send the item back: {number}", "Please send the item to {address} by {deadline}, with "
                                                      "the case number {number} on the parcel.")}),
    "case_closed": Builtin(CASE, {
        "zh-CN": ("售后已完成：{number}", "您的售后单 {number} 已结案。感谢您的耐心与支持！"),
        "en": ("Request closed: {number}", "Your request {number} is closed. Thank you for your patience!")}),
    "survey_invitation": Builtin(CASE, {
        "zh-CN": ("邀请您评价本次售后服务", "您的售后单 {number} 已完成。请为本次服务打分（1–5 分），您的意见对我们很重要。"),
        "en": ("How did we do?", "Your request {number} is complete. Please rate our service from 1 to 5; "
                                 "your opinion matters to us.")}),
    "staff_reminder": Builtin(("number", "step", "step_zh", "rule", "due_at"), {
        "zh-CN": ("即将超时：{number}", "售后单 {number} 的「{step_zh}」将于 {due_at} 到期（{rule}），请及时处理。"),
        "en": ("Deadline approaching: {number}", "The {step} of case {number} is due at {due_at} ({rule}).")}),
    "staff_escalation": Builtin(("number", "step", "step_zh", "rule", "due_at"), {
        "zh-CN": ("已超时升级：{number}", "售后单 {number} 的「{step_zh}」已于 {due_at} 超时（{rule}），已升级给主管。"),
        "en": ("Escalated: {number}", "The {step} of case {number} missed its deadline at {due_at} ({rule}); "
                                      "it was escalated to you.")}),
    "case_assigned": Builtin(("number", "state_label"), {
        "zh-CN": ("新分配给您：{number}", "售后单 {number}（{state_label}）已分配给您处理。"),
        "en": ("Assigned to you: {number}", "Case {number} ({state_label}) has been assigned to you.")}),
    "advance_exchange_overdue": Builtin(("number", "due_at"), {
        "zh-CN": ("请尽快寄回原商品：{number}", "您的先发后退换货 {number}：换货商品已先行发出，但原商品未在 {due_at} 前寄回。"
                                         "客服将与您联系；如已寄出，请在售后单中填写运单号。"),
        "en": ("Please send the original back: {number}", "Your advance exchange {number}: the replacement was "
               "sent first, but the original did not come back by {due_at}. An agent will contact you; if you have "
               "sent it, please enter the tracking number on the case.")}),
    # Queued by refunds/settle.py when a case's refunds are all paid out.
    "refund_completed": Builtin(("case", "refund", "amount", "currency"), {
        "zh-CN": ("退款已完成：{case}", "您的售后单 {case} 的退款 {amount} {currency} 已原路退回（退款单号 {refund}），"
                                  "到账时间以支付渠道为准。"),
        "en": ("Refund completed: {case}", "The refund of {amount} {currency} for {case} was sent back to your "
               "original payment method (refund {refund}); when it arrives depends on your bank.")}),
    "advance_exchange_charged": Builtin(("number", "amount", "currency"), {
        "zh-CN": ("换货商品已扣款：{number}", "您的先发后退换货 {number} 的原商品未在期限内寄回，已按约定从您的支付账户扣款 "
                                       "{amount} {currency}（换货商品的价款）。如有疑问，请联系客服。"),
        "en": ("Charged for the replacement: {number}", "The original of your advance exchange {number} did not "
               "come back in time, so {amount} {currency} (the replacement's price) was charged to your payment "
               "method as agreed. Contact us if you have any question.")}),
    "advance_exchange_hold_released": Builtin(("number", "amount", "currency"), {
        "zh-CN": ("预授权已释放：{number}", "我们已收到您寄回的原商品，售后单 {number} 的预授权 {amount} {currency} 已释放。"),
        "en": ("Hold released: {number}", "We received the original of {number}; the hold of {amount} {currency} "
               "on your payment method is released.")}),
    "parcel_failed_attempt": Builtin(("case", "carrier", "tracking_number", "direction"), {
        "zh-CN": ("派送未成功：{case}", "售后单 {case} 的包裹（{carrier} {tracking_number}）派送未成功，快递员会再次联系您。"),
        "en": ("Delivery attempt failed: {case}", "The parcel of case {case} ({carrier} {tracking_number}) could "
               "not be delivered; the carrier will try again.")}),
    "parcel_returned_to_sender": Builtin(("case", "carrier", "tracking_number", "direction"), {
        "zh-CN": ("包裹被退回：{case}", "售后单 {case} 的包裹（{carrier} {tracking_number}）已被快递退回寄件人。"),
        "en": ("Parcel returned to sender: {case}", "The parcel of case {case} ({carrier} {tracking_number}) is "
               "being returned to its sender.")}),
    "parcel_lost": Builtin(("case", "carrier", "tracking_number", "direction"), {
        "zh-CN": ("包裹丢失：{case}", "快递公司报告售后单 {case} 的包裹（{carrier} {tracking_number}）丢失，我们会与您联系处理。"),
        "en": ("Parcel lost: {case}", "The carrier reports the parcel of case {case} ({carrier} {tracking_number}) "
               "lost; we will contact you about it.")}),
    "parcel_damaged": Builtin(("case", "carrier", "tracking_number", "direction"), {
        "zh-CN": ("包裹破损：{case}", "快递公司报告售后单 {case} 的包裹（{carrier} {tracking_number}）破损，我们会与您联系处理。"),
        "en": ("Parcel damaged: {case}", "The carrier reports the parcel of case {case} ({carrier} "
               "{tracking_number}) damaged; we will contact you about it.")}),
    "follow_up_due": Builtin(("number", "due_at"), {
        "zh-CN": ("回访任务：{number}", "售后单 {number} 的回访任务已到期（{due_at}）。"),
        "en": ("Follow-up due: {number}", "The follow-up call for case {number} is due ({due_at}).")}),
}


class TemplateError(Exception):
    """A message cannot be rendered: unknown template, or data missing a placeholder."""


def placeholders(text: str) -> list[str]:
    """The {names} a template text uses; refuses anything but plain names ({a.b}, {a[0]}, {a!r}, {a:>5})."""
    names = []
    for _lit, name, spec, conv in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise ValueError(name or "{}")
        names.append(name)
    return names


def check(key: str, locale: str, subject: str, body: str) -> None:
    """Refuses a merchant's template that is unknown or uses a placeholder its key does not provide."""
    if key not in BUILTIN:
        raise Explained("key", f"'{key}' is not a template", f"「{key}」不是通知模板", code="unknown_template",
                        allowed=sorted(BUILTIN), status=404)
    if locale not in LOCALES:
        raise Explained("locale", f"'{locale}' is not supported", f"不支持「{locale}」", allowed=list(LOCALES))
    fields = BUILTIN[key].fields
    for part, text in (("subject", subject), ("body", body)):
        try:
            names = placeholders(text)
        except ValueError as exc:
            raise Explained(part, f"placeholder {{{exc}}} is not allowed: use plain names such as {{number}}",
                            f"占位符 {{{exc}}} 无效：请使用简单名称，例如 {{number}}", code="template_placeholder",
                            allowed=list(fields)) from None
        for name in names:
            if name not in fields:
                raise Explained(part, f"placeholder {{{name}}} is not available in template {key}",
                                f"模板 {key} 中没有占位符 {{{name}}}", code="template_placeholder",
                                allowed=list(fields))


_MERCHANT_TEXT = select(MessageTemplate.subject, MessageTemplate.body).where(
    MessageTemplate.merchant_id == bindparam("merchant_id"), MessageTemplate.key == bindparam("key"),
    MessageTemplate.locale == bindparam("locale"))


def texts(session: Session, merchant_id: int | None, key: str, locale: str) -> tuple[str, str]:
    """(subject, body) of `key` in `locale`: the merchant's wording if it has one, else the built-in text."""
    if key not in BUILTIN:
        raise TemplateError(f"template '{key}' does not exist; known: {', '.join(sorted(BUILTIN))}")
    locale = locale if locale in LOCALES else "zh-CN"
    if merchant_id is not None:
        cache = _batch.get()
        found = cache.get((merchant_id, key, locale), _UNKNOWN) if cache is not None else _UNKNOWN
        if found is _UNKNOWN:
            row = session.connection().execute(_MERCHANT_TEXT, {"merchant_id": merchant_id, "key": key,
                                                                "locale": locale}).first()
            found = (row.subject, row.body) if row is not None else None
            if cache is not None:
                cache[(merchant_id, key, locale)] = found
        if found is not None:
            return found
    return BUILTIN[key].texts[locale]


def cached_texts(merchant_id: int | None, key: str, locale: str) -> tuple[str, str] | None:
    """(subject, body) when `texts` can answer without the database (inside `one_batch`, once looked up)."""
    if key not in BUILTIN:
        return None
    locale = locale if locale in LOCALES else "zh-CN"
    if merchant_id is None:
        return BUILTIN[key].texts[locale]
    cache = _batch.get()
    found = cache.get((merchant_id, key, locale), _UNKNOWN) if cache is not None else _UNKNOWN
    if found is _UNKNOWN:
        return None
    return found if found is not None else BUILTIN[key].texts[locale]


@contextmanager
def one_batch() -> Iterator[None]:
    """Within the block, each merchant's wording of a template is looked up once (the worker's delivery batch: a
    template saved meanwhile applies from the next batch on)."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


_UNKNOWN = object()
_batch: ContextVar[dict | None] = ContextVar("returnflow_template_batch", default=None)


def fill(text: str, data: dict, key: str) -> str:
    """`text` with its placeholders filled from `data`; a missing field is a TemplateError naming it."""
    try:
        names = placeholders(text)
    except ValueError as exc:
        raise TemplateError(f"template {key}: placeholder {{{exc}}} is not a plain name") from None
    missing = [n for n in names if n not in data]
    if missing:
        raise TemplateError(f"template {key} needs {', '.join('{' + n + '}' for n in missing)}; "
                            f"the message data has: {', '.join(sorted(data)) or 'nothing'}")
    return text.format(**{n: data[n] for n in names})


def render(session: Session, merchant_id: int | None, key: str, locale: str, data: dict) -> tuple[str, str]:
    """The (subject, body) of a message; its times read in the merchant's zone, as on the portal and the label."""
    subject, body = texts(session, merchant_id, key, locale)
    data = local_times(session, merchant_id, data)
    return fill(subject, data, key), fill(body, data, key)


def local_times(session: Session, merchant_id: int | None, data: dict) -> dict:
    """`data` with each ISO timestamp (e.g. a deadline) written as 'YYYY-MM-DD HH:MM' in the merchant's zone."""
    from datetime import datetime

    from ..pages.frame import merchant_zone

    zone = None
    out = dict(data)
    for name, value in data.items():
        if not (isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value):
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            continue
        if moment.tzinfo is None:
            continue
        zone = zone or merchant_zone(session, merchant_id)
        out[name] = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return out
