"""Sentences for rules that are merchant settings or process steps rather than law (presets carry the rest)."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

SENTENCE_CONTEXT = "policy"  # the catalogs' context of the policy sentences (pages/catalogs.py extracts them)
MERCHANT = "merchant policy"
PROCESS = "PROCESS.md §2"
# id -> (source, zh, en); {placeholders} are filled per decision
BUILTIN: dict[str, tuple[str, str, str]] = {
    "M.window": (MERCHANT, "本店无理由退货期限至 {end}。", "Our no-reason return window ends {end}."),
    "M.business_day": (MERCHANT, "退货期限原于 {was} 截止，当天为休息日或法定节假日，顺延至下一个工作日 {end}。",
                       "The window would have ended on {was}, a weekend or public holiday; it runs to the next "
                       "business day, {end}."),
    "M.final_sale": (MERCHANT, "该商品为最终销售商品，不支持无理由退货。", "This item is final sale and cannot be returned without a reason."),
    "M.holiday_window": (MERCHANT, "节假日期间购买的商品，退货期限延长至 {end}。", "Bought in the holiday period: returns are accepted until {end}."),
    "M.restocking_fee": (MERCHANT, "按本店政策收取 {percent}% 的重新上架费 {amount}。", "Our policy charges a {percent}% restocking fee of {amount}."),
    "M.keep_item": (MERCHANT, "该商品金额不超过 {max}，无需寄回，您可保留商品。", "The item is worth at most {max}: keep it, no need to send it back."),
    "M.block_customer": (MERCHANT, "该申请需人工审核。", "This request needs a review by our staff."),
    "M.block_sku": (MERCHANT, "该商品的售后申请需人工审核。", "Requests for this item need a review by our staff."),
    "M.allow": (MERCHANT, "您享有本店的优先售后待遇。", "You enjoy our priority after-sales treatment."),
    "M.approval.auto": (MERCHANT, "符合政策，系统自动同意。", "Within the policy: approved automatically."),
    "M.approval.agent": (MERCHANT, "客服将审核您的申请。", "An agent will review your request."),
    "M.approval.amount": (MERCHANT, "金额超过 {limit}，需要主管审批。", "The amount is above {limit}: a supervisor must approve."),
    "M.approval.category": (MERCHANT, "该品类的售后需要主管审批。", "After-sales for this category need a supervisor's approval."),
    "M.approval.risk": (MERCHANT, "该申请需进一步审核。", "This request needs a further review."),
    "M.case_type": (MERCHANT, "咨询和投诉不涉及退换货决定，将由客服处理。", "Inquiries and complaints involve no return decision; an agent will handle them."),
    "M.defect": (MERCHANT, "商品质量问题：收货后 {refund_days} 天内可退货，之后可换货或维修；运费由商家承担。", "Quality problem: refund within {refund_days} days of receipt, exchange or repair after that; we pay the shipping."),
    "M.warranty_over": (MERCHANT, "商品已超过保修期（至 {end}）。", "The warranty ended {end}."),
    "M.shipping": (MERCHANT, "退货运费由{payer_zh}承担。", "Return shipping is paid by {payer_en}."),
    "M.refund": (MERCHANT, "退款将在 {period} 内完成。", "The refund will be made within {period}."),
    "M.response": (MERCHANT, "商家将在 {period} 内处理您的申请。", "We will answer your request within {period}."),
    "M.customer_ship": (MERCHANT, "请在同意后 {period} 内寄回商品。", "Please send the item back within {period} of approval."),
    "M.price_protection": (MERCHANT, "本店不提供价格保护。", "We do not offer price protection."),
    "M.instant_refund": (MERCHANT, "金额不超过 {max}，您寄出退货后即退款。", "Worth at most {max}: refunded as soon as you send the return."),
    "M.instant_refund.refused": (MERCHANT, "本单不适用寄出即退款（{why_zh}），将在收到退货后退款。", "No refund on dispatch for this order ({why_en}); the refund follows once the return arrives."),
    "M.not_received": (PROCESS, "包裹未送达，可补发或退款，无需寄回。", "The parcel did not arrive: we reship or refund, nothing to send back."),
    "P2.fault": (PROCESS, "问题由商家或物流造成，退货运费由商家承担。", "The problem is ours or the carrier's: we pay the return shipping."),
    "P2.insurance": (PROCESS, "您的订单含运费险，退货运费由运费险赔付。", "Your order has return-shipping insurance (运费险): it pays the return postage."),
    "P2.missing": (PROCESS, "少件/漏发由商家补发或退款，无需寄回。", "A missing item is reshipped or refunded; nothing to send back."),
}


def render(value: object, lang: str) -> str:
    """A value as a customer reads it: local time to the minute, amounts as plain decimals, periods in words."""
    if isinstance(value, timedelta):
        hours = int(value.total_seconds() // 3600)
        if hours >= 24 and hours % 24 == 0:
            return f"{hours // 24} 天" if lang == "zh" else f"{hours // 24} days"
        return f"{hours} 小时" if lang == "zh" else f"{hours} hours"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, params: tuple[tuple[str, object], ...], lang: str) -> str:
    """`template` with {placeholders} filled; unknown ones stay visible rather than failing a decision."""
    if "{" not in template:
        return template
    return template.format_map(_Blank({k: render(v, lang) for k, v in params}))


def sentences() -> list[tuple[str, str]]:
    """(where, English sentence) of every built-in and preset sentence, for the catalogs."""
    out = [("policy/texts.py", en) for _source, _zh, en in BUILTIN.values()]
    for path in sorted((Path(__file__).parent / "presets").glob("*.toml")):
        with path.open("rb") as f:
            for citation in tomllib.load(f).get("citations", {}).values():
                if citation.get("en"):
                    out.append((f"policy/presets/{path.name}", citation["en"]))
    return out
