"""The public policy page in the shopper's words: each point's source as a reader knows it (a law by its name in
the reader's language, the shop's own rules as such; internal documents never), and no internal threshold unless
the merchant chose to publish them."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from . import portal
from ..i18n import N_, family, gettext
from .frame import locale_of, render
from .portal_session import _context, _customer, _db
from ..merchants.clock import zone_of
from ..policy import service as policy_service
from ..policy.public import public_dict

router = APIRouter(include_in_schema=False)  # installed after the portal's other routers (pages/__init__.py)

# The laws the presets cite, as an English reader finds them.
LAW_NAMES_EN = {
    "消费者权益保护法实施条例": "Regulations Implementing the Consumer Rights Protection Law",
    "消费者权益保护法": "Consumer Rights Protection Law",
    "网络购买商品七日无理由退货暂行办法": "Interim Measures for Seven-Day No-Reason Returns of Goods Bought Online",
    "部分商品修理更换退货责任规定": "Provisions on Repair, Replacement and Return of Certain Goods",
}
LAWS_WRITTEN_IN = "zh-CN"  # the language the presets cite their laws in
INTERNAL_SECTIONS = ("approval",)  # the amounts approved automatically or by a supervisor: internal thresholds


def source_words(source: str, lang: str) -> str:
    """A point's source for shoppers: the shop's own rules in words, laws by their name, internal notes dropped."""
    if not source or ".md" in source:
        return ""
    if source.startswith("merchant policy"):
        return gettext(lang, N_("Our shop's own rule"))
    if family(lang)[0] == family(LAWS_WRITTEN_IN)[0]:  # a Chinese reader (either script) reads the laws' own names
        text = source.replace("(SAIC Order 90, 2017; SAMR Order 31, 2020)", "(原国家工商总局令第 90 号)")
        text = re.sub(r"\s*\(secondary summaries\)", "", text)
        return "；".join(_zh_citation(part.strip()) for part in text.split(";") if part.strip())
    text = source
    text = re.sub(r"\(国务院令第(\d+)号\)", r"(State Council Decree No. \1)", text)
    for zh, en in LAW_NAMES_EN.items():
        text = text.replace(zh, en)
    text = re.sub(r"\(secondary summaries\)", "", text).strip()
    return "" if re.search(r"[\u4e00-\u9fff]", text) else text  # a law we cannot name in English is left out


def shown_sections(policy: dict[str, Any], lang: str, *, show_thresholds: bool) -> list[dict[str, Any]]:
    """The sections the page shows, each point with its source in words."""
    return [{**section, "items": [{**item, "source_words": source_words(item["source"], lang)}
                                  for item in section["items"]]}
            for section in policy["sections"] if show_thresholds or section["key"] not in INTERNAL_SECTIONS]


def _zh_citation(part: str) -> str:
    """「消费者权益保护法实施条例 (国务院令第778号) Art. 19」 → 《消费者权益保护法实施条例》（国务院令第 778 号）第 19 条."""
    m = re.match(r"([\u4e00-\u9fff]+)\s*(.*)", part)
    if m is None:
        return part
    name, rest = m.groups()
    rest = re.sub(r"\(国务院令第(\d+)号\)", r"（国务院令第 \1 号）", rest)
    rest = re.sub(r"\(([^)]*)\)", r"（\1）", rest)
    rest = re.sub(r"\s*Arts?\.\s*([\d]+)-([\d]+)", r"第 \1–\2 条", rest)
    rest = re.sub(r"\s*Art\.\s*(\d+)", r"第 \1 条", rest)
    return f"《{name}》{rest.strip()}"


# ---- the merchant's public return policy ------------------------------------------------------------------------

@router.get("/p/{merchant_code}/policy")
async def policy_page(merchant_code: str, request: Request):
    """The return policy in plain words, written from the active policy itself (policy/public.py)."""
    lang = locale_of(request)  # every sentence is there in every language of the desk (policy/public_words.py)
    with _db(request).read() as session:
        merchant = portal.merchant_by_code(session, merchant_code)
        row, policy = policy_service.current(session, merchant.id)
        public = public_dict(policy, merchant=merchant.code, merchant_name=merchant.name,
                             version=row.version if row else None, published_at=row.created_at if row else None)
        return render(request, "portal/policy.html", _context(
            merchant, _customer(request, session, merchant), policy=public, lang=lang,
            sections=shown_sections(public, lang, show_thresholds=bool(
                ((merchant.settings or {}).get("policy_page") or {}).get("show_thresholds"))),
            published=public["published_at"].astimezone(zone_of(session, merchant.id)).strftime("%Y-%m-%d")
            if public["published_at"] else None))
