"""Return addresses in the settings: the warehouse's product categories, the regions it serves and its recommended
carriers are chosen from lists (the shop's categories, the regions of the world and of the shop's orders, the
known carriers); a value not on its list is refused naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import phonenumbers
from babel import Locale
from fastapi import APIRouter, Request
from sqlalchemy import select

from ..auth import users
from ..actor import Actor
from ..errors import AppError
from ..i18n import ENGLISH, babel_id, match
from ..labels import category_label
from ..logistics import addresses as logistics
from ..logistics.carriers import CARRIERS
from ..merchants.models import Merchant
from ..orders.models import Category, Order, Product
from . import portal_reach as reach
from .frame import N_, gettext, locale_of, redirect
from .settings_pages import admin_actor, ctx, explain, posted, render, text_of

router = APIRouter(include_in_schema=False)

ADDRESS_TEXT = {"name": 200, "contact": 100, "phone": 40, "address": 1000, "address_en": 1000, "postcode": 20}
ADDRESS_LISTS = ("regions", "categories", "carriers")
ADDRESS_FLAGS = ("is_default", "auto_receive_on_delivery", "active")
NOT_LISTED = {"regions": N_("Regions it serves: “{value}” is not on the list of regions."),
              "categories": N_("Product categories it takes: “{value}” is not one of the shop's categories."),
              "carriers": N_("Recommended carriers: “{value}” is not on the list of carriers.")}


def choices(session, merchant_id: int, locale: str, stored: dict[str, list[str]]) -> dict[str, list[tuple[str, str]]]:
    """(value, words) per list: what the form offers, and all a post may carry. Values the address already has
    stay on offer (in their order) so that re-saving it never fails."""
    carriers = [(c.code, c.name(locale)) for c in CARRIERS.values()]
    named = {row.code: category_label(row, locale)
             for row in session.scalars(select(Category).where(Category.merchant_id == merchant_id))}
    for code in session.scalars(select(Product.category).where(Product.merchant_id == merchant_id,
                                                                Product.category.is_not(None)).distinct()):
        named.setdefault(code, code)
    categories = sorted(named.items(), key=lambda kv: kv[1])
    territories = Locale.parse(babel_id(match(locale) or ENGLISH)).territories
    world = {r: territories.get(r, r) for r in phonenumbers.SUPPORTED_REGIONS if r != "001"}
    own = [c for c in session.scalars(select(Order.country).where(Order.merchant_id == merchant_id,
                                                                  Order.country.is_not(None)).distinct()) if c]
    regions = [(c, world.get(c, c)) for c in sorted(own)] + \
        sorted(((c, n) for c, n in world.items() if c not in own), key=lambda kv: kv[1])
    offered = {"carriers": carriers, "categories": categories, "regions": regions}
    for name, values in stored.items():  # the address's own values first, in their order
        words = dict(offered[name])
        kept = [(v, words.get(v, v)) for v in values]
        offered[name] = kept + [(v, w) for v, w in offered[name] if v not in values]
    return offered


def _address_values(row) -> dict[str, Any]:
    values: dict[str, Any] = {"code": row.code}
    values.update({k: getattr(row, k) or "" for k in ADDRESS_TEXT})
    values.update({k: list(getattr(row, k) or []) for k in ADDRESS_LISTS})
    values.update({k: bool(getattr(row, k)) for k in ADDRESS_FLAGS})
    return values


def _stored(session, merchant_id: int, code: str) -> dict[str, list[str]]:
    row = next((r for r in logistics.list_addresses(session, merchant_id=merchant_id) if r.code == code), None)
    return {k: list(getattr(row, k) or []) for k in ADDRESS_LISTS} if row is not None else {}


def _addresses_page(request: Request, actor: Actor, *, status: int = 200, values: dict | None = None, **more: Any):
    locale = locale_of(request)
    values = values or {"active": True}
    with request.app.state.db.read() as session:
        rows = logistics.list_addresses(session, merchant_id=actor.merchant_id)
        more.setdefault("shop", reach.shop_contact(session.get(Merchant, actor.merchant_id)))
        lists = choices(session, actor.merchant_id, locale, _stored(session, actor.merchant_id,
                                                                     values.get("code") or ""))
    words = {name: dict(options) for name, options in lists.items()}
    return render(request, "staff/settings/addresses.html", ctx(
        actor, "addresses", rows=rows, lists=lists, words=words, carrier_names=words["carriers"],
        values=values, **more), status=status)


@router.get("/staff/settings/addresses")
async def addresses_page(request: Request, edit: str = ""):
    actor = admin_actor(request)
    values = None
    if edit:
        with request.app.state.db.read() as session:
            row = next((r for r in logistics.list_addresses(session, merchant_id=actor.merchant_id)
                        if r.code == edit), None)
        values = _address_values(row) if row is not None else None
    return _addresses_page(request, actor, values=values, editing=values is not None)


def _picked(form, name: str) -> list[str]:
    """The values chosen in a list (several boxes, or one comma-separated text from an API-like client)."""
    found: list[str] = []
    for raw in form.getlist(name):
        for value in str(raw).replace("，", ",").split(","):
            value = value.strip()[:60]
            if value and value not in found:
                found.append(value)
    return found[:300]


@router.post("/staff/settings/addresses")
async def address_save(request: Request):
    actor = admin_actor(request)
    locale = locale_of(request)
    form = await posted(request, max_fields=400)
    values: dict[str, Any] = {"code": text_of(form, "code", 60)}
    values.update({k: text_of(form, k, 1200) for k in ADDRESS_TEXT})
    values.update({k: _picked(form, k) for k in ADDRESS_LISTS})
    values.update({k: form.get(k) == "on" for k in ADDRESS_FLAGS})
    code = values["code"]
    errors: dict[str, str] = {}
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 40 or not code.isascii():
        errors["code"] = N_("Use letters, digits, - and _ (at most 40).")
    for name in ("name", "address"):
        if not values[name]:
            errors[name] = N_("This field is required.")
    for name, limit in ADDRESS_TEXT.items():
        if len(values[name]) > limit and name not in errors:
            errors[name] = N_("This text is too long.")
    with request.app.state.db.read() as session:
        known = choices(session, actor.merchant_id, locale, _stored(session, actor.merchant_id, code))
    for name in ADDRESS_LISTS:
        allowed = {v for v, _ in known[name]}
        unknown = [v for v in values[name] if v not in allowed]
        if unknown:
            errors[name] = gettext(locale, NOT_LISTED[name]).format(value=unknown[0])
    if errors:
        return _addresses_page(request, actor, status=422, values=values, errors=errors)
    data = {k: values[k] for k in ADDRESS_TEXT}
    data.update({k: values[k] for k in ADDRESS_LISTS})
    data.update({k: values[k] for k in ADDRESS_FLAGS})
    try:
        with request.app.state.db.transaction() as session:
            logistics.save_address(session, actor=actor, code=code, data=data)
            users.record(session, actor, merchant_id=actor.merchant_id, action="address.save", target=code)
    except AppError as exc:
        found = explain(exc, locale)
        errors = {k.split("[")[0]: v for k, v in found.items()}
        return _addresses_page(request, actor, status=exc.status, values=values, errors=errors)
    return redirect(request, "/staff/settings/addresses", flash="address_saved")
